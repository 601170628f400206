"""pytest plugin (entry point ``pytest11``) giving any project lpbot's fixtures."""

from __future__ import annotations

__all__: list[str] = []

"""Public helpers for testing lpbot bots and plugins against the sandbox."""

from __future__ import annotations

__all__: list[str] = []

"""The consumer Messaging Window API as typed, immutable Python objects."""

from __future__ import annotations

__all__: list[str] = []

"""A local server that speaks LivePerson's consumer messaging protocol."""

from __future__ import annotations

__all__: list[str] = []

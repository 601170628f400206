"""The consumer client: discovery, identity, connection, conversations."""

from __future__ import annotations

__all__: list[str] = []

"""Plugins bundled with lpbot, installed as the ``lpbot_plugins`` package."""

from __future__ import annotations

__all__: list[str] = []

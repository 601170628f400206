"""The sandbox's agent console: a web page at ``/console`` where a person plays the agent.

Mounted on the sandbox's HTTP port by :class:`lpbot.sandbox.Sandbox`; see :mod:`.app` for the
routes and :mod:`.feed` for the live updates (server-sent events).
"""

from __future__ import annotations

from .app import Console

__all__ = ["Console"]

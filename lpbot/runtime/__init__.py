"""The runtime: configuration, the bot, its dispatcher, scheduler, plugin manager and daemon.

It stands on :mod:`lpbot.client` and :mod:`lpbot.protocol` and is what ``lpbot run`` starts.
The public names are re-exported from :mod:`lpbot`; import from there.
"""

from __future__ import annotations

__all__: list[str] = []

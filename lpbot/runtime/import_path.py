"""Where the commands import a config's own modules from: its folder, then the current folder.

A config names modules by import path: plugin modules (``[plugins] modules``), ``call`` jobs'
``ref`` and ``[account] token_function``. The ``lpbot`` script, unlike ``python -m``, does not
put the current folder on :data:`sys.path`, so a ``myplugin.py`` beside the config was not found
without ``PYTHONPATH=.``. :func:`add_config_folders` puts two folders first on :data:`sys.path`:

1. the folder of the config file, the anchor its relative paths already use (``flow =
   "flow.toml"``), as pytest anchors ``conftest.py`` files at their own folders: the config and
   its modules move together, whatever folder the command runs from;
2. the current folder, as ``python -m lpbot`` would.

Only the commands do it (``lpbot run``, ``check-config``, ``plugins``, ``synth``): they own their
process. A :class:`~lpbot.Bot` used as a library leaves :data:`sys.path` to its application.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["add_config_folders"]


def add_config_folders(config: Path | None) -> list[str]:
    """Put ``config``'s folder, then the current folder, first on ``sys.path``; idempotent.

    Args:
        config: The config file the command reads, or ``None`` for the embedded default (then
            only the current folder is added).

    Returns:
        The folders added (those already on the path, such as the current folder under
        ``python -m``, are left where they are).
    """
    folders = [os.path.abspath(os.curdir)]
    if config is not None:
        folders.insert(0, str(Path(config).absolute().parent))
    present = {os.path.abspath(entry or os.curdir) for entry in sys.path}
    added = [folder for folder in dict.fromkeys(folders) if folder not in present]
    sys.path[0:0] = added
    return added

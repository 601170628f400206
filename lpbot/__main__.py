"""``python -m lpbot``: the same as the ``lpbot`` command."""

from __future__ import annotations

import sys

from lpbot.cli import main

__all__: list[str] = []

if __name__ == "__main__":
    sys.exit(main())

"""A griffe extension: lpbot's docstrings, written for Sphinx as much as Google style, in Markdown.

The docstrings use Google sections (``Args:``, ``Returns:``), reST roles (``:class:`Bot```) and
reST literal blocks (``Example::`` and an indented block). mkdocstrings renders Markdown, where
the roles would show as ``:class:`` text and the literal blocks run into one paragraph, so this
turns a role into inline code and a literal block into a fenced one. The source stays as it is,
readable by ``help()`` and any other tool. Neither of griffe's parsers reads this mix (the Google
one keeps the roles as text, the Sphinx one reads no ``Args:`` section), hence these few lines.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

#: ``:class:`~lpbot.bot.Bot``` and the like; ``~`` keeps only the last name, as Sphinx does
ROLE = re.compile(r":(?:class|meth|func|data|mod|attr|exc|obj|const):`(~?)([^`]+)`")

#: section titles the Google parser reads, so that "Example::" stays a section
SECTIONS = {"Example", "Examples"}


def _role(match: re.Match[str]) -> str:
    target = match.group(2)
    return f"`{target.rsplit('.', 1)[-1] if match.group(1) else target}`"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def markdown(text: str) -> str:
    """A docstring's reST roles as inline code and its literal blocks as fenced code."""
    lines = ROLE.sub(_role, text).split("\n")
    out: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if not line.rstrip().endswith("::"):
            out.append(line)
            continue
        head = line.rstrip()[:-1]
        # the block: the indented lines after a blank one, and the blank lines between them
        start = index
        while index < len(lines) and not lines[index].strip():
            index += 1
        block: list[str] = []
        while index < len(lines) and (not lines[index].strip()
                                      or _indent(lines[index]) > _indent(line)):
            block.append(lines[index])
            index += 1
        while block and not block[-1].strip():
            block.pop()
            index -= 1
        if not block:
            out.append(line)
            index = start
            continue
        section = head.strip().rstrip(":") in SECTIONS
        margin = min(_indent(item) for item in block if item.strip())
        fence = " " * (margin if section else _indent(line))
        out.append(head if head.strip() != ":" else "")
        out.append("")
        out.append(f"{fence}```")
        out.extend(fence + item[margin:] if item.strip() else "" for item in block)
        out.append(f"{fence}```")
    return "\n".join(out)


class RestDocstrings(griffe.Extension):
    """Rewrite every docstring to Markdown before mkdocstrings parses it."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Rewrite ``obj``'s own docstring (aliases share their target's)."""
        if obj.docstring is not None:
            obj.docstring.value = markdown(obj.docstring.value)

"""What an agent sent, as a synthetic consumer sees it: text, quick replies, cards, files.

:func:`received` turns a messaging event into a :class:`Received` message with the parts the
scenario steps match (protocol notes §5.8.1-3): the text, the quick replies offered on it, the
structured content's element types, titles and buttons, a hosted file. Buttons keep what a
click must send back (§5.8.6): the text of their ``publishText`` action and their metadata.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from lpbot.protocol.events import ContentEvent, RichContentEvent
from lpbot.protocol.notifications import MessagingEvent

__all__ = ["Button", "FileInfo", "Received", "received"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Button:
    """A quick reply or a structured-content button."""

    title: str
    #: the text a click publishes (``publishText``), ``None`` for link/navigate buttons
    text: str | None
    metadata: tuple[Mapping[str, Any], ...] = ()
    url: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FileInfo:
    """A hosted file an agent sent (§5.8.2)."""

    relative_path: str
    file_type: str
    caption: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Received:
    """One agent message: ``kind`` is ``text``, ``rich`` or ``file``.

    ``text`` is the message (text kind), the structured content's texts joined by newlines
    (rich), or the caption (file); ``quick_replies`` the quick replies of a text; ``buttons``,
    ``types`` and ``titles`` what structured content holds, in document order.
    """

    kind: str
    sequence: int
    dialog_id: str
    at: float
    text: str = ""
    quick_replies: tuple[Button, ...] = ()
    buttons: tuple[Button, ...] = ()
    types: tuple[str, ...] = ()
    titles: tuple[str, ...] = ()
    file: FileInfo | None = None

    def thin(self) -> Received:
        """This message without its buttons and structure, once no step can use them."""
        return Received(kind=self.kind, sequence=self.sequence, dialog_id=self.dialog_id,
                        at=self.at, text=self.text, file=self.file)

    @property
    def clickable(self) -> tuple[Button, ...]:
        """The quick replies and buttons a consumer can press, in order."""
        return self.quick_replies + self.buttons

    def describe(self) -> str:
        """A one-line rendering for transcripts and failure messages."""
        if self.kind == "file" and self.file is not None:
            return f"[file {self.file.file_type} {self.file.caption!r}]"
        if self.kind == "rich":
            parts = [f"[{'/'.join(dict.fromkeys(self.types))}]"]
            if self.titles:
                parts.append(" | ".join(self.titles))
            if self.buttons:
                parts.append("buttons: " + ", ".join(b.title for b in self.buttons))
            return " ".join(parts)
        if self.quick_replies:
            return (f"{self.text} [quick replies: "
                    f"{', '.join(b.title for b in self.quick_replies)}]")
        return self.text


def _button(element: Mapping[str, Any]) -> Button:
    title = element.get("title")
    click = element.get("click")
    actions = click.get("actions") if isinstance(click, Mapping) else None
    metadata = click.get("metadata") if isinstance(click, Mapping) else None
    text = url = None
    for action in actions if isinstance(actions, list) else ():
        if not isinstance(action, Mapping):
            continue
        if action.get("type") == "publishText" and isinstance(action.get("text"), str):
            text = action["text"]
        elif action.get("type") == "link" and isinstance(action.get("uri"), str):
            url = action["uri"]
    return Button(title=title if isinstance(title, str) else str(text or ""), text=text,
                  url=url, metadata=tuple(m for m in metadata if isinstance(m, Mapping))
                  if isinstance(metadata, list) else ())


#: how deep structured content is read (the documented cards nest two or three levels)
MAX_DEPTH = 16


def _walk(element: Any, depth: int = 0) -> Iterator[Mapping[str, Any]]:
    if not isinstance(element, Mapping) or depth > MAX_DEPTH:
        return
    yield element
    children = element.get("elements")
    for child in children if isinstance(children, list) else ():
        yield from _walk(child, depth + 1)


def received(event: MessagingEvent, at: float) -> Received | None:
    """The :class:`Received` message of an agent's event, ``None`` for receipts and states."""
    body = event.event
    sequence = event.sequence
    if sequence is None:
        return None
    if isinstance(body, ContentEvent):
        file = body.file
        if file is not None:
            info = FileInfo(relative_path=file.relative_path, file_type=file.file_type,
                            caption=file.caption or "")
            return Received(kind="file", sequence=sequence, dialog_id=event.dialog_id, at=at,
                            text=info.caption, file=info)
        if body.text is None:
            return None
        quick = body.quick_replies
        replies = quick.get("replies") if quick is not None else None
        return Received(
            kind="text", sequence=sequence, dialog_id=event.dialog_id, at=at, text=body.text,
            quick_replies=tuple(_button(r) for r in replies if isinstance(r, Mapping))
            if isinstance(replies, list) else ())
    if isinstance(body, RichContentEvent):
        types: list[str] = []
        titles: list[str] = []
        texts: list[str] = []
        buttons: list[Button] = []
        for element in _walk(body.content):
            kind = element.get("type")
            if isinstance(kind, str):
                types.append(kind)
            if kind == "button":
                buttons.append(_button(element))
            elif kind == "text" and isinstance(element.get("text"), str):
                texts.append(element["text"])
                titles.append(element["text"])
            elif isinstance(element.get("title"), str):
                titles.append(element["title"])
        return Received(kind="rich", sequence=sequence, dialog_id=event.dialog_id, at=at,
                        text="\n".join(texts), buttons=tuple(buttons), types=tuple(types),
                        titles=tuple(titles))
    return None

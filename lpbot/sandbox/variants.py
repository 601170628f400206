"""Which of LivePerson's documented spellings and shapes a connection receives (§4.4, §6, §9).

LivePerson's own material shows the same message in several forms. A client that passes only
against one of them may fail against the real service, so the sandbox picks, per connection, a
:class:`WireStyle`: one choice on each dimension below. ``canonical`` is the tutorials' form (the
short v3 names, a ``participants`` list, every response with ``kind``); ``legacy`` is the other
documented form on every dimension; ``random`` draws each dimension per connection from a seeded
generator, so a run is reproduced by its seed (``LPBOT_WIRE_SEED`` in the environment, or
``Sandbox(seed=...)``, ``lpbot sandbox --seed``).
"""

from __future__ import annotations

import itertools
import logging
import os
import random
import secrets
import threading
from dataclasses import dataclass, fields
from typing import Final

__all__ = [
    "CANONICAL",
    "CONVERSATION_SPELLINGS",
    "LEGACY",
    "MODES",
    "SEED_VARIABLE",
    "WireStyle",
    "WireVariants",
]

log = logging.getLogger(__name__)

#: the three spellings of the conversation notification (§4.4, §6.1 Example B, §9)
CONVERSATION_SPELLINGS: Final = (
    "cqm.ExConversationChangeNotification",
    "aam.ExConversationChangeNotification",
    ".ams.aam.ExConversationChangeNotification",
)
MODES: Final = ("canonical", "legacy", "random")
#: environment variable that seeds ``random`` when no seed is given
SEED_VARIABLE: Final = "LPBOT_WIRE_SEED"


@dataclass(frozen=True, slots=True, kw_only=True)
class WireStyle:
    """One connection's choice on every documented variant of what the sandbox sends.

    Attributes:
        conversation_type: the conversation notification's type spelling (§4.4).
        participants_map: ``participantsPId`` (role -> ids) instead of the ``participants``
            list, and dialogs' older bare ``participants`` id list (§6.1 Examples A and D).
        online_distribution: live events as single-event ``.ams.ms.OnlineEventDistribution``
            bodies with ``originatorPId`` (§6.3); subscription replays stay batches.
        kindless: the success responses to ``cm.UpdateConversationField`` and the generate-URL
            requests as their API-reference examples show them: no ``kind`` (§5.4, §5.9).
        delay_fields: ``delay`` and ``manualETTR`` in ``conversationDetails`` (§6.1 Example B).
        string_response: ``StringResponse`` (PCS capture) instead of ``.ReqBody$StringResp``.
        bare_subscribe_response: ``.ams.GenericSubscribeResponse`` without a body instead of
            ``GenericSubscribeResponse`` with ``{}`` (§5.7).
        base_generate_url: ``ms.BaseGenerateURLResponse`` (tutorial captures, §5.9).
        no_originator_metadata: changes without ``originatorMetadata`` (§6.2's first example);
            a client finds the role among the conversation's participants.
        background: when the socket closes, a ``BACKGROUND`` chat state is published for the
            consumer in the dialogs it followed (§5.8.5, §9).
        rich_content_message: a rich content card under ``message`` (the schema's key) instead
            of ``content`` (real traffic), §5.8.3, §9.
        hosted_file_schema: a hosted file's ``contentType`` spelled ``HostedFile`` (the schema)
            instead of ``hosted/file`` (tutorials), §5.8.2, §9.
        qualified_response_types: the fully qualified response names LivePerson's SDKs see
            (``.ams.ms.PublishEvent$Response``, ``.ams.aam.SubscribeExConversations$Response``,
            ``.ams.GenericSubscribe$Response``, §4.4): a client correlates by ``reqId`` alone.
    """

    conversation_type: str = CONVERSATION_SPELLINGS[0]
    participants_map: bool = False
    online_distribution: bool = False
    kindless: bool = False
    delay_fields: bool = False
    string_response: bool = False
    bare_subscribe_response: bool = False
    base_generate_url: bool = False
    no_originator_metadata: bool = False
    background: bool = False
    rich_content_message: bool = False
    hosted_file_schema: bool = False
    qualified_response_types: bool = False

    def describe(self) -> str:
        """A short text naming every non-canonical choice ("canonical" when there is none)."""
        names = [f.name for f in fields(self) if f.name != "conversation_type"
                 and getattr(self, f.name)]
        if self.conversation_type != CANONICAL.conversation_type:
            names.insert(0, self.conversation_type.split("Ex")[0] or self.conversation_type)
        return ", ".join(names) or "canonical"


CANONICAL: Final = WireStyle()
LEGACY: Final = WireStyle(
    conversation_type=CONVERSATION_SPELLINGS[2],
    participants_map=True,
    online_distribution=True,
    kindless=True,
    delay_fields=True,
    string_response=True,
    bare_subscribe_response=True,
    base_generate_url=True,
    no_originator_metadata=True,
    background=True,
    rich_content_message=True,
    hosted_file_schema=True,
    qualified_response_types=True,
)
_FLAGS: Final = tuple(f.name for f in fields(WireStyle) if f.name != "conversation_type")


def _seed_from_environment() -> int:
    raw = os.environ.get(SEED_VARIABLE, "").strip()
    if raw:
        try:
            return int(raw)
        except ValueError:
            log.warning("%s=%r is not an integer; choosing a seed", SEED_VARIABLE, raw)
    return secrets.randbelow(2**31)


class WireVariants:
    """Hands each new connection its :class:`WireStyle` (any thread).

    In ``random`` mode connection number *n* of a sandbox draws from ``Random(f"{seed}:{n}")``,
    so the same seed gives the same styles to the same connections, in the order they connect.
    """

    def __init__(self, mode: str = "random", seed: int | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"wire variants must be one of {', '.join(MODES)}, not {mode!r}")
        self.mode = mode
        self.seed = _seed_from_environment() if seed is None else seed
        self._count = itertools.count()
        self._lock = threading.Lock()

    def next_style(self) -> WireStyle:
        """The style of the next connection."""
        if self.mode == "canonical":
            return CANONICAL
        if self.mode == "legacy":
            return LEGACY
        with self._lock:
            number = next(self._count)
        rng = random.Random(f"{self.seed}:{number}")  # variety, not secrecy
        conversation_type = rng.choice(CONVERSATION_SPELLINGS)
        flags = {name: rng.random() < 0.5 for name in _FLAGS}
        return WireStyle(conversation_type=conversation_type, **flags)

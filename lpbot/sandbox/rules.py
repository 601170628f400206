"""The sandbox's semantic rules: what LivePerson documents, enforced unless ``lenient``.

Parsing (is it JSON, an object, an id, a type) happens before these rules; they decide whether a
well-formed request means something LivePerson documents: enum values, required fields and their
types, and the order of things (CSAT after the close and never after a survey, InitConnection
once). Each rule is a :class:`Rule` in :data:`RULES`, the single source of the table in
``docs/sandbox-rules.md`` (:func:`markdown_table`); :class:`Rules` applies them. A sandbox made
with ``lenient=True`` skips every rule here and behaves as before they existed.

Run ``python -m lpbot.sandbox.rules`` to print the table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeGuard

from lpbot.protocol.names import AcceptStatus, ChatState

from .model import Refused

__all__ = [
    "CHAT_STATES",
    "CLIENT_PROPERTY_ENUMS",
    "CONTENT_TYPES",
    "HOSTED_FILE_TYPES",
    "QUERY_PROPERTY_NAMES",
    "RULES",
    "UPLOAD_FILE_TYPES",
    "Rule",
    "Rules",
    "markdown_table",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """One documented constraint: what is checked, where it is written, what a client gets."""

    name: str
    section: str
    checks: str
    answer: str
    code: int


def _rule(name: str, section: str, checks: str, code: int, answer: str = "") -> Rule:
    default = f"response `code` {code}, `.ReqBody$StringResp`, string body"
    return Rule(name=name, section=section, checks=checks, answer=answer or default, code=code)


#: every rule, in the order of the protocol notes' sections; the docs' table is generated from it
RULES: Final[tuple[Rule, ...]] = (
    _rule("authorization-scheme", "§3.2",
          "the `Authorization` header's scheme is the lowercase literal `jwt` (not `JWT`, "
          "`Jwt`, `Bearer`)", 401, "HTTP 401 to the upgrade"),
    _rule("query-client-properties", "§3.1, §10",
          "no client properties in the URL query (`clientProperties`, `ClientProperties`, "
          "`features`): their encoding is not documented", 400, "HTTP 400 to the upgrade"),
    _rule("client-properties", "§7.8",
          "client properties carry `type`; `deviceFamily`, `os` and `integration` hold a "
          "documented value; `appId` has at most 64 characters, `appVersion` at most 32", 400,
          "HTTP 400 to the upgrade (header) or response `code` 400 (InitConnection)"),
    _rule("init-once", "§3.3, §5.1",
          "InitConnection is sent once, and only when no `Authorization` header was used", 400),
    _rule("request-id", "§4.1",
          "a request `id` has 1 to 64 characters", 400),
    _rule("metadata", "§4.3",
          "each request `metadata` item is an object with a string `type`; `ExternalId` has an "
          "`id` and `ActionReason` a `reasonId` and `reason`, strings of at most 64 characters",
          400),
    _rule("skill-id", "§5.3",
          "`skillId` of `cm.ConsumerRequestConversation` is a string (`\"-1\"` for any skill)",
          400),
    _rule("integer-fields", "§5.5, §5.7",
          "`fromSeq` and `minLastUpdatedTime` are JSON integers, not strings", 400),
    _rule("subscription-filter", "§5.5",
          "`convState` and `stage` filters hold only `OPEN` and `CLOSE`", 400),
    _rule("csat-required", "§5.4.4",
          "`CSATRate` carries `csatRate` (integer 1-5), `csatResolutionConfirmation` (boolean) "
          "and `status` (`FILLED`, `PARTIALLY_FILLED`, `SKIPPED`), all required", 400),
    _rule("csat-not-after-survey", "§5.4.4, §7.7",
          "no CSAT for a conversation that ran a post-conversation survey: never both", 400),
    _rule("content-type", "§5.8.1, §5.8.2, §9",
          "a `ContentEvent`'s `contentType` is `text/plain` or `hosted/file` (`HostedFile`, "
          "the schema's spelling, is accepted too)", 400),
    _rule("hosted-file", "§5.8.2",
          "a hosted file's `message` has `caption`, `relativePath` and `fileType` (one of "
          "`IMG`, `JPG`, `PNG`, `GIF`, `TXT`, `PDF`); `preview` is under 30 KB", 400),
    _rule("rich-content", "§5.8.3",
          "a `RichContentEvent`'s card is an object with a `type`", 400),
    _rule("accept-status", "§5.8.4",
          "`status` is `ACCEPT`, `READ`, `ACCESS`, `NACK` or `ACTION`", 400),
    _rule("receipt-sequences", "§5.8.4, §7.4",
          "`sequenceList` names sequences the dialog already has", 400),
    _rule("chat-state", "§5.8.5",
          "`chatState` is `ACTIVE`, `INACTIVE`, `GONE`, `COMPOSING` or `PAUSE` (not `PAUSED`; "
          "`BACKGROUND` is the server's own)", 400),
    _rule("messaging-dialog", "§6.1, §7.3",
          "content is published only to a messaging dialog (not to a CoBrowse, voice or video "
          "dialog)", 400),
    _rule("upload-file-type", "§5.9",
          "`fileType` of an upload is `JPG`, `JPEG`, `PNG` or `GIF`", 400),
)
_BY_NAME: Final[Mapping[str, Rule]] = {rule.name: rule for rule in RULES}

CHAT_STATES: Final = frozenset(s.value for s in ChatState if s is not ChatState.BACKGROUND)
ACCEPT_STATUSES: Final = frozenset(s.value for s in AcceptStatus)
CSAT_STATUSES: Final = frozenset({"FILLED", "PARTIALLY_FILLED", "SKIPPED"})
CONTENT_TYPES: Final = frozenset({"text/plain", "hosted/file", "HostedFile"})
HOSTED_FILE_TYPES: Final = frozenset({"IMG", "JPG", "PNG", "GIF", "TXT", "PDF"})
UPLOAD_FILE_TYPES: Final = frozenset({"JPG", "JPEG", "PNG", "GIF"})
MAX_PREVIEW: Final = 30 * 1024
#: query parameters today's clients invented for client properties (protocol notes §3.1, §10)
QUERY_PROPERTY_NAMES: Final = frozenset({"clientProperties", "ClientProperties", "features"})
CLIENT_PROPERTY_ENUMS: Final[Mapping[str, frozenset[str]]] = {
    "deviceFamily": frozenset({"DESKTOP", "TABLET", "MOBILE", "OTHER"}),
    "os": frozenset({"WINDOWS", "LINUX", "OSX", "ANDROID", "IOS", "OTHER"}),
    "integration": frozenset({"WEB_SDK", "MOBILE_SDK", "BRAND_SDK"}),
}
_PROPERTY_LENGTHS: Final = {"appId": 64, "appVersion": 32}
_FILTER_STATES: Final = frozenset({"OPEN", "CLOSE"})
_METADATA_FIELDS: Final[Mapping[str, tuple[str, ...]]] = {
    "ExternalId": ("id",),
    "ActionReason": ("reasonId", "reason"),
}


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


class Rules:
    """Applies :data:`RULES` to requests; with ``lenient`` every check passes."""

    def __init__(self, *, lenient: bool = False) -> None:
        self.lenient = lenient

    def violation(self, name: str, detail: str) -> Refused | None:
        """The refusal for breaking rule ``name``, or None when lenient."""
        if self.lenient:
            return None
        rule = _BY_NAME[name]
        return Refused(rule.code, f"{detail} (protocol notes {rule.section}, rule {name})")

    def require(self, name: str, ok: bool, detail: str) -> None:
        """Raise the refusal of rule ``name`` unless ``ok`` (or lenient)."""
        if not ok:
            refused = self.violation(name, detail)
            if refused is not None:
                raise refused

    # -- connection ---------------------------------------------------------------------------

    def upgrade(
        self, authorization: str | None, query: Mapping[str, list[str]]
    ) -> Refused | None:
        """The refusal of an upgrade's ``Authorization`` scheme or query, if any (HTTP status)."""
        if authorization is not None and authorization.partition(" ")[0] != "jwt":
            return self.violation(
                "authorization-scheme", "expected 'Authorization: jwt <token>' in lowercase"
            )
        invented = sorted(QUERY_PROPERTY_NAMES & query.keys())
        if invented:
            return self.violation(
                "query-client-properties",
                f"query parameter {invented[0]} is not a documented way to send client "
                "properties; use the Client-Properties header or InitConnection",
            )
        return None

    def client_properties(self, properties: Mapping[str, Any]) -> Refused | None:
        """The refusal of client properties that break the schema (§7.8), if any."""
        if not isinstance(properties.get("type"), str):
            return self.violation("client-properties", "client properties need a type")
        for name, allowed in CLIENT_PROPERTY_ENUMS.items():
            value = properties.get(name)
            if value is not None and value not in allowed:
                return self.violation(
                    "client-properties",
                    f"{name} {value!r} is not one of {', '.join(sorted(allowed))}",
                )
        for name, limit in _PROPERTY_LENGTHS.items():
            value = properties.get(name)
            if value is not None and (not isinstance(value, str) or len(value) > limit):
                return self.violation(
                    "client-properties", f"{name} must be a string of at most {limit} characters"
                )
        return None

    def request_id(self, req_id: str) -> None:
        """Request ids have 1-64 characters (§4.1)."""
        self.require("request-id", len(req_id) <= 64, "request id longer than 64 characters")

    def metadata(self, items: list[Any]) -> None:
        """Request-level metadata items have the schema's shape (§4.3)."""
        for item in items:
            kind = item.get("type") if isinstance(item, Mapping) else None
            self.require("metadata", isinstance(kind, str), "a metadata item needs a type")
            if not isinstance(item, Mapping):
                continue  # lenient: dropped, as before
            for name in _METADATA_FIELDS.get(str(kind), ()):
                value = item.get(name)
                self.require(
                    "metadata", isinstance(value, str) and 0 < len(value) <= 64,
                    f"{kind} metadata needs {name}, a string of 1 to 64 characters",
                )

    def skill_id(self, value: Any) -> None:
        """``skillId`` is a string (§5.3)."""
        self.require(
            "skill-id", value is None or isinstance(value, str), "skillId must be a string"
        )

    def integer(self, value: Any, name: str) -> None:
        """``value`` (when present) is a JSON integer, as the schema types it."""
        self.require(
            "integer-fields", value is None or _is_int(value), f"{name} must be a JSON integer"
        )

    def subscription_filter(self, name: str, values: list[Any] | None) -> None:
        """``convState`` / ``stage`` hold OPEN and CLOSE only (§5.5)."""
        ok = values is None or all(v in _FILTER_STATES for v in values)
        self.require("subscription-filter", ok, f"{name} must hold OPEN or CLOSE")

    # -- conversation fields --------------------------------------------------------------------

    def csat(self, field: Mapping[str, Any], *, survey_ran: bool) -> None:
        """A CSATRate has every required field (§5.4.4) and no survey ran before it (§7.7)."""
        rate = field.get("csatRate")
        self.require(
            "csat-required", _is_int(rate) and 1 <= rate <= 5,
            "csatRate must be an integer from 1 to 5",
        )
        self.require(
            "csat-required", isinstance(field.get("csatResolutionConfirmation"), bool),
            "csatResolutionConfirmation (a boolean) is required",
        )
        self.require(
            "csat-required", field.get("status") in CSAT_STATUSES,
            f"status is required, one of {', '.join(sorted(CSAT_STATUSES))}",
        )
        self.require(
            "csat-not-after-survey", not survey_ran,
            "this conversation ran a post-conversation survey; CSAT and the survey never both",
        )

    # -- events ---------------------------------------------------------------------------------

    def event(self, event: Mapping[str, Any], *, next_sequence: int, messaging: bool) -> None:
        """A published event uses documented values (§5.8) in a dialog that takes it."""
        kind = event.get("type")
        if kind in ("ContentEvent", "RichContentEvent"):
            self.require(
                "messaging-dialog", messaging, "this dialog is not a messaging dialog"
            )
        if kind == "ContentEvent":
            self._content(event)
        elif kind == "RichContentEvent":
            card = event.get("content", event.get("message"))
            self.require(
                "rich-content", isinstance(card, Mapping) and isinstance(card.get("type"), str),
                "rich content needs a card object with a type",
            )
        elif kind == "AcceptStatusEvent":
            status = event.get("status")
            self.require(
                "accept-status", status in ACCEPT_STATUSES,
                f"status {status!r} is not one of {', '.join(sorted(ACCEPT_STATUSES))}",
            )
            sequences = event.get("sequenceList")
            listed = sequences if isinstance(sequences, list) else [sequences]
            self.require(
                "receipt-sequences",
                all(_is_int(s) and 0 <= s < next_sequence for s in listed),
                f"sequenceList names a sequence the dialog does not have (next is {next_sequence})",
            )
        elif kind == "ChatStateEvent":
            state = event.get("chatState")
            self.require(
                "chat-state", state in CHAT_STATES,
                f"chatState {state!r} is not one of {', '.join(sorted(CHAT_STATES))}",
            )

    def _content(self, event: Mapping[str, Any]) -> None:
        content_type = event.get("contentType")
        self.require(
            "content-type", content_type in CONTENT_TYPES,
            f"contentType {content_type!r} is not text/plain or hosted/file",
        )
        if content_type not in ("hosted/file", "HostedFile"):
            return
        message = event.get("message")
        message = message if isinstance(message, Mapping) else {}
        for name in ("caption", "relativePath", "fileType"):
            self.require(
                "hosted-file", isinstance(message.get(name), str),
                f"a hosted file needs {name} (a string)",
            )
        self.require(
            "hosted-file", message.get("fileType") in HOSTED_FILE_TYPES,
            f"fileType must be one of {', '.join(sorted(HOSTED_FILE_TYPES))}",
        )
        preview = message.get("preview")
        self.require(
            "hosted-file", preview is None or (isinstance(preview, str)
                                               and len(preview) < MAX_PREVIEW),
            "preview must be a data URL under 30 KB",
        )

    def upload(self, file_type: Any) -> None:
        """Uploads are images: JPG, JPEG, PNG, GIF (§5.9)."""
        self.require(
            "upload-file-type", file_type in UPLOAD_FILE_TYPES,
            f"fileType {file_type!r} is not one of {', '.join(sorted(UPLOAD_FILE_TYPES))}",
        )


def markdown_table() -> str:
    """The rules as the Markdown table of ``docs/sandbox-rules.md``."""
    lines = ["| rule | [protocol notes](protocol-notes.md) | checks "
             "| a client that breaks it gets |", "|---|---|---|---|"]
    for rule in RULES:
        lines.append(f"| `{rule.name}` | {rule.section} | {rule.checks} | {rule.answer} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover - a convenience for writing the docs
    print(markdown_table(), end="")  # noqa: T201

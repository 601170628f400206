"""Fault injection for tests of a client's reliability: drops, expiry, rejections, delays, junk.

The identity service can be broken too: it fails (503s), disables its connector, refuses codes.
The counters live here behind a lock (any thread may set them, the event loop consumes them);
actions on live sockets are run on the sandbox's event loop through the WebSocket server.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .tokens import TokenIssuer
    from .ws import WsServer

__all__ = ["FaultState", "Faults"]


class FaultState:
    """Counters the WebSocket server and the identity service consult for every request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reject_requests: list[int] = []  # one code per request still to reject
        self._reject_handshakes: list[int] = []
        self._delay = 0.0
        self._idp_failures: list[int] = []  # one HTTP status per IDP request still to fail
        self._revoked: set[str] = set()  # connector ids the IDP refuses now
        self._code_refusals = 0  # codes the played token endpoint still refuses

    def take_request_rejection(self) -> int | None:
        """The code for the next request if it must be rejected, else None."""
        with self._lock:
            return self._reject_requests.pop(0) if self._reject_requests else None

    def take_handshake_rejection(self) -> int | None:
        """The HTTP status for the next upgrade if it must be refused, else None."""
        with self._lock:
            return self._reject_handshakes.pop(0) if self._reject_handshakes else None

    @property
    def delay(self) -> float:
        """Seconds by which every response is delayed."""
        return self._delay

    def add_request_rejections(self, count: int, code: int) -> None:
        """Queue ``count`` request rejections with ``code``."""
        with self._lock:
            self._reject_requests.extend([code] * count)

    def add_handshake_rejections(self, count: int, status: int) -> None:
        """Queue ``count`` refused upgrades with HTTP ``status``."""
        with self._lock:
            self._reject_handshakes.extend([status] * count)

    def take_idp_failure(self) -> int | None:
        """The HTTP status for the next IDP request if it must fail, else None."""
        with self._lock:
            return self._idp_failures.pop(0) if self._idp_failures else None

    def add_idp_failures(self, count: int, status: int) -> None:
        """Queue ``count`` IDP requests answered with HTTP ``status``."""
        with self._lock:
            self._idp_failures.extend([status] * count)

    def revoke_connector(self, connector: str) -> None:
        """Make the IDP refuse ``connector`` from now on (until :meth:`reset`)."""
        with self._lock:
            self._revoked.add(connector)

    def connector_revoked(self, connector: str) -> bool:
        """True when ``connector`` was revoked."""
        with self._lock:
            return connector in self._revoked

    def add_code_refusals(self, count: int) -> None:
        """Make the played token endpoint refuse the next ``count`` codes."""
        with self._lock:
            self._code_refusals += count

    def take_code_refusal(self) -> bool:
        """True when the code being exchanged now must be refused."""
        with self._lock:
            if self._code_refusals <= 0:
                return False
            self._code_refusals -= 1
            return True

    def reset(self) -> None:
        """Forget every pending rejection and the delay; revoked connectors work again."""
        with self._lock:
            self._reject_requests.clear()
            self._reject_handshakes.clear()
            self._delay = 0.0
            self._idp_failures.clear()
            self._revoked.clear()
            self._code_refusals = 0

    def set_delay(self, seconds: float) -> None:
        """Delay every response by ``seconds`` (0 turns it off)."""
        with self._lock:
            self._delay = max(0.0, seconds)


class Faults:
    """The fault-injection API of a running :class:`~lpbot.sandbox.Sandbox` (any thread)."""

    def __init__(self, state: FaultState, ws: WsServer, tokens: TokenIssuer, *,
                 connector: str = "acr0") -> None:
        self._state = state
        self._ws = ws
        self._tokens = tokens
        self._connector = connector

    def drop_all(self, code: int | None = 1006, *, consumer: str | None = None) -> int:
        """Close every consumer socket with ``code``; None or 1006 = abrupt TCP close.

        ``consumer`` (a consumer id) drops only that consumer's sockets. Returns the number of
        sockets dropped.
        """
        return self._ws.call(self._ws.drop_all, code, consumer)

    def expire_tokens(self) -> None:
        """Expire every token issued so far; live sessions close with 4401 / 4407."""
        self._tokens.expire_all()
        self._ws.call(self._ws.close_expired_sessions)

    def reject_next(self, count: int, code: int = 429) -> None:
        """Answer the next ``count`` consumer requests with ``code`` (429, 500, 503...)."""
        self._state.add_request_rejections(count, code)

    def reject_handshakes(self, count: int, status: int = 503) -> None:
        """Refuse the next ``count`` WebSocket upgrades with HTTP ``status``."""
        self._state.add_handshake_rejections(count, status)

    def delay_responses(self, seconds: float) -> None:
        """Delay every response by ``seconds`` (0 turns it off); notifications are not delayed."""
        self._state.set_delay(seconds)

    def send_malformed(self, text: str = "{not json") -> int:
        """Send ``text`` as a frame to every live consumer socket; returns how many."""
        return self._ws.call(self._ws.broadcast, text)

    def send_unknown_notification(self) -> int:
        """Send a well-formed notification of a type nobody knows to every live socket."""
        frame = (
            '{"kind":"notification","body":{"changes":[]},"type":"sandbox.UnknownTestNotification"}'
        )
        return self._ws.call(self._ws.broadcast, frame)

    def fail_identity(self, count: int, status: int = 503) -> None:
        """Answer the next ``count`` requests to the IDP (signup, authenticate...) with ``status``.

        The brand's token endpoint the sandbox plays is not the IDP: it answers as before.
        """
        self._state.add_idp_failures(count, status)

    def revoke_connector(self, connector: str | None = None) -> None:
        """Disable an ACR0 connector (default: the sandbox's own) until :meth:`reset`.

        ``/app/{connector}/authenticate`` then answers HTTP 403 ``unauthorized_client``, as when
        a brand deletes or disables the connector while its consumers are connected; tokens
        already issued keep working until they expire.
        """
        self._state.revoke_connector(connector or self._connector)

    def refuse_codes(self, count: int = 1) -> None:
        """Refuse the next ``count`` OAuth codes at the brand's token endpoint the sandbox plays.

        The endpoint answers ``invalid_grant`` (the code is used up), so the IDP answers the
        code flow HTTP 400 ``invalid_code``.
        """
        self._state.add_code_refusals(count)

    def reset(self) -> None:
        """Clear every pending rejection and the response delay; re-enable revoked connectors."""
        self._state.reset()

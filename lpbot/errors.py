"""lpbot's public exceptions: everything a user of lpbot catches is one of these.

* LpError
  * ConfigError          (also ValueError)  a bad config key or value; names file and key path
  * PluginError                             a plugin failed to load, register or configure
  * StateError                              the state directory or a database in it is unusable
    * StateConnectError                     the PostgreSQL state database cannot be connected to
  * AuthError                               a token was refused or could not be obtained
    * IdentityRefused                       the IDP refused the identity for good; .endpoint
  * ConnectionClosed     (also ConnectionError) the socket closed; .code, .reason
    * CertificateError                      a server's TLS certificate failed verification
  * RequestError                            a request did not succeed; .request
    * RequestRejected                       the server answered an error; .code, .body
    * RequestTimeout     (also TimeoutError) no answer within the timeout
  * ProtocolError                           a frame we cannot make sense of; .raw (truncated)
  * LeaseLost                               this daemon no longer owns a consumer or the scheduler

Modules may subclass these for a finer cause (``HandshakeRefused`` is a ``ConnectionClosed``
with the HTTP status, ``FrameError`` a ``ProtocolError`` of the WebSocket framing), and keep
private exceptions that never leave them (the sandbox's, a job's interruption).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AuthError",
    "CertificateError",
    "ConfigError",
    "ConnectionClosed",
    "IdentityRefused",
    "LeaseLost",
    "LpError",
    "PluginError",
    "ProtocolError",
    "RequestError",
    "RequestRejected",
    "RequestTimeout",
    "StateConnectError",
    "StateError",
]


class LpError(Exception):
    """Base class of every error lpbot raises on purpose."""


class ConfigError(LpError, ValueError):
    """A config file, key or value is wrong; the message names the file and the key path."""

    def __init__(self, message: str, *, path: str | None = None, key: str | None = None) -> None:
        self.path = path
        self.key = key
        where = ": ".join(part for part in (path, key) if part)
        super().__init__(f"{where}: {message}" if where else message)


class PluginError(LpError):
    """A plugin failed to import, register or configure; names the plugin and the hook."""

    def __init__(self, plugin: str, message: str, *, hook: str | None = None) -> None:
        self.plugin = plugin
        self.hook = hook
        where = f"plugin {plugin!r}" + (f" in {hook}" if hook else "")
        super().__init__(f"{where}: {message}")


class StateError(LpError):
    """The state directory or a database in it cannot be used; names the path and the cause.

    A file where the directory should be, a database that is not one, a read-only disk. Fixing
    it takes the operator, so it is never retried.
    """

    def __init__(self, message: str, *, path: str | None = None) -> None:
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)


class AuthError(LpError):
    """A token was refused by the server or could not be obtained from the provider."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class IdentityRefused(AuthError):
    """The IDP refused the identity for good: retrying the same request cannot succeed.

    An HTTP 4xx other than 408 and 429 (protocol notes §3.5: fix the request): a connector id it
    does not know or has disabled, a brand token or OAuth code it rejects, a signup it does not
    allow. ``endpoint`` is the IDP path (it names the account and the connector, never a token
    or a code), ``status`` the HTTP status; the message adds the server's short reason.
    """

    def __init__(self, message: str, *, status: int, endpoint: str) -> None:
        super().__init__(message, status=status)
        self.endpoint = endpoint


class ConnectionClosed(LpError, ConnectionError):
    """The WebSocket closed (or never opened); pending requests fail with this."""

    def __init__(self, message: str = "connection closed", *, code: int | None = None,
                 reason: str = "") -> None:
        self.code = code
        self.reason = reason
        detail = f" (code {code}{': ' + reason if reason else ''})" if code is not None else ""
        super().__init__(f"{message}{detail}")


class CertificateError(ConnectionClosed):
    """A server's TLS certificate was not trusted; never retried, as trust is configuration.

    ``host`` is the server (``service`` names it: ``CSDS``, ``IDP``...), ``reason`` OpenSSL's
    verdict (``self-signed certificate in certificate chain``, ``Hostname mismatch...``).
    """

    def __init__(self, host: str, reason: str, *, service: str | None = None) -> None:
        self.host = host
        self.service = service
        where = f"{service} at {host}" if service else host
        super().__init__(f"the TLS certificate of {where} is not trusted ({reason}): give the CA "
                         "that signed it as [account] ca_file, or fix the server's certificate")
        self.reason = reason


class RequestError(LpError):
    """A request did not succeed; ``request`` is the request object that caused it."""

    def __init__(self, message: str, *, request: Any = None) -> None:
        self.request = request
        super().__init__(message)


class RequestRejected(RequestError):
    """The server answered a request with an error code (4xx/5xx) and a body."""

    def __init__(self, *, request: Any, request_type: str, code: int, body: Any) -> None:
        self.request_type = request_type
        self.code = code
        self.body = body
        super().__init__(f"request {request_type} rejected: {code} {body}", request=request)


class RequestTimeout(RequestError, TimeoutError):
    """No response to a request arrived within its timeout."""

    def __init__(self, *, request: Any, request_type: str, timeout: float) -> None:
        self.request_type = request_type
        self.timeout = timeout
        super().__init__(f"request {request_type} got no response within {timeout:g} s",
                         request=request)


class ProtocolError(LpError):
    """A frame could not be understood (not JSON, not an object, missing required fields)."""

    def __init__(self, message: str, *, raw: str | bytes | None = None) -> None:
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        self.raw = None if text is None else text[:200]
        super().__init__(message)


class StateConnectError(StateError):
    """The PostgreSQL state database cannot be reached, refused the login, or does not exist.

    The message is one line naming ``user@host:port/database`` (never the password). Unlike
    other state errors, ``lpbot run`` reports it as a failure to connect (exit code 3).
    """


class LeaseLost(LpError):
    """A lease (a consumer's or the scheduler's) is no longer this daemon's: act on nothing.

    Raised instead of sending a request for a consumer another daemon took over, and when the
    database refused a sequence commit or a job run carrying an older lease epoch (fencing).
    """

    def __init__(self, lease: str, message: str = "") -> None:
        self.lease = lease
        super().__init__(message or f"lease {lease!r} is held by another daemon now")

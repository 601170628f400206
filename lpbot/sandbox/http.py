"""The sandbox's REST side, on lpbot's bounded HTTP server (protocol notes §1, §2, §5).

Domain lookup (CSDS, all three URL forms and JSONP), IDP signup and authenticate, agent public
profiles and the temporary-URL file store. Routing is a list of (method, regex, handler) so more
pages (the agent console) can be added with :meth:`HttpServer.add_route`.
"""

from __future__ import annotations

import json
import logging
import re
import ssl
import urllib.parse
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from lpbot.httpserver import (
    BoundedHTTPServer,
    BoundedRequestHandler,
    ServerLimits,
    header,
    is_direct_host,
)
from lpbot.protocol.names import Services

from .files import MAX_FILE_SIZE, FileStore

__all__ = ["LIMITS", "HttpReply", "HttpRequest", "HttpServer", "Route", "jsonp_callback"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpRequest:
    """One parsed request as a route sees it."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    match: re.Match[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpReply:
    """What a route answers."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)
    #: an open-ended body (server-sent events): sent chunk by chunk, then the connection closes
    stream: Iterator[bytes] | None = field(default=None, compare=False)

    @classmethod
    def json(cls, status: int, payload: Any, *, callback: str | None = None) -> HttpReply:
        """A JSON reply, or JSONP when ``callback`` is given."""
        text = json.dumps(payload, separators=(",", ":"))
        if callback:
            return cls(
                status=status,
                body=f"{callback}({text});".encode(),
                content_type="application/javascript",
            )
        return cls(status=status, body=text.encode())


Route = Callable[[HttpRequest], HttpReply]
_ACCOUNT = r"/(?:api|csdr)/account/(?P<account>[^/]+)"
_CALLBACK = re.compile(r"^[A-Za-z_$][\w$.]{0,63}$")
_FILES: Final = "/v1/AUTH_async-images/"

#: the sandbox's HTTP bounds: 32 threads, 512 open connections, 10 s per request, 64 KiB bodies
#: (file uploads: up to ``files.MAX_FILE_SIZE``); see docs/hardening.md
LIMITS: Final = ServerLimits(workers=32, backlog=256, max_connections=512)
#: what a browser may POST to another site without asking first (a "simple" request)
_SIMPLE_TYPES: Final = frozenset(
    {"application/x-www-form-urlencoded", "multipart/form-data", "text/plain"}
)


def cross_site(method: str, headers: Mapping[str, str], bound_host: str) -> HttpReply | None:
    """The refusal of a request a web page could have made for someone else, or None.

    The console and the ``/_sandbox/`` control routes act for whoever runs the sandbox, so they
    take only requests that name the sandbox by address (a DNS-rebinding page cannot), that no
    other origin sent, and (when they change something) that no HTML form could have sent.
    """
    if not is_direct_host(header(headers, "Host"), bound_host):
        return HttpReply.json(403, {"error": "name the sandbox by address in Host"})
    origin = header(headers, "Origin")
    fetch_site = (header(headers, "Sec-Fetch-Site") or "").lower()
    if fetch_site in ("cross-site", "same-site") or (
        origin is not None and re.sub(r"^https?://", "", origin) != header(headers, "Host")
    ):
        return HttpReply.json(403, {"error": "cross-origin requests are refused"})
    content_type = (header(headers, "Content-Type") or "").split(";")[0].strip().lower()
    if method not in ("GET", "HEAD") and content_type in _SIMPLE_TYPES:
        return HttpReply.json(415, {"error": "send application/json, or no body"})
    return None


def jsonp_callback(query: Mapping[str, str]) -> str | None:
    """The JSONP callback name of a query (``cb`` or ``callback``), if it is a safe name."""
    value = query.get("cb") or query.get("callback")
    return value if value and _CALLBACK.match(value) else None


class HttpServer:
    """Owns the ``lpbot-sandbox-http`` thread and the routes."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        files: FileStore,
        profiles: Callable[[str], dict[str, Any] | None],
        ws_port: Callable[[], int],
        accounts: Callable[[str], bool] = lambda account: True,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.files = files
        self.profiles = profiles
        self._ws_port = ws_port
        self._accounts = accounts
        self.routes: list[tuple[str, re.Pattern[str], Route, bool]] = []
        self._server = BoundedHTTPServer(
            (host, port), self._handler_class(), name="lpbot-sandbox-http", limits=LIMITS,
            ssl_context=ssl_context,
        )
        self.host = host
        self.port: int = self._server.port
        self._add_default_routes()

    @property
    def advertised_host(self) -> str:
        """The host name to give clients (a wildcard bind is advertised as 127.0.0.1)."""
        return "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host  # noqa: S104

    def add_route(self, method: str, pattern: str, route: Route, *, local: bool = False) -> None:
        """Serve ``method`` requests whose path fully matches ``pattern`` with ``route``.

        ``local`` routes act for the sandbox's operator: they refuse what a web page could send
        for someone else (see :func:`cross_site`).
        """
        self.routes.append((method, re.compile(pattern), route, local))

    @property
    def server(self) -> BoundedHTTPServer:
        """The bounded server underneath (its ``stats`` and ``thread_count``)."""
        return self._server

    def start(self) -> None:
        """Start serving."""
        self._server.start()

    def stop(self, timeout: float = 2.0) -> bool:
        """Close the listener and every connection, join the threads; True if all ended."""
        return self._server.stop(timeout)

    # -- routes -----------------------------------------------------------------------------

    def _add_default_routes(self) -> None:
        self.add_route("GET", _ACCOUNT + r"/service/baseURI\.json", self._csds_all)
        self.add_route(
            "GET", _ACCOUNT + r"/service/(?P<service>[^/]+)/baseURI\.json", self._csds_one
        )
        self.add_route(
            "GET", _ACCOUNT + r"/service/(?P<service>[^/]+)/baseURI\.lpCsds", self._csds_jsonp
        )
        self.add_route(
            "GET", _ACCOUNT + r"/configuration/le-users/users/(?P<agent>[^/]+)", self._profile
        )
        self.add_route("PUT", r"/v1/AUTH_async-images/.+", self._file_put)
        self.add_route("GET", r"/v1/AUTH_async-images/.+", self._file_get)

    def services(self, account: str) -> list[dict[str, str]]:
        """The CSDS entries of ``account``: every consumer service points at this sandbox."""
        http_host = f"{self.advertised_host}:{self.port}"
        ws_host = f"{self.advertised_host}:{self._ws_port()}"
        return [
            {"service": Services.MESSAGING, "account": account, "baseURI": ws_host},
            {"service": Services.IDP, "account": account, "baseURI": http_host},
            {"service": Services.AGENT_PROFILE, "account": account, "baseURI": http_host},
            {"service": Services.FILES, "account": account, "baseURI": http_host},
        ]

    @staticmethod
    def _version_ok(request: HttpRequest) -> bool:
        return request.query.get("version") == "1.0"

    def _unknown_account(self, request: HttpRequest) -> HttpReply | None:
        """401 for an account this sandbox does not serve, as CSDS answers an invalid site."""
        if self._accounts(request.match["account"]):
            return None
        return HttpReply.json(401, {"error": "unauthorized", "details": "unknown account"},
                              callback=jsonp_callback(request.query))

    def _csds_all(self, request: HttpRequest) -> HttpReply:
        if not self._version_ok(request):
            return HttpReply.json(400, {"error": "version=1.0 is required"})
        if refusal := self._unknown_account(request):
            return refusal
        return HttpReply.json(200, {"baseURIs": self.services(request.match["account"])})

    def _find_service(self, request: HttpRequest) -> dict[str, str] | None:
        wanted = request.match["service"]
        return next(
            (s for s in self.services(request.match["account"]) if s["service"] == wanted), None
        )

    def _csds_one(self, request: HttpRequest) -> HttpReply:
        if not self._version_ok(request):
            return HttpReply.json(400, {"error": "version=1.0 is required"})
        if refusal := self._unknown_account(request):
            return refusal
        entry = self._find_service(request)
        if entry is None:
            return HttpReply.json(404, {"error": f"unknown service {request.match['service']}"})
        return HttpReply.json(200, entry)

    def _csds_jsonp(self, request: HttpRequest) -> HttpReply:
        if refusal := self._unknown_account(request):
            return refusal
        entry = self._find_service(request)
        if entry is None:
            return HttpReply.json(404, {"error": "unknown service"})
        payload = {"ResultSet": {"lpData": [{"lpServer": entry["baseURI"]}]}}
        return HttpReply.json(200, payload, callback=jsonp_callback(request.query) or "lpCb")

    def _profile(self, request: HttpRequest) -> HttpReply:
        profile = self.profiles(urllib.parse.unquote(request.match["agent"]))
        if profile is None:
            return HttpReply.json(404, {"error": "unknown user"},
                                  callback=jsonp_callback(request.query))
        return HttpReply.json(200, profile, callback=jsonp_callback(request.query))

    def _temp_url_ok(self, request: HttpRequest) -> bool:
        return self.files.check(
            request.method,
            request.path,
            request.query.get("temp_url_sig"),
            request.query.get("temp_url_expires"),
        )

    def _file_put(self, request: HttpRequest) -> HttpReply:
        if not self._temp_url_ok(request):
            return HttpReply(status=401, body=b"Temp URL invalid", content_type="text/plain")
        if not self.files.put(request.path, request.body):
            return HttpReply(
                status=400, body=b"Unknown path or bad size", content_type="text/plain"
            )
        return HttpReply(status=201, body=b"", content_type="text/plain")

    def _file_get(self, request: HttpRequest) -> HttpReply:
        if not self._temp_url_ok(request):
            return HttpReply(status=401, body=b"Temp URL invalid", content_type="text/plain")
        found = self.files.get(request.path)
        if found is None:
            return HttpReply(status=404, body=b"Not Found", content_type="text/plain")
        return HttpReply(status=200, body=found[0], content_type=found[1])

    # -- dispatch ---------------------------------------------------------------------------

    def dispatch(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes
    ) -> HttpReply:
        """Find the route for a request and run it (on a request thread)."""
        parts = urllib.parse.urlsplit(target)
        query = {k: v[0] for k, v in urllib.parse.parse_qs(parts.query).items()}
        allowed = False
        for route_method, pattern, route, local in self.routes:
            match = pattern.fullmatch(parts.path)
            if match is None:
                continue
            allowed = True
            if route_method == method:
                refusal = cross_site(method, headers, self.host) if local else None
                if refusal is not None:
                    return refusal
                request = HttpRequest(
                    method=method,
                    path=parts.path,
                    query=query,
                    headers=headers,
                    body=body,
                    match=match,
                )
                return route(request)
        if allowed:
            return HttpReply.json(405, {"error": "method not allowed"})
        return HttpReply.json(404, {"error": "not found"})

    def _handler_class(self) -> type[BoundedRequestHandler]:
        server = self

        class Handler(BoundedRequestHandler):
            server_version = "lpbot-sandbox"
            # keep-alive, as LivePerson's HTTPS services: a consumer's domain lookup, sign-up
            # and file calls reuse one connection instead of a TLS handshake each
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                is_upload = self.command == "PUT" and self.path.startswith(_FILES)
                body = self.read_body(MAX_FILE_SIZE if is_upload else None)
                if body is None:
                    return
                headers = dict(self.headers.items())
                try:
                    reply = server.dispatch(self.command, self.path, headers, body)
                except Exception:  # isolation boundary: a route bug answers 500
                    log.exception("sandbox HTTP route failed for %s", self.path)
                    reply = HttpReply.json(500, {"error": "internal error"})
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                if reply.stream is None:
                    self.send_header("Content-Length", str(len(reply.body)))
                else:  # the body ends when the connection does
                    self.send_header("Connection", "close")
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                if reply.stream is not None:
                    self._send_stream(reply.stream)
                elif self.command != "HEAD":
                    self.wfile.write(reply.body)

            def _send_stream(self, stream: Iterator[bytes]) -> None:
                self.close_connection = True
                try:
                    for chunk in stream:
                        self.wfile.write(chunk)
                except OSError:  # the client went away (or stopped reading)
                    log.debug("http stream to %s ended", self.client_address)
                finally:
                    if isinstance(stream, Generator):
                        stream.close()

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve

        return Handler

"""The consumer WebSocket endpoint (protocol notes §3): one asyncio loop in one named thread.

``websockets``' asyncio server runs every connection on the loop of the ``lpbot-sandbox-ws``
thread; keepalive pings and compression are off (we still answer pings), and the 60 s idle close
(pings count as activity), the InitConnection deadline and token expiry are loop timers. Other
threads reach the loop only through :meth:`WsServer.call`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterator, Sequence
from typing import Any, TypeVar

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from lpbot.protocol.names import CloseCode, Requests, Responses

from . import wire
from .faults import FaultState
from .handlers import Handlers, canonical_type
from .handshake import Refusal, check_upgrade, init_headers
from .inbound import BadInput, loads
from .model import Refused, Session
from .tokens import TokenError, TokenIssuer
from .variants import WireStyle, WireVariants
from .world import World

__all__ = ["MAX_BUFFERED", "SandboxConnection", "WsServer"]

log = logging.getLogger(__name__)
T = TypeVar("T")
#: what a handler raises on a request of valid JSON but an unusable shape (a list where a
#: name belongs, say): answered 400, like the checks the handler makes on purpose
_SHAPE_ERRORS = (AttributeError, KeyError, TypeError, ValueError, IndexError)

_INITIALIZED = "Connection initialized successfully"
#: unsent bytes after which a socket that does not read is dropped
MAX_BUFFERED = 16 * 1024 * 1024
#: the socket's write buffer above which frames wait in the connection's outbox
_WRITE_LIMIT = 2**16


class SandboxConnection(ServerConnection):
    """A server connection that notes inbound activity and can send synchronously on the loop."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.last_activity = 0.0
        self.session: Session | None = None
        self.claims: dict[str, Any] | None = None
        self.client_properties: dict[str, Any] = {}
        self.timers: dict[str, asyncio.TimerHandle] = {}  # init, idle, expiry
        self.bucket = (0.0, 0.0)  # (tokens, loop time of the last refill) for the rate limit
        #: frames waiting for the socket to drain, in order: text, or pages made on demand
        self.outbox: deque[str | Iterator[str]] = deque()
        self.outbox_bytes = 0

    def data_received(self, data: bytes) -> None:
        """Every inbound byte (text frames and pings alike) counts as activity."""
        self.last_activity = self.loop.time()
        super().data_received(data)

    def push(self, text: str) -> None:
        """Send a text frame in call order (loop thread only).

        Frames wait in :attr:`outbox` while the socket's buffer is full. A client that stops
        reading is dropped once its unsent data passes :data:`MAX_BUFFERED`, so one stuck socket
        cannot grow the sandbox's memory without bound.
        """
        if self.protocol.state is not State.OPEN:
            return
        if not self.outbox and not self.paused:
            self._write(text)
            return
        self.outbox.append(text)
        self.outbox_bytes += len(text)
        if self.outbox_bytes + self.transport.get_write_buffer_size() > MAX_BUFFERED:
            log.warning("dropping a consumer socket that does not read its frames")
            self.outbox.clear()
            self.outbox_bytes = 0
            self.transport.abort()

    def push_pages(self, pages: Iterator[str]) -> None:
        """Send frames made one at a time as the socket drains (a replay of any length)."""
        if self.protocol.state is State.OPEN:
            self.outbox.append(pages)
            self.flush()

    def flush(self) -> None:
        """Write waiting frames until the socket's buffer is full again (loop thread)."""
        while self.outbox and not self.paused and self.protocol.state is State.OPEN:
            head = self.outbox[0]
            if isinstance(head, str):
                self.outbox.popleft()
                self.outbox_bytes -= len(head)
                self._write(head)
                continue
            page = next(head, None)
            if page is None:
                self.outbox.popleft()
            else:
                self._write(page)

    def resume_writing(self) -> None:
        """The socket drained: send what waits."""
        super().resume_writing()
        self.flush()

    def _write(self, text: str) -> None:
        self.protocol.send_text(text.encode())
        self.send_data()


class WsServer:
    """Owns the ``lpbot-sandbox-ws`` thread, its event loop and the consumer connections."""

    def __init__(
        self,
        *,
        world: World,
        handlers: Handlers,
        tokens: TokenIssuer,
        faults: FaultState,
        host: str,
        port: int,
        idle_timeout: float,
        init_timeout: float,
        rate_limit: float | None = None,
        ssl_context: ssl.SSLContext | None = None,
        variants: WireVariants | None = None,
    ) -> None:
        self.world = world
        self.ssl_context = ssl_context
        self.variants = variants if variants is not None else WireVariants("canonical")
        self.handlers = handlers
        self.tokens = tokens
        self.faults = faults
        self.host = host
        self.port = port
        self.idle_timeout = idle_timeout
        self.init_timeout = init_timeout
        self.rate_limit = rate_limit
        self.connections: set[SandboxConnection] = set()
        self._loop: asyncio.AbstractEventLoop | None = None  # made by start(): none left open
        self._thread = threading.Thread(target=self._run, name="lpbot-sandbox-ws", daemon=True)
        self._ready = threading.Event()
        self._stop: asyncio.Future[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._error: BaseException | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop of the ``lpbot-sandbox-ws`` thread (after :meth:`start`)."""
        if self._loop is None:
            raise RuntimeError("the sandbox is not started")
        return self._loop

    # -- lifecycle --------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> None:
        """Start the thread and wait until the socket listens (raises if it does not)."""
        self._loop = asyncio.new_event_loop()
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("sandbox WebSocket server did not start")
        if self._error is not None:
            raise RuntimeError(f"sandbox WebSocket server failed: {self._error}")

    def stop(self, timeout: float = 10.0) -> bool:
        """Close every connection (1001), stop the loop, join the thread; True if it ended."""
        if not self._thread.is_alive():
            return True
        stop = self._stop
        if stop is not None:
            self.loop.call_soon_threadsafe(_resolve, stop)
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("sandbox WebSocket thread still busy after %g s", timeout)
            return False
        return True

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._main())
        except BaseException as exc:  # the thread's boundary: report, never hang start()
            log.exception("sandbox WebSocket thread failed")
            self._error = exc
        finally:
            self._ready.set()
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.run_until_complete(self.loop.shutdown_default_executor())  # getaddrinfo
            self.loop.close()

    async def _main(self) -> None:
        self._stop = self.loop.create_future()
        server: Server = await serve(
            self._handle,
            self.host,
            self.port,
            process_request=self._process_request,
            ssl=self.ssl_context,
            create_connection=SandboxConnection,
            compression=None,
            ping_interval=None,
            ping_timeout=None,
            close_timeout=2,
            max_queue=4,
            write_limit=_WRITE_LIMIT,
            server_header="lpbot-sandbox",
        )
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            await self._stop
        finally:
            server.close(close_connections=True)
            await server.wait_closed()
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def call(self, fn: Callable[..., T], *args: Any, timeout: float = 10.0) -> T:
        """Run ``fn(*args)`` on the loop thread and return its result (from any thread)."""
        if not self._thread.is_alive():
            raise RuntimeError("the sandbox is not running")
        if threading.current_thread() is self._thread:
            return fn(*args)
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
                future.set_exception(exc)

        self.loop.call_soon_threadsafe(run)
        return future.result(timeout)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run a coroutine as a task kept alive until it ends (loop thread only)."""
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def close_connection(self, conn: SandboxConnection, code: int, reason: str) -> None:
        """Close ``conn`` with a close frame (loop thread)."""
        self.spawn(conn.close(code, reason))

    # -- handshake --------------------------------------------------------------------------

    def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        if not isinstance(conn, SandboxConnection):  # pragma: no cover - we build every connection
            raise TypeError("unexpected connection class")
        outcome = check_upgrade(
            request.path, request.headers, self.tokens, self.faults, self.handlers.rules
        )
        if isinstance(outcome, Refusal):
            return conn.respond(outcome.status, outcome.text)
        conn.claims = outcome.claims
        style = self.variants.next_style()
        conn.session = Session(account=outcome.account, send=conn.push, style=style)
        log.debug("connection styled: %s", style.describe())
        conn.session.client_properties.update(outcome.client_properties)
        return None

    # -- connection -------------------------------------------------------------------------

    async def _handle(self, conn: ServerConnection) -> None:
        if not isinstance(conn, SandboxConnection) or conn.session is None:  # pragma: no cover
            raise TypeError("connection without a session")
        session = conn.session
        conn.last_activity = self.loop.time()
        self.connections.add(conn)
        try:
            if conn.claims is not None:
                self._authenticate(conn, conn.claims)
            else:
                conn.timers["init"] = self.loop.call_later(
                    self.init_timeout, self._init_expired, conn
                )
            if self.idle_timeout > 0:
                conn.timers["idle"] = self.loop.call_later(
                    self.idle_timeout, self._idle_check, conn
                )
            try:
                async for message in conn:
                    self._on_frame(conn, session, message)
            except ConnectionClosed:
                pass
        finally:
            for timer in conn.timers.values():
                timer.cancel()
            self.connections.discard(conn)
            self.world.detach(session)

    def _authenticate(self, conn: SandboxConnection, claims: dict[str, Any]) -> None:
        session = conn.session
        if session is None:  # pragma: no cover - set at the handshake
            return
        session.consumer_id = str(claims["sub"])
        session.authenticated = "lp.ext" in claims
        conn.claims = claims
        self.world.attach(session)
        remaining = float(claims["exp"]) - self.loop.time() - _clock_offset(self.loop)
        init = conn.timers.pop("init", None)
        if init is not None:
            init.cancel()
        conn.timers["expiry"] = self.loop.call_later(max(remaining, 0.0), self._expire, conn)

    def _expire(self, conn: SandboxConnection) -> None:
        session = conn.session
        if conn.state is State.OPEN and session is not None and session.consumer_id is not None:
            code = (
                CloseCode.TOKEN_EXPIRED_AUTHENTICATED
                if session.authenticated
                else CloseCode.TOKEN_EXPIRED_UNAUTHENTICATED
            )
            self.close_connection(conn, code, "token expired")

    def _init_expired(self, conn: SandboxConnection) -> None:
        if conn.session is not None and conn.session.consumer_id is None:
            self.close_connection(conn, CloseCode.POLICY_VIOLATION, "InitConnection not received")

    def _idle_check(self, conn: SandboxConnection) -> None:
        if conn.state is not State.OPEN:
            return
        idle = self.loop.time() - conn.last_activity
        if idle >= self.idle_timeout:
            self.close_connection(conn, CloseCode.NORMAL, "idle timeout")
        else:
            conn.timers["idle"] = self.loop.call_later(
                self.idle_timeout - idle, self._idle_check, conn
            )

    # -- frames -----------------------------------------------------------------------------

    def _reply(self, conn: SandboxConnection, frames: Sequence[str | Iterator[str]]) -> None:
        delay = self.faults.delay
        if delay > 0:
            self.loop.call_later(delay, _push_all, conn, frames)
        else:
            _push_all(conn, frames)

    def _on_frame(self, conn: SandboxConnection, session: Session, message: str | bytes) -> None:
        """Answer one inbound frame; whatever it holds, the socket lives on (no 1011)."""
        try:
            self._answer(conn, session, message)
        except Exception:  # isolation boundary: a sandbox bug answers 500
            log.exception("sandbox failed on a frame")
            self._reply(conn, [wire.error_frame(None, 500, "internal error")])

    def _answer(self, conn: SandboxConnection, session: Session, message: str | bytes) -> None:
        if isinstance(message, bytes):
            self._reply(conn, [wire.error_frame(None, 400, "binary frames are not supported")])
            return
        try:
            frame = loads(message)
        except BadInput as exc:
            raw_id = exc.parsed.get("id") if isinstance(exc.parsed, dict) else None
            ok = isinstance(raw_id, str | int) and not isinstance(raw_id, bool) and raw_id != ""
            req_id = str(raw_id) if ok and str(raw_id).isprintable() else None  # echoable
            self._reply(conn, [wire.error_frame(req_id, 400, f"malformed JSON: {exc}")])
            return
        if not isinstance(frame, dict):
            self._reply(conn, [wire.error_frame(None, 400, "a request must be a JSON object")])
            return
        raw_id = frame.get("id")
        if isinstance(raw_id, bool) or not isinstance(raw_id, str | int) or raw_id == "":
            self._reply(conn, [wire.error_frame(None, 400, "request id is required")])
            return
        req_id = str(raw_id)
        try:
            self.handlers.rules.request_id(req_id)
        except Refused as exc:
            self._reply(conn, [wire.error_frame(req_id, exc.code, exc.message)])
            return
        type_name = frame.get("type")
        if not isinstance(type_name, str) or not type_name:
            self._reply(conn, [wire.error_frame(req_id, 400, "request type is required")])
            return
        rejection = self.faults.take_request_rejection()
        if rejection is not None:
            self._reply(conn, [wire.error_frame(req_id, rejection, "rejected by fault injection")])
            return
        if self.rate_limit is not None and not self._take_token(conn, self.rate_limit):
            self._reply(conn, [wire.error_frame(req_id, 429, "too many requests")])
            return
        if canonical_type(type_name) == Requests.INIT_CONNECTION:
            self._init_connection(conn, session, req_id, frame)
            return
        if session.consumer_id is None:
            self._reply(conn, [wire.error_frame(req_id, 401, "connection not initialized")])
            return
        handler = self.handlers.table.get(canonical_type(type_name))
        if handler is None:
            self._reply(conn, [wire.error_frame(req_id, 400, f"unknown request type {type_name}")])
            return
        metadata = frame.get("metadata")
        metadata = metadata if isinstance(metadata, list) else [metadata] if metadata else []
        style = session.style
        session.held = []  # notifications caused by this request follow its response
        try:
            self.handlers.rules.metadata(metadata)
            code, resp_type, body, followups = handler(session, frame.get("body"), metadata)
            response = wire.styled_response(
                req_id, code, resp_type, body, canonical_type(type_name), style
            )
            frames = [response, *followups]
        except Refused as exc:
            frames = [wire.error_frame(req_id, exc.code, exc.message, style)]
        except _SHAPE_ERRORS as exc:
            log.debug("%s refused as malformed: %r", type_name, exc)
            frames = [wire.error_frame(req_id, 400, "malformed request body", style)]
        except Exception:  # isolation boundary: a sandbox bug answers 500, the socket lives on
            log.exception("sandbox failed to handle %s", type_name)
            frames = [wire.error_frame(req_id, 500, "internal error", style)]
        finally:
            held, session.held = session.held, None
        if self.faults.delay > 0:
            _push_all(conn, held)  # keep per-dialog order; only the response is late
            self._reply(conn, frames)
        else:
            _push_all(conn, [*frames, *held])

    def _take_token(self, conn: SandboxConnection, rate: float) -> bool:
        """Per-connection token bucket: ``rate`` requests/s, bursts of one second (§8.4)."""
        tokens, last = conn.bucket
        now = self.loop.time()
        capacity = max(rate, 1.0)
        tokens = capacity if last == 0.0 else min(capacity, tokens + (now - last) * rate)
        if tokens < 1.0:
            conn.bucket = (tokens, now)
            return False
        conn.bucket = (tokens - 1.0, now)
        return True

    def _init_connection(
        self, conn: SandboxConnection, session: Session, req_id: str, frame: dict[str, Any]
    ) -> None:
        style = session.style
        jwt, properties = init_headers(frame.get("headers"))
        rules = self.handlers.rules
        refused = rules.client_properties(properties) if properties else None
        if refused is None and session.consumer_id is not None:
            refused = rules.violation(
                "init-once", "this connection is already initialized (Authorization header or "
                "an earlier InitConnection)"
            )
        if refused is not None:
            self._reply(conn, [wire.error_frame(req_id, refused.code, refused.message, style)])
            return
        session.client_properties.update(properties)
        if jwt is None:
            if session.consumer_id is not None:
                self._reply(conn, [_initialized(req_id, style)])
            else:
                message = "InitConnection needs a ConsumerAuthentication header with a jwt"
                self._reply(conn, [wire.error_frame(req_id, 400, message, style)])
            return
        try:
            claims = self.tokens.check(jwt, session.account)
        except TokenError as exc:
            self.close_connection(conn, CloseCode.TOKEN_EXPIRED_AUTHENTICATED, str(exc))
            return
        if session.consumer_id is not None:
            if claims["sub"] != session.consumer_id:
                self._reply(conn, [wire.error_frame(req_id, 400, "token of another consumer")])
                return
        else:
            self._authenticate(conn, claims)
        self._reply(conn, [_initialized(req_id, style)])

    # -- fault actions (loop thread, through call) -------------------------------------------

    def drop_all(self, code: int | None, consumer: str | None = None) -> int:
        """Close every connection; None or 1006 aborts the TCP connection without a close frame.

        ``consumer`` (a consumer id) limits it to that consumer's connections.
        """
        dropped = 0
        for conn in list(self.connections):
            if conn.state is not State.OPEN:
                continue
            if consumer is not None and (conn.session is None
                                         or conn.session.consumer_id != consumer):
                continue
            dropped += 1
            if code is None or code == CloseCode.ABNORMAL:
                conn.transport.abort()
            else:
                self.close_connection(conn, code, "dropped by fault injection")
        return dropped

    def close_expired_sessions(self) -> None:
        """Close every session whose token is no longer valid (after ``expire_tokens``)."""
        for conn in list(self.connections):
            if conn.claims is not None and conn.session is not None:
                try:
                    self.tokens.check_serial(conn.claims)
                except TokenError:
                    self._expire(conn)

    def broadcast(self, text: str) -> int:
        """Send ``text`` to every open connection; returns how many."""
        sent = 0
        for conn in list(self.connections):
            if conn.state is State.OPEN:
                conn.push(text)
                sent += 1
        return sent


def _initialized(req_id: str, style: WireStyle) -> str:
    return wire.styled_response(req_id, 200, Responses.STRING, _INITIALIZED, "", style)


def _push_all(conn: SandboxConnection, frames: Sequence[str | Iterator[str]]) -> None:
    for frame in frames:
        if isinstance(frame, str):
            conn.push(frame)
        else:
            conn.push_pages(frame)


def _clock_offset(loop: asyncio.AbstractEventLoop) -> float:
    """Wall clock minus loop clock, to turn a JWT ``exp`` into a loop deadline."""
    return time.time() - loop.time()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)

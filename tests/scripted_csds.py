"""A scripted CSDS for the tests: every lookup gets one status and one JSON body.

The sandbox serves a real CSDS; this one answers what a test needs instead (an error status, an
account without services, services behind TLS proxies, a certificate for another host), counts
the lookups, and serves HTTPS with the ``ssl_context`` given. Shared by the client's and the
runtime's tests: ``from scripted_csds import ScriptedCsds`` (``tests/`` is on ``sys.path``).
"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self

#: certs/server.pem and .key (for 127.0.0.1), signed by certs/ca.pem, a CA no system trusts
CERTS = Path(__file__).resolve().parent / "client" / "certs"


def server_context() -> ssl.SSLContext:
    """A server-side TLS context with the test certificate for 127.0.0.1."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(CERTS / "server.pem", CERTS / "server.key")
    return context


def base_uris(hosts: Mapping[str, str]) -> dict[str, object]:
    """A CSDS answer naming ``hosts`` (service name to ``host:port``)."""
    return {"baseURIs": [{"service": service, "baseURI": host}
                         for service, host in hosts.items()]}


class ScriptedCsds:
    """A CSDS on 127.0.0.1 answering every GET with ``status`` and ``body`` (as JSON).

    ``domain`` is what ``csds_domain`` takes; ``requests`` counts the answered lookups and
    ``targets`` lists their request targets (a proxy's are absolute URLs). ``arrived`` is set by
    the first request; clear ``release`` to hold every answer until it is set again. A context
    manager, or call :meth:`close`.
    """

    def __init__(self, status: int = 200, body: object = None, *,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.requests = 0
        self.targets: list[str] = []
        self.arrived = threading.Event()
        self.release = threading.Event()
        self.release.set()
        payload = json.dumps({"baseURIs": []} if body is None else body).encode()
        lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with lock:
                    outer.targets.append(self.path)
                outer.arrived.set()
                outer.release.wait(10)
                with lock:
                    outer.requests += 1
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if ssl_context is not None:
            self._server.socket = ssl_context.wrap_socket(self._server.socket, server_side=True)
        self.domain = f"127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="test-csds")
        self._thread.start()

    def close(self) -> None:
        """Stop serving and join the serving thread."""
        self.release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

"""A TCP proxy that can go silent: a network cut between one daemon and the database.

``cut()`` keeps every socket open but forwards nothing any more (what a dead link or a
partition looks like to the daemon: its queries get no answer). ``heal()`` closes the silent
connections, so the daemon's next attempt connects again through the proxy.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType
from typing import Self


class Proxy:
    """Forwards 127.0.0.1:<port> to ``target``; a context manager that joins its threads."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._silent = threading.Event()
        self._closing = threading.Event()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept, name="test-proxy-accept")

    def __enter__(self) -> Self:
        self._acceptor.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._closing.set()
        # close() alone does not wake a thread blocked in accept() on Linux; shutdown() does
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._drop_all()
        self._acceptor.join(5)
        for thread in list(self._threads):
            thread.join(5)

    def url(self, url: str) -> str:
        """``url`` with its port replaced by the proxy's."""
        return url.replace(f":{self.target[1]}/", f":{self.port}/")

    def cut(self) -> None:
        """Forward nothing from now on; the connections stay open and silent."""
        self._silent.set()

    def heal(self) -> None:
        """Close the silent connections and forward again."""
        self._drop_all()
        self._silent.clear()

    def _drop_all(self) -> None:
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, server]
            for source, sink in ((client, server), (server, client)):
                thread = threading.Thread(target=self._pump, args=(source, sink),
                                          name="test-proxy-pump")
                self._threads.append(thread)
                thread.start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                return
            if not data:
                with contextlib.suppress(OSError):
                    sink.shutdown(socket.SHUT_WR)
                return
            if self._silent.is_set():
                continue  # a cut link: what is sent never arrives
            try:
                sink.sendall(data)
            except OSError:
                return

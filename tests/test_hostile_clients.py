"""``lpbot run`` as a subprocess with slow HTTP clients on its metrics and sandbox ports.

Each slow client sends a request line, then one header line a second and never the blank line
that ends the head; a pacing thread keeps them going until the test ends.
"""

from __future__ import annotations

import contextlib
import re
import signal
import socket
import ssl
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lpbot.testing.harness import DaemonProcess

CONFIG = """\
[bot]
consumers = ["one"]
stop_timeout = 5
[sandbox]
enabled = true
[plugins]
enabled = ["metrics"]
[plugins.metrics]
enabled = true
port = 0
"""


def connect(port: int, *, tls: bool) -> socket.socket:
    """A TCP connection to ``port``, with a TLS handshake when ``tls`` (the embedded sandbox
    serves https with a certificate made at start: not checked here, where only the server's
    handling of slow and vanishing clients is)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    if not tls:
        return sock
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context.wrap_socket(sock)


@contextmanager
def slow_clients(port: int, count: int, *, tls: bool = False) -> Iterator[list[socket.socket]]:
    """``count`` clients pacing header lines to ``port`` until the block ends."""
    socks = [connect(port, tls=tls) for _ in range(count)]
    for sock in socks:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    done = threading.Event()

    def pace() -> None:
        while not done.wait(1.0):
            for sock in socks:
                with contextlib.suppress(OSError):  # dropped by the server: what we want
                    sock.sendall(b"X-Slow: 1\r\n")

    pacer = threading.Thread(target=pace, name="test-slow-clients")
    pacer.start()
    try:
        yield socks
    finally:
        done.set()
        pacer.join()
        for sock in socks:
            sock.close()


def port_in(record: dict[str, object]) -> int:
    found = re.search(r"https?://127\.0\.0\.1:(\d+)", str(record["message"]))
    assert found is not None, record
    return int(found.group(1))


def test_sigterm_with_slow_clients_exits_0_within_stop_timeout(tmp_path: Path) -> None:
    config = tmp_path / "lpbot.toml"
    config.write_text(CONFIG)
    with DaemonProcess("--config", str(config), "--state-dir", str(tmp_path)) as daemon:
        sandbox_port = port_in(daemon.wait_for("sandbox serving", timeout=30))
        metrics_port = port_in(daemon.wait_for("metrics on", timeout=30))
        daemon.wait_for("serving; state in", timeout=30)
        with slow_clients(metrics_port, 8), slow_clients(sandbox_port, 20, tls=True):
            with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/healthz",
                                        timeout=3) as reply:
                assert reply.status == 200
            daemon.send_signal(signal.SIGTERM)
            assert daemon.wait(timeout=8) == 0
    messages = daemon.messages()
    assert messages[-1] == "exit code 0; lpbot threads left: none"
    assert not [r for r in daemon.records if r.get("level") in ("ERROR", "CRITICAL", "RAW")]


def test_hang_ups_leave_only_json_log_lines(tmp_path: Path) -> None:
    config = tmp_path / "lpbot.toml"
    config.write_text(CONFIG)
    with DaemonProcess("--config", str(config), "--state-dir", str(tmp_path)) as daemon:
        sandbox_port = port_in(daemon.wait_for("sandbox serving", timeout=30))
        daemon.wait_for("serving; state in", timeout=30)
        for _ in range(60):
            sock = connect(sandbox_port, tls=True)
            sock.sendall(b"POST /api/account/sandbox/authenticate HTTP/1.1\r\n"
                         b"Content-Length: 100\r\n\r\n{")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
            sock.close()
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=8) == 0
    assert not [r for r in daemon.records if r.get("level") in ("ERROR", "CRITICAL", "RAW")]

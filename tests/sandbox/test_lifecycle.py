"""Threads and stop of the sandbox (house style §3.1, §3.9; its imports: tests/test_layers.py)."""

from __future__ import annotations

import socket
import threading

import pytest

from lpbot.sandbox import Sandbox

from .conftest import open_consumer, signup


def _lpbot_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("lpbot-sandbox")]


def test_threads_are_named_and_joined_and_stop_is_idempotent() -> None:
    sandbox = Sandbox().start()
    assert sandbox.start() is sandbox  # starting twice is harmless
    names = _lpbot_threads()
    assert "lpbot-sandbox-ws" in names
    assert "lpbot-sandbox-http" in names
    client = open_consumer(sandbox, signup(sandbox))
    client.ok("GetClock")
    sandbox.stop()
    assert client.closed()[0] == 1001  # going away
    sandbox.stop()
    assert _lpbot_threads() == []
    with pytest.raises(RuntimeError, match="restarted"):
        sandbox.start()


def test_no_thread_is_left_even_with_a_host_name() -> None:
    before = set(threading.enumerate())
    with Sandbox(host="localhost") as sandbox:
        client = open_consumer(sandbox, signup(sandbox))
        client.ok("GetClock")
        client.close()
    # only threads born in this test count: an earlier test's client may still be winding down
    assert set(threading.enumerate()) - before == set()


def test_ports_are_freed_on_stop() -> None:
    with Sandbox() as sandbox:
        ports = (sandbox.http_port, sandbox.ws_port)
    for port in ports:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", port))


def test_binds_to_loopback_only_by_default() -> None:
    """127.0.0.2 is loopback too, but only a wildcard bind would answer there."""
    with Sandbox() as sandbox:
        for port in (sandbox.http_port, sandbox.ws_port):
            with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
                probe.connect(("127.0.0.2", port))
            with socket.create_connection(("127.0.0.1", port), timeout=5):
                pass


def test_fixed_ports_are_honoured() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    with Sandbox(port=free) as sandbox:
        assert sandbox.http_port == free


def test_agent_control_needs_a_running_sandbox() -> None:
    with pytest.raises(RuntimeError, match="not running"):
        Sandbox().agents.accept("x")

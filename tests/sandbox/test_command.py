"""``lpbot sandbox`` as a real process: prints the domain-lookup URL, serves, stops on SIGTERM."""

from __future__ import annotations

import argparse
import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import requests
from websockets.sync.client import connect

from lpbot.cli.sandbox import configure_parser
from lpbot.testing.harness import signal_another_thread
from lpbot.testing.pytest_plugin import needs_tgkill


def _first_line(process: subprocess.Popen[str], timeout: float) -> str:
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise AssertionError(f"lpbot sandbox printed nothing within {timeout} s")
    return process.stdout.readline().strip()


@contextmanager
def _sandbox(*args: str) -> Iterator[subprocess.Popen[str]]:
    """``lpbot sandbox --port 0 ARGS`` as a process, killed and reaped if a test left it running."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "lpbot", "sandbox", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
        assert process.stdout is not None
        assert process.stderr is not None
        process.stdout.close()
        process.stderr.close()


def _consumer(url: str, account: str) -> tuple[str, str]:
    """Sign up through the services the domain lookup at ``url`` names: (token, socket URL)."""
    services = {
        s["service"]: s["baseURI"] for s in requests.get(url, timeout=5).json()["baseURIs"]
    }
    http = f"http://{services['idp']}"
    token = requests.post(f"{http}/api/account/{account}/signup", timeout=5).json()["jwt"]
    ws = f"ws://{services['asyncMessagingEnt']}/ws_api/account/{account}/messaging/consumer?v=3"
    return token, ws


def test_prints_the_url_serves_and_exits_0_on_sigterm() -> None:
    with _sandbox("--account", "acme", "--agent-mode", "rules", "--rule", "hi=>hello there",
                  "--accept-delay", "0", "--wire-variants", "canonical") as process:
        url = _first_line(process, timeout=20)
        assert url.startswith("http://127.0.0.1:")
        assert url.endswith("/api/account/acme/service/baseURI.json?version=1.0")
        token, ws_url = _consumer(url, "acme")
        with connect(ws_url, additional_headers={"Authorization": f"jwt {token}"}) as ws:
            ws.send('{"kind":"req","id":"1","type":"cm.ConsumerRequestConversation"}')
            cid = json.loads(ws.recv(timeout=5))["body"]["conversationId"]
            ws.send(
                f'{{"kind":"req","id":"2","type":"ms.SubscribeMessagingEvents","body":{{"dialogId":"{cid}"}}}}'
            )
            ws.send(
                f'{{"kind":"req","id":"3","type":"ms.PublishEvent","body":{{"dialogId":"{cid}","event":'
                '{"type":"ContentEvent","contentType":"text/plain","message":"hi"}}}'
            )
            deadline = time.monotonic() + 5
            texts = []
            while "hello there" not in texts and time.monotonic() < deadline:
                frame = json.loads(ws.recv(timeout=deadline - time.monotonic()))
                for change in (
                    frame.get("body", {}).get("changes", [])
                    if frame["kind"] == "notification"
                    else []
                ):
                    texts.append(change.get("event", {}).get("message"))
            assert "hello there" in texts
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


def test_host_option_and_sigint_also_stops_cleanly() -> None:
    with _sandbox("--agents", "1", "--host", "localhost") as process:
        url = _first_line(process, timeout=20)
        assert url.startswith("http://localhost:")
        assert (
            requests.get(url, timeout=5).json()["baseURIs"][0]["baseURI"].startswith("localhost:")
        )
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0


@needs_tgkill
def test_sigterm_delivered_to_a_thread_other_than_main_still_stops_it() -> None:
    with _sandbox("--agents", "1") as process:
        _first_line(process, timeout=20)
        signal_another_thread(process.pid, signal.SIGTERM)
        assert process.wait(timeout=10) == 0


def test_bad_options_exit_non_zero() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "lpbot", "sandbox", "--rule", "no-arrow"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert "PATTERN=>REPLY" in done.stderr


def test_binds_to_loopback_by_default() -> None:
    parser = argparse.ArgumentParser()
    configure_parser(parser)
    assert parser.parse_args([]).host == "127.0.0.1"


def test_debug_logs_never_show_a_consumer_token() -> None:
    with _sandbox("--log-level", "DEBUG") as process:
        token, ws_url = _consumer(_first_line(process, timeout=20), "sandbox")
        with connect(ws_url, additional_headers={"Authorization": f"jwt {token}"}) as ws:
            ws.send('{"kind":"req","id":"1","type":"GetClock"}')
            assert json.loads(ws.recv(timeout=5))["reqId"] == "1"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert process.stderr is not None
        errors = process.stderr.read()
    assert "Authorization: jwt ***" in errors  # websockets did log the handshake's headers
    assert token not in errors
    assert token.split(".")[1] not in errors


def test_prints_rules_and_the_seed_that_replays_its_wire_variants() -> None:
    """``--seed`` replays the same choice per connection; the summary names mode and seed."""
    spellings = []
    for _ in range(2):
        with _sandbox("--seed", "4242", "--lenient") as process:
            token, ws_url = _consumer(_first_line(process, timeout=20), "sandbox")
            with connect(ws_url, additional_headers={"Authorization": f"jwt {token}"}) as ws:
                ws.send('{"kind":"req","id":"1","type":"cqm.SubscribeExConversations"}')
                frames = [json.loads(ws.recv(timeout=5)) for _ in range(2)]
            spellings.append(next(f["type"] for f in frames if "subscriptionId" in f.get("body", {})
                                  and "changes" in f["body"]))
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=10) == 0
            assert process.stderr is not None
            summary = process.stderr.read()
            assert "lenient rules" in summary
            assert "wire variants random (seed 4242)" in summary
    assert spellings[0] == spellings[1]
    assert spellings[0].endswith("ExConversationChangeNotification")


def test_wire_variants_and_strictness_options() -> None:
    parser = argparse.ArgumentParser()
    configure_parser(parser)
    defaults = parser.parse_args([])
    assert (defaults.lenient, defaults.wire_variants, defaults.seed) == (False, "random", None)
    chosen = parser.parse_args(["--lenient", "--wire-variants", "legacy", "--seed", "7"])
    assert (chosen.lenient, chosen.wire_variants, chosen.seed) == (True, "legacy", 7)

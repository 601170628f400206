"""TLS: every service of ``Sandbox(tls=True)`` is https/wss, verified against its throw-away CA.

A neutral client (requests, websockets, curl) checks each rule of docs/sandbox-production.md
"TLS": the CA file is what makes a client trust the sandbox, and nothing else does.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests
from websockets.sync.client import connect

from lpbot.sandbox import Sandbox
from lpbot.sandbox.tls import SandboxCertificates

from .conftest import load_fixture, open_consumer, signup


def _get(sandbox: Sandbox, path: str, **kwargs: object) -> requests.Response:
    return requests.get(f"{sandbox.http_url}{path}", timeout=5, verify=sandbox.ca_file,
                        **kwargs)  # type: ignore[arg-type]


def test_every_url_is_https_or_wss_and_the_ca_file_is_pem(tls_sandbox: Sandbox) -> None:
    assert tls_sandbox.http_url.startswith("https://127.0.0.1:")
    assert tls_sandbox.csds_url.startswith("https://127.0.0.1:")
    assert tls_sandbox.ws_url.startswith("wss://127.0.0.1:")
    assert tls_sandbox.ca_file is not None
    assert Path(tls_sandbox.ca_file).read_text().startswith("-----BEGIN CERTIFICATE-----")


def test_csds_idp_profiles_files_and_console_over_https(tls_sandbox: Sandbox) -> None:
    account = tls_sandbox.account
    services = {
        s["service"]: s["baseURI"]
        for s in requests.get(tls_sandbox.csds_url, timeout=5,
                              verify=tls_sandbox.ca_file).json()["baseURIs"]
    }
    idp = f"https://{services['idp']}"
    token = requests.post(f"{idp}/api/account/{account}/signup", timeout=5,
                          verify=tls_sandbox.ca_file).json()["jwt"]
    consumer = open_consumer(tls_sandbox, token)
    try:
        cid = consumer.request_conversation()
        agent = tls_sandbox.wait_for_event(cid, lambda e: e.role == "ASSIGNED_AGENT").originator_id
        profile = requests.get(
            f"https://{services['acCdnDomain']}/api/account/{account}/configuration/le-users/"
            f"users/{agent}", timeout=5, verify=tls_sandbox.ca_file)
        assert profile.status_code == 200
        upload = consumer.ok("ms.GenerateURLForUploadFile",
                             load_fixture("22-req-ms_GenerateURLForUploadFile.json")["body"])
        path, params = upload["body"]["relativePath"], upload["body"]["queryParams"]
        swift = f"https://{services['swift']}{path}"
        put = requests.put(swift, params=params, data=b"\xff\xd8 jpeg", timeout=5,
                           verify=tls_sandbox.ca_file)
        assert put.status_code == 201
    finally:
        consumer.close()
    console = _get(tls_sandbox, "/console")
    assert console.status_code == 200
    assert "text/html" in console.headers["Content-Type"]


def test_a_client_without_the_ca_file_is_refused(tls_sandbox: Sandbox) -> None:
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(tls_sandbox.csds_url, timeout=5, verify=True)
    with pytest.raises(ssl.SSLCertVerificationError):
        connect(tls_sandbox.ws_url, ssl=ssl.create_default_context(), open_timeout=5)


def test_plain_http_and_ws_to_a_tls_sandbox_get_nothing_and_it_keeps_serving(
        tls_sandbox: Sandbox) -> None:
    plain = tls_sandbox.csds_url.replace("https://", "http://")
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(plain, timeout=5)
    with pytest.raises(Exception) as refused:  # noqa: PT011 - any failure, never a session
        connect(tls_sandbox.ws_url.replace("wss://", "ws://"), open_timeout=5)
    assert not isinstance(refused.value, AssertionError)
    assert requests.get(tls_sandbox.csds_url, timeout=5,
                        verify=tls_sandbox.ca_file).status_code == 200


def test_a_silent_tcp_client_does_not_hold_up_https(tls_sandbox: Sandbox) -> None:
    """The TLS handshake happens on the request's own thread, not the accepting one."""
    with socket.create_connection(("127.0.0.1", tls_sandbox.http_port)) as silent:
        assert silent.fileno() >= 0
        reply = requests.get(tls_sandbox.csds_url, timeout=5, verify=tls_sandbox.ca_file)
        assert reply.status_code == 200


def test_the_consumer_websocket_is_wss(tls_sandbox: Sandbox) -> None:
    consumer = open_consumer(tls_sandbox, signup(tls_sandbox))
    try:
        assert consumer.ok("GetClock")["body"]["currentTime"] > 0
    finally:
        consumer.close()


def test_the_ca_file_is_removed_at_stop_unless_its_path_was_given(tmp_path: Path) -> None:
    with Sandbox(tls=True) as temporary:
        made = Path(str(temporary.ca_file))
        assert made.exists()
    assert not made.exists()
    chosen = tmp_path / "certs" / "sandbox-ca.pem"
    with Sandbox(tls=True, ca_path=chosen) as kept:
        assert kept.ca_file == str(chosen)
    assert chosen.read_text().startswith("-----BEGIN CERTIFICATE-----")


def test_lpbot_sandbox_tls_prints_the_ca_file_and_curl_cacert_trusts_it(tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.pem"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(  # noqa: S603 - our own command
        [sys.executable, "-m", "lpbot", "sandbox", "--tls", "--port", "0", "--ca-file",
         str(ca_file), "--agents", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        assert process.stderr is not None
        url = process.stdout.readline().strip()
        assert url.startswith("https://127.0.0.1:"), url
        notes = ""
        while "TLS" not in notes:
            line = process.stderr.readline()
            assert line, "no TLS line before the sandbox's output ended"
            notes += line
        assert f"trust the CA in {ca_file}" in notes
        done = subprocess.run(["curl", "-sS", "--cacert", str(ca_file), url],  # noqa: S603,S607
                              capture_output=True, text=True, timeout=20, check=False)
        assert done.returncode == 0, done.stderr
        assert {s["service"] for s in json.loads(done.stdout)["baseURIs"]} >= {"idp", "swift"}
        refused = subprocess.run(["curl", "-sS", "--cacert", "/dev/null", url],  # noqa: S603,S607
                                 capture_output=True, text=True, timeout=20, check=False)
        assert refused.returncode != 0
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def _handshake(certificates: SandboxCertificates, server_hostname: str) -> None:
    """A TLS handshake over a socket pair, the client checking ``server_hostname``."""
    server_end, client_end = socket.socketpair()
    with server_end, client_end:
        server_end.settimeout(5)
        client_end.settimeout(5)
        done = threading.Event()

        def serve() -> None:
            with contextlib.suppress(OSError), certificates.server_context().wrap_socket(
                    server_end, server_side=True) as tls:
                tls.recv(1)
            done.set()

        thread = threading.Thread(target=serve, name="test-tls-server")
        thread.start()
        try:
            with certificates.client_context().wrap_socket(
                    client_end, server_hostname=server_hostname) as tls:
                tls.sendall(b"x")
        finally:
            client_end.close()
            thread.join(5)
        assert done.is_set()


@pytest.mark.parametrize(("host", "name"), [("127.0.0.1", "localhost"),
                                            ("127.0.0.1", "127.0.0.1"),
                                            ("0.0.0.0", socket.gethostname()),  # noqa: S104
                                            ("sandbox.test", "sandbox.test")])
def test_the_certificate_names_loopback_and_the_bind_host(host: str, name: str) -> None:
    certificates = SandboxCertificates(host)
    try:
        _handshake(certificates, name)
        with pytest.raises(ssl.SSLCertVerificationError):
            _handshake(certificates, "elsewhere.example")
    finally:
        certificates.cleanup()

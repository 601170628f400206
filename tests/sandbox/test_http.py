"""Domain lookup (CSDS) in all its forms and the HTTP listener's edges (protocol notes §1)."""

from __future__ import annotations

import json

import pytest
import requests

from lpbot.sandbox import Sandbox

SERVICES = {"asyncMessagingEnt", "idp", "acCdnDomain", "swift"}


def test_all_services_both_paths(sandbox: Sandbox) -> None:
    for prefix in ("api", "csdr"):
        url = f"{sandbox.http_url}/{prefix}/account/{sandbox.account}/service/baseURI.json"
        data = requests.get(url, params={"version": "1.0"}, timeout=5).json()
        assert {s["service"] for s in data["baseURIs"]} == SERVICES
        assert all(s["account"] == sandbox.account for s in data["baseURIs"])


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_single_service(sandbox: Sandbox, service: str) -> None:
    url = f"{sandbox.http_url}/api/account/{sandbox.account}/service/{service}/baseURI.json"
    url += "?version=1.0"
    data = requests.get(url, timeout=5).json()
    assert data["service"] == service
    assert data["account"] == sandbox.account
    port = sandbox.ws_port if service == "asyncMessagingEnt" else sandbox.http_port
    assert data["baseURI"] == f"127.0.0.1:{port}"


def test_csds_errors_and_jsonp(sandbox: Sandbox) -> None:
    base = f"{sandbox.http_url}/api/account/{sandbox.account}/service"
    assert requests.get(f"{base}/baseURI.json", timeout=5).status_code == 400  # version is required
    assert (
        requests.get(f"{base}/AsyncMessagingEnt/baseURI.json?version=1.0", timeout=5).status_code
        == 404
    )
    jsonp = requests.get(
        f"{sandbox.http_url}/csdr/account/{sandbox.account}/service/idp/baseURI.lpCsds",
        params={"version": "1.0", "cb": "f"},
        timeout=5,
    )
    expected = {"ResultSet": {"lpData": [{"lpServer": sandbox.csds_domain}]}}
    assert jsonp.text == f"f({json.dumps(expected, separators=(',', ':'))});"


def test_unknown_paths_and_methods(sandbox: Sandbox) -> None:
    assert requests.get(f"{sandbox.http_url}/nothing", timeout=5).status_code == 404
    assert requests.get(f"{sandbox.http_url}/api/account/a/signup", timeout=5).status_code == 405
    reply = requests.delete(sandbox.csds_url, timeout=5)
    assert reply.status_code == 405
    assert json.loads(reply.text)["error"]


def test_routes_can_be_added(sandbox: Sandbox) -> None:
    from lpbot.sandbox.http import HttpReply

    sandbox.add_route(
        "GET",
        r"/extra/?",
        lambda request: HttpReply(body=b"<h1>extra</h1>", content_type="text/html"),
    )
    assert requests.get(f"{sandbox.http_url}/extra", timeout=5).text == "<h1>extra</h1>"


def test_addresses(sandbox: Sandbox) -> None:
    assert sandbox.http_url == f"http://127.0.0.1:{sandbox.http_port}"
    assert sandbox.csds_domain == f"127.0.0.1:{sandbox.http_port}"
    assert (
        sandbox.ws_url
        == f"ws://127.0.0.1:{sandbox.ws_port}/ws_api/account/sandbox/messaging/consumer?v=3"
    )
    assert sandbox.csds_url.endswith("/api/account/sandbox/service/baseURI.json?version=1.0")


def test_addresses_need_a_started_sandbox() -> None:
    with pytest.raises(RuntimeError, match="not started"):
        _ = Sandbox().http_url

"""``lpbot sandbox-ctl`` against a running sandbox's HTTP control routes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from lpbot.cli import main
from lpbot.client import Client, ClientOptions
from lpbot.sandbox import Sandbox
from lpbot.testing import wait_until

pytestmark = pytest.mark.lp_sandbox_tls  # against a plain and a TLS sandbox


def ctl(sandbox: Sandbox, *args: str) -> int:
    trust = ["--ca-file", sandbox.ca_file] if sandbox.ca_file else []
    return main(["sandbox-ctl", "--url", sandbox.http_url, *trust, *args])


def test_agent_actions_and_faults_reach_the_sandbox(
    lp_sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client = Client(ClientOptions(account=lp_sandbox.account, csds_domain=lp_sandbox.csds_domain,
                                  tls=lp_sandbox.tls, ca_file=lp_sandbox.ca_file),
                    state_dir=tmp_path)
    try:
        client.connect(timeout=5)
        conversation = client.open_conversation()
        capsys.readouterr()

        assert ctl(lp_sandbox, "say", conversation.id, "text=from the shell") == 0
        assert "sequence" in json.loads(capsys.readouterr().out)
        wait_until(lambda: "from the shell" in lp_sandbox.conversation(conversation.id).texts(),
                   5, "the agent's message")

        assert ctl(lp_sandbox, "conversations") == 0
        listed = json.loads(capsys.readouterr().out)
        assert conversation.id in [record["conversation_id"] for record in listed]

        assert ctl(lp_sandbox, "drop_all", "code=4000") == 0
        assert json.loads(capsys.readouterr().out) == {"dropped": 1}

        assert ctl(lp_sandbox, "close", conversation.id, "reason=SYSTEM") == 0
        wait_until(lambda: lp_sandbox.conversation(conversation.id).state == "CLOSE", 5,
                   "the system close")
    finally:
        client.close()


def test_refusals_and_mistakes_have_their_exit_codes(
    lp_sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    assert ctl(lp_sandbox, "say", "no-such-conversation", "text=hi") == 1
    assert "error" in json.loads(capsys.readouterr().out)
    assert ctl(lp_sandbox, "say", "text=hi") == 2
    assert "needs a conversation id" in capsys.readouterr().err
    assert ctl(lp_sandbox, "reject_next", "count") == 2
    assert main(["sandbox-ctl", "--url", "http://127.0.0.1:9", "reset"]) == 3
    assert "cannot reach" in capsys.readouterr().err


def test_invite_opens_a_call_dialog_and_ends_it(
    lp_sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    features = ["RICH_CONTENT", "CO_BROWSE"]
    client = Client(ClientOptions(account=lp_sandbox.account, csds_domain=lp_sandbox.csds_domain,
                                  tls=lp_sandbox.tls, ca_file=lp_sandbox.ca_file,
                                  client_properties={"features": features}),
                    state_dir=tmp_path)
    try:
        client.connect(timeout=5)
        conversation = client.open_conversation()
        capsys.readouterr()
        assert ctl(lp_sandbox, "invite", conversation.id, "kind=voice") == 0
        dialog_id = json.loads(capsys.readouterr().out)["dialogId"]
        wait_until(lambda: len(conversation.state.dialogs) == 2, 5, "the voice dialog")
        call = conversation.state.dialogs[1]
        assert (call.dialog_id, call.channel_type, call.meta_data["mode"]) == (
            dialog_id, "COBROWSE", "VOICE_CALL")
        assert ctl(lp_sandbox, "session_state", conversation.id, f"dialog={dialog_id}",
                   "state=CLOSED") == 0
        wait_until(lambda: not conversation.state.dialogs[1].is_open, 5, "the call's end")
        assert ctl(lp_sandbox, "invite", conversation.id, "kind=telegram") == 1
        assert "kind must be one of" in capsys.readouterr().out
    finally:
        client.close()


def test_identity_faults_reach_the_identity_service(
    lp_sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    idp = f"{lp_sandbox.http_url}/api/account/{lp_sandbox.account}"
    verify = lp_sandbox.ca_file or True

    def acr0_login() -> int:
        external = requests.post(f"{idp}/anonymous/authorize", timeout=5, verify=verify,
                                 headers={"Content-Type": "application/json"}).json()["token"]
        return requests.post(f"{idp}/app/acr0/authenticate", params={"v": "3.0"}, timeout=5,
                             verify=verify, json={"id_token": external}).status_code

    assert ctl(lp_sandbox, "revoke_connector") == 0
    assert acr0_login() == 403
    assert ctl(lp_sandbox, "reset") == 0
    assert acr0_login() == 200
    assert ctl(lp_sandbox, "fail_identity", "count=1", "status=503") == 0
    assert requests.post(f"{idp}/signup", timeout=5, verify=verify).status_code == 503
    assert ctl(lp_sandbox, "refuse_codes", "count=1") == 0
    code = lp_sandbox.mint_auth_code("customer-1")
    refused = requests.post(f"{idp}/app/default/authenticate", params={"v": "2.0"}, timeout=5,
                            verify=verify, json={"code": code})
    assert refused.status_code == 400
    capsys.readouterr()
    assert ctl(lp_sandbox, "drop_all", "code=4407", "consumer=nobody") == 0
    assert json.loads(capsys.readouterr().out) == {"dropped": 0}

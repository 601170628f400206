"""The README's "Using the client" example, verbatim, run against a real sandbox."""

from __future__ import annotations


def test_readme_example(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    # --- begin README example -------------------------------------------------------------
    import threading

    from lpbot.client import Client, ClientOptions
    from lpbot.protocol.names import Role
    from lpbot.sandbox import Sandbox

    replied = threading.Event()

    def on_message(event):
        # Runs on the client's reader thread: keep it quick (hand work to your own threads).
        if event.role == Role.ASSIGNED_AGENT and getattr(event.event, "text", None):
            print("agent:", event.event.text)  # noqa: T201
            replied.set()

    with Sandbox() as sandbox:
        options = ClientOptions(account=sandbox.account, csds_domain=sandbox.csds_domain,
                                tls=False)  # the sandbox speaks plain ws/http on loopback
        with Client(options, state_dir="lpbot-state", on_message=on_message) as client:
            client.connect(timeout=10)
            conversation = client.open_conversation()  # reuses an OPEN one after a restart
            conversation.send_text("Where is my order?")
            replied.wait(10)
            conversation.close()
    # --- end README example ---------------------------------------------------------------
    assert replied.is_set()
    assert "agent: " in capsys.readouterr().out

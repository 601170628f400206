"""Where synthetic consumers connect: client options from a config, or an in-process sandbox.

Without a config ``lpbot synth`` starts a sandbox per scenario file, with the agents the file's
``[scenario.sandbox]`` table asks for (or ``--agent-mode``), so a sample runs on a fresh install.
With a config, its ``[account]`` is used, or its ``[sandbox]`` when that is enabled.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from lpbot.client import ClientOptions, token_provider
from lpbot.runtime.config import Config, SandboxSection
from lpbot.synthetic.scenario import SandboxSettings

if TYPE_CHECKING:
    from lpbot.testing import Sandbox

__all__ = ["client_options", "sandbox_options", "start_sandbox"]


def client_options(config: Config) -> ClientOptions:
    """Client options for synthetic consumers of ``config``'s ``[account]``.

    With ``auth = "authenticated"`` every run asks the token source for a brand token; give a
    ``token_function`` that returns a token for a new subject each call, or every run is the
    same consumer (and they share one conversation).
    """
    account = config.account
    provider = None
    if account.auth == "authenticated":
        secret = account.brand_token
        provider = token_provider(command=account.token_command,
                                  function=account.token_function,
                                  token=secret.reveal() if secret is not None else None)
    options = ClientOptions(
        account=account.id, csds_domain=account.csds_domain, tls=account.tls,
        ca_file=str(account.ca_file) if account.ca_file is not None else None,
        token_provider=provider, auth_mode="init" if account.auth_mode == "init" else "header")
    if account.client_properties is not None:
        options = replace(options, client_properties=dict(account.client_properties))
    return options


def sandbox_options(sandbox: Sandbox) -> ClientOptions:
    """Client options for consumers of a running sandbox (plain ``ws``/``http``)."""
    return ClientOptions(account=sandbox.account, csds_domain=sandbox.csds_domain, tls=False)


def start_sandbox(settings: SandboxSettings | SandboxSection, *,
                  agent_mode: str | None = None) -> Sandbox:
    """Start an in-process sandbox whose agents follow ``settings`` (``agent_mode`` overrides)."""
    from lpbot.testing import AgentOptions, Sandbox

    if isinstance(settings, SandboxSection):
        agents = AgentOptions(
            count=settings.agents, mode=agent_mode or settings.agent_mode, rules=settings.rules,
            accept_delay=settings.accept_delay, reply_delay=settings.reply_delay,
            greeting=settings.greeting, receipts=settings.receipts, typing=settings.typing)
        account = settings.account
    else:
        agents = AgentOptions(mode=agent_mode or settings.agent_mode, rules=settings.rules,
                              accept_delay=settings.accept_delay,
                              reply_delay=settings.reply_delay, greeting=settings.greeting)
        account = "sandbox"
    return Sandbox(account=account, agents=agents).start()

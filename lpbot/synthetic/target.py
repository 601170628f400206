"""Where synthetic consumers connect: a configured account, or an in-process sandbox.

Without a config ``lpbot synth`` starts a sandbox per scenario file, with the agents the file's
``[scenario.sandbox]`` table asks for (or ``--agent-mode``), so a sample runs on a fresh install.
With a config, its ``[account]`` is used (:func:`lpbot.runtime.client_options.client_options`),
or its ``[sandbox]`` when that is enabled.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from lpbot.client import ClientOptions
from lpbot.errors import ConfigError
from lpbot.runtime.config import SandboxSection
from lpbot.runtime.sandbox_options import load_flow_file
from lpbot.runtime.sandbox_options import start_sandbox as start_configured_sandbox
from lpbot.synthetic.scenario import SandboxSettings

if TYPE_CHECKING:
    from lpbot.testing import Sandbox

__all__ = ["sandbox_options", "start_sandbox"]


def sandbox_options(sandbox: Sandbox) -> ClientOptions:
    """Client options for consumers of a running sandbox (TLS, trusting its CA, if it has it)."""
    return ClientOptions(account=sandbox.account, csds_domain=sandbox.csds_domain,
                         tls=sandbox.tls, ca_file=sandbox.ca_file)


def start_sandbox(settings: SandboxSettings | SandboxSection, *,
                  agent_mode: str | None = None, flow: str | None = None,
                  base: Path | None = None) -> Sandbox:
    """Start an in-process sandbox whose agents follow ``settings``.

    ``settings`` is a config's ``[sandbox]`` table or a scenario file's ``[scenario.sandbox]``;
    ``agent_mode`` and ``flow`` (a flow file, for ``agent_mode = "flow"``) override it. A
    missing or wrong flow file raises ``ConfigError``; a config's relative flow path is read
    from ``base``, the config file's folder. It serves TLS (unless a config's
    ``[sandbox] tls = false``); :func:`sandbox_options` trusts its CA.
    """
    if isinstance(settings, SandboxSection):
        return start_configured_sandbox(settings, mode=agent_mode, flow=flow, base=base)
    from lpbot.testing import AgentOptions, Sandbox

    flow_file = flow or settings.flow
    mode = agent_mode or ("flow" if flow else settings.agent_mode)
    if mode == "flow" and flow_file is None:
        raise ConfigError("agent mode flow needs a flow file (--flow FILE)")
    agents = AgentOptions(mode=mode, rules=settings.rules,
                          flow=load_flow_file(flow_file) if mode == "flow" and flow_file else None,
                          accept_delay=settings.accept_delay, reply_delay=settings.reply_delay,
                          greeting=settings.greeting)
    return Sandbox(account="sandbox", agents=agents, tls=True).start()  # as LivePerson

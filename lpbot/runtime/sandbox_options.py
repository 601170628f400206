"""The in-process sandbox of a config's ``[sandbox]`` table: its agents, and starting it.

Used by ``lpbot run`` (the embedded default runs on it) and by ``lpbot synth`` with a config
whose sandbox is enabled, so both build the same agents from the same keys.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from lpbot.errors import ConfigError
from lpbot.runtime.config import SandboxSection

if TYPE_CHECKING:
    from lpbot.sandbox import AgentOptions, Flow, Sandbox

__all__ = ["agent_options", "load_flow_file", "start_sandbox"]


def load_flow_file(path: Path | str) -> Flow:
    """The checked flow file at ``path`` (docs/bot-testing.md); ``ConfigError`` if it is wrong."""
    from lpbot.sandbox import FlowError, load_flow

    try:
        return load_flow(path)
    except FlowError as exc:
        raise ConfigError(str(exc).removeprefix(f"{exc.file}: "), path=exc.file) from exc


def agent_options(settings: SandboxSection, *, mode: str | None = None,
                  flow: Path | str | None = None, base: Path | None = None) -> AgentOptions:
    """The simulated agents that ``settings`` asks for.

    ``mode`` overrides its agent_mode, ``flow`` its flow file (and implies mode ``flow``); the
    table's own relative flow path is read from ``base`` (the config file's folder). A missing
    or wrong flow file raises ``ConfigError``.
    """
    from lpbot.sandbox import AgentOptions  # the sandbox's libraries load only when used

    chosen = mode or ("flow" if flow is not None else settings.agent_mode)
    loaded = None
    if chosen == "flow":
        path = settings.flow
        if flow is not None:
            path = Path(flow)  # given on the command line: as it is
        elif path is not None and not path.is_absolute() and base is not None:
            path = base / path
        if path is None:
            raise ConfigError("agent_mode flow needs flow = FILE", key="sandbox.flow")
        loaded = load_flow_file(path)
    return AgentOptions(
        count=settings.agents, mode=chosen, rules=settings.rules, flow=loaded,
        accept_delay=settings.accept_delay, reply_delay=settings.reply_delay,
        greeting=settings.greeting, receipts=settings.receipts, typing=settings.typing)


def start_sandbox(settings: SandboxSection, *, mode: str | None = None,
                  flow: Path | str | None = None, base: Path | None = None) -> Sandbox:
    """Start a sandbox on 127.0.0.1 as ``settings`` say; the caller stops it.

    It serves TLS unless ``settings.tls`` is off; its ``ca_file`` is what clients trust.

    Raises:
        OSError: it could not listen.
        ConfigError: the flow file of its agents is missing or wrong.
    """
    from lpbot.sandbox import Sandbox

    agents = agent_options(settings, mode=mode, flow=flow, base=base)
    return Sandbox(account=settings.account, agents=agents, tls=settings.tls,
                   lenient=settings.lenient, wire_variants=settings.wire_variants,
                   seed=settings.seed,
                   closed_retention=settings.closed_retention).start()

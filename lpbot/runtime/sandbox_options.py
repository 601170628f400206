"""The in-process sandbox of a config's ``[sandbox]`` table: its agents, and starting it.

Used by ``lpbot run`` (the embedded default runs on it) and by ``lpbot synth`` with a config
whose sandbox is enabled, so both build the same agents from the same keys.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lpbot.runtime.config import SandboxSection

if TYPE_CHECKING:
    from lpbot.sandbox import AgentOptions, Sandbox

__all__ = ["agent_options", "start_sandbox"]


def agent_options(settings: SandboxSection, *, mode: str | None = None) -> AgentOptions:
    """The simulated agents that ``settings`` asks for (``mode`` overrides its agent_mode)."""
    from lpbot.sandbox import AgentOptions  # the sandbox's libraries load only when used

    return AgentOptions(
        count=settings.agents, mode=mode or settings.agent_mode, rules=settings.rules,
        accept_delay=settings.accept_delay, reply_delay=settings.reply_delay,
        greeting=settings.greeting, receipts=settings.receipts, typing=settings.typing)


def start_sandbox(settings: SandboxSection, *, mode: str | None = None) -> Sandbox:
    """Start a sandbox on 127.0.0.1 with ``settings``' account and agents; the caller stops it.

    It serves TLS unless ``settings.tls`` is off; its ``ca_file`` is what clients trust.

    Raises:
        OSError: it could not listen.
    """
    from lpbot.sandbox import Sandbox

    return Sandbox(account=settings.account, agents=agent_options(settings, mode=mode),
                   tls=settings.tls, lenient=settings.lenient,
                   wire_variants=settings.wire_variants, seed=settings.seed).start()

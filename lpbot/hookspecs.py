"""Hook specifications: every extension point of lpbot, one documented function each.

Implement a hook by defining a function (or method) with the same name, decorated with
``@lpbot.hookimpl``. An implementation may accept any subset of the arguments, by name, so a
hook can gain arguments without breaking plugins. Hook wrappers are refused.

*Life-cycle* hooks run on the main thread, in order. *Event* hooks run on a dispatcher worker
thread (``lpbot-worker-<n>``): events of one conversation arrive in order, events of different
conversations may run in parallel. An event hook that raises is logged with the plugin's name,
counted, and skipped; the other implementations and later events still run.

An event hook holds its worker, and with it every conversation sharded to that worker. To wait
(a typing delay, a follow-up), return and let ``bot.call_later(seconds, fn, conversation)`` run
the rest: the worker goes on with other conversations, and this conversation's later events
wait until ``fn`` has run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from lpbot.client import Conversation, StateChange
    from lpbot.client.dialogs import CoBrowseDialog
    from lpbot.protocol.notifications import (
        ConversationDetails,
        MessagingEvent,
        Participant,
        Ttr,
    )
    from lpbot.runtime.bot import Bot
    from lpbot.runtime.config import PluginConfig
    from lpbot.runtime.scheduler import JobInfo, JobRun, Scheduler
    from lpbot.synthetic.results import RunResult

__all__ = [
    "hookimpl",
    "hookspec",
    "lpbot_configure",
    "lpbot_schedule_jobs",
    "lpbot_startup",
    "lpbot_shutdown",
    "lpbot_connection_state_changed",
    "lpbot_conversation_opened",
    "lpbot_conversation_changed",
    "lpbot_participant_joined",
    "lpbot_participant_left",
    "lpbot_ttr_changed",
    "lpbot_conversation_closed",
    "lpbot_cobrowse_dialog",
    "lpbot_message_received",
    "lpbot_accept_status_received",
    "lpbot_chat_state_received",
    "lpbot_job_added",
    "lpbot_job_ran",
    "lpbot_job_missed",
    "lpbot_job_failed",
    "lpbot_scenario_result",
    "lpbot_csat_score",
]

hookspec = pluggy.HookspecMarker("lpbot")
hookimpl = pluggy.HookimplMarker("lpbot")


# ---------------------------------------------------------------------------
# Life cycle: called on the main thread, in order, around serving
# ---------------------------------------------------------------------------


@hookspec
def lpbot_configure(bot: Bot, config: PluginConfig) -> None:
    """Read and check this plugin's config table; raise to refuse to start.

    :param bot: The bot being started; nothing is connected yet.
    :param config: This plugin's table from the config file (``config.table``), with its key
        path (``config.path``) and file (``config.file``) for error messages.

    Called once per plugin, on the main thread, before any connection is opened. A stateful
    plugin builds its instance here and registers it with ``bot.plugin_manager.register(...)``.
    Raising stops start-up (exit code 2) with a message that names the plugin.
    """


@hookspec
def lpbot_schedule_jobs(bot: Bot, scheduler: Scheduler) -> None:
    """Add this plugin's scheduled jobs with ``scheduler.add_job(...)``.

    :param bot: The bot being started; its connections are up.
    :param scheduler: The bot's scheduler. Jobs are textual references (``"pkg.mod:func"``)
        with plain-data ``kwargs`` so that they survive a restart in the persistent job store.

    Called on the main thread after the config's jobs were added and before the scheduler
    runs any job. Jobs stored by an earlier run are already in ``scheduler``: use
    ``scheduler.get_job(job_id)`` to keep them. Raising stops start-up (exit code 2).
    """


@hookspec
def lpbot_startup(bot: Bot) -> None:
    """The bot is serving: connections are up, the dispatcher and the scheduler run.

    :param bot: The running bot.

    Called once on the main thread at the end of ``Bot.start()``. Raising stops start-up
    (exit code 2) with a message that names the plugin.
    """


@hookspec
def lpbot_shutdown(bot: Bot) -> None:
    """The bot is stopping: release what ``lpbot_configure`` acquired (files, servers).

    :param bot: The stopping bot. The scheduler has stopped and every queued event was
        delivered; connections are still open, so a plugin may still send.

    Called once on the main thread during ``Bot.stop()``. An implementation that raises is
    logged and counted; the others still run and shutdown goes on.
    """


# ---------------------------------------------------------------------------
# Connections: called on a dispatcher worker thread, in order per consumer
# ---------------------------------------------------------------------------


@hookspec
def lpbot_connection_state_changed(bot: Bot, consumer: str, change: StateChange) -> None:
    """A consumer's connection changed state: connecting, connected, reconnecting, closed.

    :param bot: The bot.
    :param consumer: The name of the consumer identity (from the config's ``consumers``).
    :param change: The new state, the previous one and the reason (close code, error).

    Called on a dispatcher worker thread; changes of one consumer arrive in order.
    """


# ---------------------------------------------------------------------------
# Conversations: called on a dispatcher worker thread, in order per conversation
# ---------------------------------------------------------------------------


@hookspec
def lpbot_conversation_opened(bot: Bot, conversation: Conversation) -> None:
    """A conversation of one of the bot's consumers was seen open for the first time.

    :param bot: The bot.
    :param conversation: Handle to send, mark read, set TTR, close or rate;
        ``conversation.state`` is its latest known details.

    Called on the conversation's dispatcher worker thread, before any other event of it.
    """


@hookspec
def lpbot_conversation_changed(
    bot: Bot,
    conversation: Conversation,
    previous: ConversationDetails | None,
    current: ConversationDetails,
) -> None:
    """The details of a conversation changed (participants, TTR, stage, CSAT, state...).

    :param bot: The bot.
    :param conversation: The conversation handle.
    :param previous: The details before this change, ``None`` for the first one seen.
    :param current: The details after it.

    Called on the conversation's worker thread for every metadata change, after
    ``lpbot_conversation_opened`` and before the more specific hooks of the same change
    (``lpbot_participant_joined``, ``lpbot_ttr_changed``, ``lpbot_conversation_closed``).
    """


@hookspec
def lpbot_participant_joined(
    bot: Bot, conversation: Conversation, participant: Participant
) -> None:
    """A participant joined a conversation (typically the agent who accepted it).

    :param bot: The bot.
    :param conversation: The conversation handle.
    :param participant: Its id and role (``ASSIGNED_AGENT``, ``MANAGER``, ``READER``...).

    Called on the conversation's worker thread, once per participant and role.
    """


@hookspec
def lpbot_participant_left(
    bot: Bot, conversation: Conversation, participant: Participant
) -> None:
    """A participant left a conversation (an agent transferred it, a manager left).

    :param bot: The bot.
    :param conversation: The conversation handle.
    :param participant: Its id and the role it had.

    Called on the conversation's worker thread.
    """


@hookspec
def lpbot_ttr_changed(
    bot: Bot, conversation: Conversation, ttr: Ttr, previous: Ttr | None
) -> None:
    """A conversation's time to respond changed (type and seconds).

    :param bot: The bot.
    :param conversation: The conversation handle.
    :param ttr: The new TTR.
    :param previous: The TTR before, ``None`` if none was known.

    Called on the conversation's worker thread.
    """


@hookspec
def lpbot_conversation_closed(
    bot: Bot, conversation: Conversation, closed_by: str | None
) -> None:
    """A conversation closed.

    :param bot: The bot.
    :param conversation: The conversation handle; ``conversation.rate(...)`` submits CSAT.
    :param closed_by: The close reason from the server: ``"CONSUMER"``, ``"AGENT"``,
        ``"SYSTEM"``, ``"TIMEOUT"``, or ``None`` when the server does not say.

    Called on the conversation's worker thread, once per conversation, last of its
    conversation events.
    """


@hookspec
def lpbot_cobrowse_dialog(bot: Bot, conversation: Conversation, dialog: CoBrowseDialog) -> None:
    """An agent opened a CoBrowse, voice or video dialog, or it changed (accepted, closed).

    :param bot: The bot.
    :param conversation: The conversation handle; its messages keep going to the messaging
        dialog (MAIN, or the open survey), never to this one.
    :param dialog: The dialog as now reported: ``kind`` (``cobrowse``, ``voice``, ``video``),
        ``session_state`` (``INVITED``, ``ACCEPTED``, ``CLOSED``), ``expires``, ``service_id``.

    Called on the conversation's worker thread, after ``lpbot_conversation_changed`` of the
    same change, once per dialog that is new or changed. Such a dialog carries no messages and
    is not followed as a message stream.
    """


# ---------------------------------------------------------------------------
# Messaging events: called on a dispatcher worker thread, in sequence order per dialog
# ---------------------------------------------------------------------------


@hookspec
def lpbot_message_received(
    bot: Bot, conversation: Conversation, message: MessagingEvent
) -> None:
    """A message was published in a conversation, by an agent or by this consumer.

    :param bot: The bot.
    :param conversation: The conversation handle, to reply with ``conversation.send_text()``.
    :param message: The sequenced event; ``message.event`` is a ``ContentEvent`` (text, file)
        or a ``RichContentEvent``; ``message.role`` tells who sent it.

    Called on the conversation's worker thread exactly once per (dialog, sequence), in
    sequence order, across reconnects and restarts: the sequence is committed only after
    every implementation returned.
    """


@hookspec
def lpbot_accept_status_received(
    bot: Bot, conversation: Conversation, message: MessagingEvent
) -> None:
    """Messages were accepted (delivered) or read, by the agent or by this consumer.

    :param bot: The bot.
    :param conversation: The conversation handle.
    :param message: The sequenced event; ``message.event`` is an ``AcceptStatusEvent`` with
        ``status`` (``ACCEPT``, ``READ``...) and the ``sequence_list`` it refers to.

    Called on the conversation's worker thread, once per (dialog, sequence), in order.
    """


@hookspec
def lpbot_chat_state_received(
    bot: Bot, conversation: Conversation, message: MessagingEvent
) -> None:
    """Someone in the conversation is typing, paused, or went away.

    :param bot: The bot.
    :param conversation: The conversation handle.
    :param message: The event; ``message.event`` is a ``ChatStateEvent``. Chat states are not
        sequenced: they are delivered as they come, never replayed, and may be dropped when the
        bot is overloaded.

    Called on the conversation's worker thread.
    """


# ---------------------------------------------------------------------------
# Scheduled jobs: called on a dispatcher worker thread, in order per job
# ---------------------------------------------------------------------------


@hookspec
def lpbot_job_added(bot: Bot, job: JobInfo) -> None:
    """A job was added to (or replaced in) the job store.

    :param bot: The bot.
    :param job: The job's id, name, callable reference, trigger and next run time.

    Called on a dispatcher worker thread.
    """


@hookspec
def lpbot_job_ran(bot: Bot, run: JobRun) -> None:
    """A scheduled job ran and returned.

    :param bot: The bot.
    :param run: The job and the run time it was scheduled for.

    Called on a dispatcher worker thread after the job returned.
    """


@hookspec
def lpbot_job_missed(bot: Bot, run: JobRun) -> None:
    """A scheduled run was skipped: it was due longer ago than its ``misfire_grace_time``.

    :param bot: The bot.
    :param run: The job and the run time it missed.

    Called on a dispatcher worker thread; the runtime also logs a warning. A missed run is
    never silent.
    """


@hookspec
def lpbot_job_failed(bot: Bot, run: JobRun) -> None:
    """A scheduled job raised.

    :param bot: The bot.
    :param run: The job, its scheduled run time, ``run.exception`` and ``run.traceback``.

    Called on a dispatcher worker thread; the runtime also logs the error.
    """


@hookspec
def lpbot_scenario_result(bot: Bot, result: RunResult) -> None:
    """A scheduled synthetic scenario run ended, passed or failed.

    :param bot: The bot.
    :param result: The run: ``result.ok``, ``result.failure``, each step's duration, the
        transcript and ``result.first_response``.

    Called on a dispatcher worker thread, in order per scenario; the runtime has already
    counted the run in ``bot.counters`` and logged a failure.
    """


# ---------------------------------------------------------------------------
# Providers: called where the value is needed, first non-None answer wins
# ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def lpbot_csat_score(bot: Bot, conversation: Conversation) -> int | None:
    """Choose the CSAT score (1-5) to submit for a closed conversation.

    :param bot: The bot.
    :param conversation: The closed conversation.
    :return: A score from 1 to 5, or ``None`` to let the next implementation decide.

    Called by whoever submits CSAT, on that caller's thread. Stops at the first non-None
    result.
    """

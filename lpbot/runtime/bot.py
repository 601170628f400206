"""The Bot: wires config to consumers (clients), the dispatcher and the scheduler, in order.

``Bot.start()`` loads and configures the plugins, starts the dispatcher, connects every
consumer, starts the scheduler with the config's jobs and the plugins' jobs, then calls
``lpbot_startup``. The clients' callbacks (on their reader threads) only translate and enqueue;
hooks run on the dispatcher's workers, and each event's sequence is committed after its hooks
returned. ``Bot.stop()`` undoes it all in the fixed order its docstring lists.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from lpbot.client import Client, ClientOptions, Conversation, StateChange
from lpbot.errors import ConfigError, LpError
from lpbot.protocol.events import AcceptStatusEvent, ChatStateEvent, ContentEvent, RichContentEvent
from lpbot.protocol.notifications import ConversationChange, MessagingEvent
from lpbot.runtime.client_options import client_options
from lpbot.runtime.config import Config
from lpbot.runtime.counters import COMMIT_ERRORS, HOOK_ERRORS, Counters
from lpbot.runtime.dispatch import Dispatcher, log_tracer
from lpbot.runtime.jobs import register_bot, unregister_bot
from lpbot.runtime.plugins import PluginManager, load_plugins
from lpbot.runtime.tracking import ConversationTracker, conversation_hooks
from lpbot.stash import Stash

if TYPE_CHECKING:
    from datetime import datetime

    from lpbot.runtime.cluster import Cluster
    from lpbot.runtime.leases import Lease
    from lpbot.runtime.scheduler import JobInfo, JobRun, Scheduler

__all__ = ["Bot"]

log = logging.getLogger(__name__)

#: threads that belong to the sandbox or to the daemon's signal watch (their owners stop them),
#: not to a bot
_NOT_OURS: Final = ("lpbot-sandbox", "lpbot-signal-watch")


class Bot:
    """One bot: its consumers, plugins, dispatcher, scheduler and state directory.

    Args:
        config: The validated configuration.
        state_dir: Where identities, sequences and the job store live.
        plugins: Extra ``(name, plugin object)`` pairs to register besides the config's.
        client_options: Overrides for every consumer's ``ClientOptions`` (tests pass a
            zero-delay ``backoff``).
        client_state_dir: Where consumer identities and sequences live, if not ``state_dir``
            (the daemon keeps an in-process sandbox's throw-away identities apart).
    """

    def __init__(
        self,
        config: Config,
        *,
        state_dir: Path,
        plugins: Iterable[tuple[str, object]] = (),
        client_options: Mapping[str, Any] | None = None,
        client_state_dir: Path | None = None,
    ) -> None:
        self.config = config
        self.name = config.bot.name
        self.state_dir = Path(state_dir)
        self.client_state_dir = Path(client_state_dir or state_dir)
        self.plugin_manager = PluginManager()
        self.hook = self.plugin_manager.hook
        self.stash = Stash()
        self.counters = Counters()
        self.fatal = threading.Event()
        self.fatal_error: BaseException | None = None
        self.stopping = threading.Event()
        self.tracker = ConversationTracker(self)
        self.dispatcher = Dispatcher(
            self.plugin_manager, counters=self.counters, workers=config.bot.workers,
            queue_size=config.bot.queue_size, put_timeout=config.bot.put_timeout,
            commit_batch=config.bot.commit_batch, commit_interval=config.bot.commit_interval,
            on_fatal=self.report_fatal)
        self.scheduler: Scheduler | None = None
        #: this daemon's part of a cluster when ``[bot] state_url`` is set, else None
        self.cluster: Cluster | None = None
        self._leases: dict[str, Lease] = {}
        self._extra_plugins = list(plugins)
        self._client_options = dict(client_options or {})
        self._clients: dict[str, Client] = {}
        self._lock = threading.Lock()
        self._fatal_listeners: list[Callable[[BaseException], None]] = []
        self._started = False
        self._stopped = False
        if os.environ.get("LPBOT_TRACE_HOOKS"):
            self.dispatcher.add_tracer(log_tracer)

    def __repr__(self) -> str:
        return f"Bot(name={self.name!r}, consumers={list(self._clients)!r})"

    # --- consumers --------------------------------------------------------------------

    @property
    def consumers(self) -> list[str]:
        """Names of the connected consumers, in the order they were added."""
        with self._lock:
            return list(self._clients)

    def client(self, consumer: str | None = None) -> Client:
        """The client of ``consumer`` (default: the first configured one)."""
        with self._lock:
            if not self._clients:
                raise LookupError("the bot has no connected consumer")
            name = consumer if consumer is not None else next(iter(self._clients))
            try:
                return self._clients[name]
            except KeyError:
                raise LookupError(f"no consumer named {name!r} (known: "
                                  f"{', '.join(self._clients)})") from None

    def add_consumer(self, name: str, *, timeout: float | None = None, lease: Lease | None = None,
                     on_fenced: Callable[[], None] | None = None) -> Client:
        """Connect one more consumer identity named ``name`` (persisted in the state dir).

        In a cluster the consumer is connected under ``lease``: its identity and sequences
        live in PostgreSQL, its requests and commits are refused once the lease is lost, and
        ``on_fenced`` is called when the database refuses a commit.
        """
        if self.stopping.is_set():
            raise LpError("the bot is stopping")
        with self._lock:
            if name in self._clients:
                return self._clients[name]
        store = guard = None
        if lease is not None and self.cluster is not None:
            store = self.cluster.consumer_store(lease, on_fenced)
            guard = lease.check
            self._leases[name] = lease
        client = Client(self._options(name), state_dir=self.client_state_dir, store=store,
                        guard=guard, on_message=partial(self._on_message, name),
                        on_conversation=partial(self._on_conversation, name),
                        on_state=partial(self._on_state, name))
        with self._lock:
            self._clients[name] = client
        if self.stopping.is_set():  # interrupt() may have run just before the client was added
            client.stop_event.set()
        client.connect(timeout=self.config.bot.connect_timeout if timeout is None else timeout)
        return client

    def remove_consumer(self, name: str) -> None:
        """Close the consumer ``name`` and forget it (its lease went to another daemon)."""
        with self._lock:
            client = self._clients.pop(name, None)
            self._leases.pop(name, None)
        if client is not None:
            client.close()
            log.info("consumer %s closed and removed", name)

    def open_conversation(
        self,
        consumer: str | None = None,
        *,
        skill: str | None = None,
        campaign_id: int | str | None = None,
        engagement_id: int | str | None = None,
        context: Mapping[str, Any] | None = None,
        first_message: str | None = None,
        timeout: float | None = None,
    ) -> Conversation:
        """Open (or reuse) the open conversation of ``consumer``, optionally saying something."""
        conversation = self.client(consumer).open_conversation(
            skill_id=skill, campaign_id=campaign_id, engagement_id=engagement_id,
            context=context, timeout=timeout)
        if first_message:
            conversation.send_text(first_message)
        return conversation

    def conversation_stash(self, conversation: Conversation | str) -> Stash:
        """The conversation's stash: the same object as ``conversation.stash``.

        There is one stash per conversation; see :attr:`Conversation.stash` for its lifetime.
        An id names a conversation of the consumer that reported it (else the first one's).
        """
        if isinstance(conversation, str):
            consumer = self.tracker.activity(conversation).consumer or None
            conversation = self.client(consumer).conversation(conversation)
        return conversation.stash

    def call_later(self, delay: float, call: Callable[[], object],
                   conversation: Conversation | str) -> None:
        """Run ``call()`` in ``delay`` seconds on ``conversation``'s worker, blocking no one.

        This is how a hook waits (a typing delay, a follow-up): returning at once frees the
        worker for other conversations, while this conversation's later events wait until
        ``call`` has run, so its order is kept. ``call`` is isolated like a hook (an error is
        logged and counted). When the bot stops, pending calls run at once, before the
        workers stop. A crash before ``call`` ran loses it (the event that scheduled it was
        already committed).
        """
        conversation_id = conversation if isinstance(conversation, str) else conversation.id
        self.dispatcher.call_later(delay, conversation_id, call)

    def wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``predicate()`` (re-checked after each event) or ``timeout``; False if not.

        Returns False at once when the bot starts stopping, so jobs never delay shutdown.
        """
        return self.tracker.wait_until(predicate, timeout)

    # --- life cycle -------------------------------------------------------------------

    def start(self) -> None:
        """Configure plugins, start the dispatcher, connect, schedule jobs, call lpbot_startup.

        Raises:
            PluginError: a plugin failed to load or configure (the message names it).
            ConfigError: the config cannot work (for example a bad token source).
            LpError: a consumer could not connect (``AuthError``, ``ConnectionClosed``...).
        """
        with self._lock:
            if self._started:
                raise LpError("the bot was already started")
            self._started = True
        try:
            if self.config.bot.state_url is not None:
                from lpbot.runtime.cluster import Cluster

                self.cluster = Cluster(self, self.config.bot.state_url.reveal())
                self.cluster.open()
            self.state_dir.mkdir(parents=True, exist_ok=True)
            self.client_state_dir.mkdir(parents=True, exist_ok=True)
            register_bot(self)
            load_plugins(self.plugin_manager, self.config.plugins.enabled,
                         self.config.plugins.modules, self._extra_plugins)
            self.plugin_manager.register(self.tracker, name="lpbot.tracker")
            self._configure_plugins()
            self.dispatcher.start()
            if self.cluster is not None:
                self.cluster.start()  # consumers and the scheduler start as leases are taken
            else:
                for consumer in self.config.bot.consumers:
                    self.add_consumer(consumer)
                self.start_scheduler()
            self.dispatcher.call("lpbot_startup", {"bot": self}, strict=True)
        except BaseException:
            self.stop()
            raise
        log.info("bot %s started: consumers %s, plugins %s", self.name,
                 ", ".join(self.consumers) or "none",
                 ", ".join(self.config.plugins.enabled) or "none")

    def interrupt(self) -> None:
        """Make a ``start()`` in progress give up at once: connecting and its retries end.

        Only sets events, so it is safe from a signal handler; ``start()`` then raises and
        stops what it had started. No new consumer can be added afterwards.
        """
        self.stopping.set()
        # No lock: a signal handler runs on the main thread, which may hold it already. One C
        # call copies the values whole; add_consumer re-checks ``stopping`` after adding.
        clients = list(self._clients.values())
        for client in clients:
            client.stop_event.set()

    def stop(self, timeout: float | None = None) -> bool:
        """Stop everything within ``timeout`` seconds (default ``[bot] stop_timeout``).

        Steps, in this order:

        1. stop the scheduler: no new runs; running jobs (which see ``stopping``) finish;
        2. drain the dispatcher: queued events are delivered, workers are joined;
        3. call ``lpbot_shutdown`` (a raising plugin is logged, the others still run);
        4. close every consumer's connection (close frame, threads joined, state flushed);
        5. log any ``lpbot-`` thread still alive, by name.

        Idempotent and safe from any thread. Never raises.

        Returns:
            True if every step finished in time and no thread was left behind.
        """
        with self._lock:
            if self._stopped:
                return True
            self._stopped = True
        budget = self.config.bot.stop_timeout if timeout is None else timeout
        deadline = time.monotonic() + budget
        clean = True
        self.stopping.set()
        self.tracker.wake()
        if self.cluster is not None:
            clean &= self.cluster.stop(max(0.1, budget * 0.2))
        if self.scheduler is not None:
            clean &= self.scheduler.shutdown(max(0.1, budget * 0.4))
        clean &= self.dispatcher.drain(max(0.1, deadline - time.monotonic() - budget * 0.25))
        try:
            self.dispatcher.call("lpbot_shutdown", {"bot": self}, strict=False)
        except Exception:  # isolation boundary: stop() never raises
            log.exception("lpbot_shutdown failed")
        clean &= self._close_clients(deadline)
        if self.cluster is not None:
            self.cluster.close()  # releases the leases: another daemon takes over at once
        unregister_bot(self)
        errors = self.counters.series(HOOK_ERRORS)
        if errors:
            log.warning("hook errors while running: %s", ", ".join(
                f"plugin {plugin!r} in {hook}: {count:g}"
                for (plugin, hook), count in sorted(errors.items())))
        failed = self.counters.series(COMMIT_ERRORS)
        if failed:
            log.error("state could not be saved while running (%s): check the state directory",
                      ", ".join(f"{what}: {count:g}" for (what,), count in sorted(failed.items())))
        leftover = [t.name for t in threading.enumerate()
                    if t.name.startswith("lpbot-") and not t.name.startswith(_NOT_OURS)
                    and t.is_alive() and t is not threading.current_thread()]
        for name in leftover:
            log.error("thread %s is still running after stop", name)
        log.info("bot %s stopped%s", self.name, "" if clean and not leftover else " (not cleanly)")
        return clean and not leftover

    # --- internals ----------------------------------------------------------------------

    def _options(self, consumer: str) -> ClientOptions:
        # Sequences are committed by the dispatcher once the hooks ran, not by the client.
        return client_options(self.config.account, identity_name=consumer, auto_commit=False,
                              **self._client_options)

    def _configure_plugins(self) -> None:
        """Call each plugin's ``lpbot_configure`` with its own table; the first error stops."""
        self.dispatcher.call("lpbot_configure", {"bot": self}, strict=True,
                             per_plugin=lambda name: {"config": self.config.plugin_config(name)})

    def start_scheduler(self, claim: Callable[[str, datetime], bool] | None = None) -> None:
        """Start the scheduler on the job store with the config's and the plugins' jobs.

        ``claim(job_id, scheduled_time)`` is asked before each run (a cluster records the run
        under its lease: at most once across daemons).
        """
        from lpbot.runtime.scheduler import (
            Scheduler,  # APScheduler and SQLAlchemy load only when used
        )

        settings = self.config.scheduler
        url, table = settings.url or f"sqlite:///{self.state_dir / 'jobs.sqlite'}", None
        if self.cluster is not None and settings.url is None:
            url, table = self.cluster.job_store()
        scheduler = Scheduler(
            url=url, misfire_grace_time=settings.misfire_grace_time, coalesce=settings.coalesce,
            max_instances=settings.max_instances, timezone=settings.timezone,
            max_workers=settings.max_workers, listener=self._on_job, counters=self.counters,
            claim=claim, tablename=table)
        self.scheduler = scheduler
        scheduler.start(paused=True)
        for job in self.config.jobs:
            options: dict[str, Any] = {}
            if job.misfire_grace_time is not None:
                options["misfire_grace_time"] = job.misfire_grace_time
            if job.coalesce is not None:
                options["coalesce"] = job.coalesce
            try:
                trigger = job.make_trigger(settings.timezone)
            except ValueError as exc:
                raise ConfigError(str(exc), path=self.config.file, key=job.path) from exc
            # built-in kinds find the bot by name; a "call" job gets exactly its args
            kwargs = dict(job.kwargs) if job.kind == "call" else {"bot": self.name, **job.kwargs}
            scheduler.ensure_job(job.func, trigger, id=job.id, kwargs=kwargs, **options)
        self.dispatcher.call("lpbot_schedule_jobs", {"bot": self, "scheduler": scheduler},
                             strict=True)
        scheduler.resume()

    def stop_scheduler(self, timeout: float = 1.0) -> None:
        """Stop the scheduler now: no new run starts (its lease went to another daemon)."""
        scheduler = self.scheduler
        if scheduler is not None:
            scheduler.shutdown(timeout)

    def _close_clients(self, deadline: float) -> bool:
        with self._lock:
            clients = list(self._clients.values())
        if not clients:
            return True
        # Closing takes up to a second each (close frame, joins): close them side by side.
        groups = [clients[index::8] for index in range(min(8, len(clients)))]
        closers = [threading.Thread(target=self._close_group, args=(group,),
                                    name=f"lpbot-closer-{index}", daemon=True)
                   for index, group in enumerate(groups)]
        for closer in closers:
            closer.start()
        for closer in closers:
            closer.join(max(0.1, deadline - time.monotonic()))
        return not any(closer.is_alive() for closer in closers)

    @staticmethod
    def _close_group(clients: list[Client]) -> None:
        for client in clients:
            try:
                client.close()
            except Exception:  # isolation boundary: close the others anyway
                log.exception("closing %r failed", client)

    def add_fatal_listener(self, listener: Callable[[BaseException], None]) -> None:
        """Call ``listener(error)`` when an internal thread dies (the daemon then stops)."""
        self._fatal_listeners.append(listener)

    def report_fatal(self, error: BaseException) -> None:
        """An internal thread died: set ``fatal``, wake waiters, tell the listeners."""
        self.fatal_error = error
        self.fatal.set()
        self.tracker.wake()
        for listener in list(self._fatal_listeners):
            listener(error)

    # --- client callbacks (reader threads: translate and enqueue only) --------------------

    def _on_message(self, consumer: str, event: MessagingEvent) -> None:
        lease = self._leases.get(consumer)
        if lease is not None and not lease.valid():
            return  # another daemon owns the consumer now and delivers this event
        client = self._clients[consumer]
        conversation_id = event.conversation_id or event.dialog_id
        inner = event.event
        droppable = False
        if isinstance(inner, ContentEvent | RichContentEvent):
            hook_name: str | None = "lpbot_message_received"
        elif isinstance(inner, AcceptStatusEvent):
            hook_name = "lpbot_accept_status_received"
        elif isinstance(inner, ChatStateEvent):
            hook_name, droppable = "lpbot_chat_state_received", True
        else:
            hook_name = None  # an unknown event type: nothing to call, but commit in order
        after = partial(client.commit, event) if event.sequence is not None else None
        self.dispatcher.submit(
            conversation_id, hook_name,
            {"bot": self, "conversation": client.conversation(conversation_id),
             "message": event},
            after=after, after_key=(consumer, event.dialog_id), droppable=droppable)

    def _on_conversation(self, consumer: str, change: ConversationChange) -> None:
        client = self._clients[consumer]
        report, previous = self.tracker.update(consumer, change)
        if not report:
            return
        conversation = client.conversation(change.conversation_id)
        for hook_name, kwargs in conversation_hooks(previous, change):
            self.dispatcher.submit(change.conversation_id, hook_name,
                                   {"bot": self, "conversation": conversation, **kwargs})

    def _on_state(self, consumer: str, change: StateChange) -> None:
        self.dispatcher.submit(f"consumer:{consumer}", "lpbot_connection_state_changed",
                               {"bot": self, "consumer": consumer, "change": change})

    def _on_job(self, hook_name: str, value: JobInfo | JobRun) -> None:
        argument = "run" if hook_name != "lpbot_job_added" else "job"
        self.dispatcher.submit(f"job:{value.job_id}", hook_name,
                               {"bot": self, argument: value})


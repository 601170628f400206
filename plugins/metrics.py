"""Metrics and health: a Prometheus endpoint (``/metrics``) and a health check (``/healthz``).

Each bot gets its own ``prometheus_client.CollectorRegistry`` (never the global one, so two
bots in a process never mix numbers) and its own small HTTP server, on one thread named
``lpbot-metrics``, bound to 127.0.0.1 unless configured otherwise. The plugin is off unless
``enabled = true``.

Scheduled synthetic scenarios reach it through ``lpbot_scenario_result``: runs by scenario and
outcome, each step's latency by scenario and step, and the first response by scenario.

``/healthz`` answers 200 only while every consumer's connection is up, the scheduler runs and
the bot is not stopping; otherwise 503, with a JSON body naming what is down::

    {"status": "down", "down": {"connection:default": "reconnecting"}, ...}

A consumer that gave up (``failed``: the IDP refused its connector id or its code while it ran,
say) stays down until the daemon restarts; ``down`` and ``failures`` say why::

    {"status": "down", "down": {"connection:sales": "failed: IDP refused /api/account/...
     /app/acr0/authenticate: HTTP 403 unauthorized_client (connector acr0 is disabled)"},
     "failures": {"sales": "IDP refused ..."}, ...}

``lpbot_connections_failed`` counts such consumers.

With ``[bot] state_url`` (several daemons on PostgreSQL) only the consumers and the scheduler
this daemon holds a lease for count; the body's ``active`` says whether it holds any (a
standby holding none is healthy), ``leases`` lists them, and ``/metrics`` adds
``lpbot_lease_owned{lease=...}`` and ``lpbot_failovers_total``.

Config (``[plugins.metrics]``)::

    enabled = true
    host = "127.0.0.1"
    port = 9464               # default 0: a free port, logged at start-up and in ``Metrics.url``
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

import lpbot

if TYPE_CHECKING:
    from lpbot import (
        Bot,
        Conversation,
        ConversationDetails,
        JobRun,
        MessagingEvent,
        Participant,
        PluginConfig,
        RunResult,
        StateChange,
    )


__all__ = ["STEP_BUCKETS", "TIME_BUCKETS", "Metrics", "Options", "lpbot_configure"]

log = logging.getLogger(__name__)

#: seconds: from a few hundred milliseconds (bots, the sandbox) to an hour (a busy queue)
TIME_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
                       600.0, 1800.0, 3600.0)

#: seconds of one scenario step: from a request's few milliseconds to an expect step's timeout
STEP_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                       120.0, 300.0)

#: per conversation: agent join and first response already observed
JOINED = lpbot.StashKey[bool]()
RESPONDED = lpbot.StashKey[bool]()


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    """The plugin's ``[plugins.metrics]`` table, checked."""

    enabled: bool = False
    host: str = "127.0.0.1"
    #: 0 (the default): a port from the OS, so two bots on one machine never collide
    port: int = field(default=0, metadata={"min": 0, "max": 65535})

    @classmethod
    def from_config(cls, config: PluginConfig) -> Options:
        """Check the table; ``ConfigError`` names the key path of a wrong value."""
        options = config.parse(cls)
        if not options.host:
            raise config.error("host", "expected a host name or address")
        return options


class _RuntimeCollector(Collector):
    """Reads the runtime's own counters at scrape time: hook calls and errors, drops."""

    def __init__(self, bot: Bot) -> None:
        self._bot = bot

    def collect(self) -> Iterator[Metric]:
        """Yield one counter family per runtime counter."""
        counters = self._bot.counters
        for name, help_text, labels in (
            (counters.HOOK_CALLS, "Hook implementations called, by plugin and hook",
             ("plugin", "hook")),
            (counters.HOOK_ERRORS, "Hook implementations that raised, by plugin and hook",
             ("plugin", "hook")),
            (counters.DISPATCH_DROPPED, "Events dropped by the dispatcher, by reason",
             ("reason",)),
            (counters.COMMIT_ERRORS, "State writes that failed (sequence commits, job store), "
             "by what failed", ("error",)),
        ):
            family = CounterMetricFamily(f"lpbot_{name}", help_text, labels=list(labels))
            for values, value in sorted(counters.series(name).items()):
                family.add_metric(list(values), value)
            yield family
        cluster = self._bot.cluster
        if cluster is not None:  # several daemons on PostgreSQL: what this one holds
            status = cluster.status()
            owned = GaugeMetricFamily("lpbot_lease_owned", "1 for each lease this daemon holds "
                                      "(scheduler, consumer:<name>)", labels=["lease"])
            for lease in cluster.lease_names():
                owned.add_metric([lease], float(lease in status.leases))
            yield owned
            yield CounterMetricFamily("lpbot_failovers", "Leases this daemon took over from a "
                                      "daemon that stopped renewing them", value=status.failovers)


#: a few threads, 5 s per request, no bodies: a slow client never holds /healthz or shutdown
LIMITS: Final = lpbot.ServerLimits(workers=4, backlog=32, max_connections=64,
                                   request_timeout=5.0, write_timeout=5.0, max_body=0)


class _Server(lpbot.BoundedHTTPServer):
    metrics: Metrics


class _Handler(lpbot.BoundedRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        if self.path.split("?")[0] == "/metrics":
            self._send(200, CONTENT_TYPE_LATEST, generate_latest(self.server.metrics.registry))
        elif self.path.split("?")[0] == "/healthz":
            healthy, body = self.server.metrics.health()
            self._send(200 if healthy else 503, "application/json",
                       json.dumps(body).encode())
        else:
            self._send(404, "text/plain; charset=utf-8", b"not found: try /metrics or /healthz\n")

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _reason(change: StateChange) -> str:
    """A short, bounded label for why a connection went down."""
    if change.code is not None:
        return str(change.code)
    if change.http_status is not None:
        return f"http_{change.http_status}"
    if change.error is not None:
        return type(change.error).__name__
    return "unknown"


class Metrics:
    """The per-bot instance: a registry fed by hooks, and the HTTP endpoint."""

    def __init__(self, options: Options, bot: Bot) -> None:
        self.options = options
        self.bot = bot
        self.registry = CollectorRegistry()
        r = self.registry
        self.connections_open = Gauge("lpbot_connections_open",
                                      "Consumer connections that are up", registry=r)
        self.connections_open.set_function(self._connections_up)
        self.connections_failed = Gauge("lpbot_connections_failed",
                                        "Consumers that gave up and will not reconnect (an "
                                        "identity refused for good...)", registry=r)
        self.connections_failed.set_function(lambda: float(len(self._failures())))
        self.connects = Counter("lpbot_connects", "Connections established, by reason "
                                "(initial, or the close code / cause of the drop before)",
                                ["reason"], registry=r)
        self.reconnects = Counter("lpbot_reconnects", "Reconnect attempts, by the cause",
                                  ["reason"], registry=r)
        self.messages = Counter("lpbot_messages", "Messaging events, by direction "
                                "(in: from agents; out: this bot's own) and event type",
                                ["direction", "event_type"], registry=r)
        self.jobs = Counter("lpbot_jobs", "Scheduled job runs, by outcome", ["outcome"],
                            registry=r)
        for outcome in ("ran", "missed", "failed"):
            self.jobs.labels(outcome)
        self.first_response = Histogram(
            "lpbot_agent_first_response_seconds",
            "From a conversation's start to the agent's first message", buckets=TIME_BUCKETS,
            registry=r)
        self.time_to_join = Histogram(
            "lpbot_time_to_agent_join_seconds",
            "From a conversation's start to an agent joining it", buckets=TIME_BUCKETS,
            registry=r)
        self.opened = Counter("lpbot_conversations_opened", "Conversations seen opening",
                              registry=r)
        self.closed = Counter("lpbot_conversations_closed", "Conversations closed, by who",
                              ["closed_by"], registry=r)
        self.csat = Counter("lpbot_csat_submitted", "CSAT ratings recorded by the server, by score",
                            ["score"], registry=r)
        self.scenario_runs = Counter(
            "lpbot_scenario_runs", "Scheduled synthetic scenario runs, by scenario and outcome "
            "(passed, failed)", ["scenario", "outcome"], registry=r)
        self.scenario_steps = Histogram(
            "lpbot_scenario_step_seconds", "Seconds each step of a scheduled scenario took, by "
            "scenario and step (steps[N] kind)", ["scenario", "step"], buckets=STEP_BUCKETS,
            registry=r)
        self.scenario_first_response = Histogram(
            "lpbot_scenario_first_response_seconds", "From a scheduled scenario's first message "
            "to the agent's first reply, by scenario", ["scenario"], buckets=TIME_BUCKETS,
            registry=r)
        r.register(_RuntimeCollector(bot))
        self._lock = threading.Lock()
        self._ever_connected: set[str] = set()
        self._last_drop: dict[str, str] = {}
        self._server: _Server | None = None

    # --- health ---------------------------------------------------------------------------

    def _connections(self) -> dict[str, str]:
        states: dict[str, str] = {}
        for consumer in self.bot.consumers:
            try:
                states[consumer] = str(self.bot.client(consumer).state.value)
            except LookupError:
                states[consumer] = "unknown"
        return states

    def _failures(self) -> dict[str, str]:
        """Consumer -> why it gave up, for those that did (state ``failed``)."""
        failures: dict[str, str] = {}
        for consumer in self.bot.consumers:
            try:
                failure = self.bot.client(consumer).failure
            except LookupError:
                continue
            if failure is not None:
                failures[consumer] = str(failure)
        return failures

    def _connections_up(self) -> float:
        return float(sum(state == "connected" for state in self._connections().values()))

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Whether the bot is healthy, and the JSON body that says what is down."""
        connections = self._connections()
        down: dict[str, str] = {f"connection:{name}": state
                                for name, state in connections.items() if state != "connected"}
        failures = self._failures()
        for name, cause in failures.items():
            down[f"connection:{name}"] = f"failed: {cause}"
        cluster = self.bot.cluster.status() if self.bot.cluster is not None else None
        if not connections and cluster is None:
            down["connections"] = "no consumer"
        scheduler = self.bot.scheduler
        running = scheduler is not None and scheduler.running
        if not running and (cluster is None or "scheduler" in cluster.leases):
            down["scheduler"] = "not running"
        if self.bot.stopping.is_set():
            down["bot"] = "stopping"
        body = {"status": "down" if down else "ok", "down": down, "connections": connections,
                "failures": failures,
                "scheduler": "running" if running else "stopped",
                # in a cluster a standby holding no lease is healthy, and not active
                "active": cluster.active if cluster is not None else True,
                "leases": list(cluster.leases) if cluster is not None else []}
        return not down, body

    # --- server -----------------------------------------------------------------------------

    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) the endpoint listens on; raises before it started."""
        if self._server is None:
            raise RuntimeError("the metrics endpoint is not running")
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` of the endpoint."""
        host, port = self.address
        return f"http://{host}:{port}"

    def start(self) -> None:
        """Bind and serve on the thread ``lpbot-metrics``."""
        server = _Server((self.options.host, self.options.port), _Handler, name="lpbot-metrics",
                         limits=LIMITS)
        server.metrics = self
        self._server = server
        server.start()
        log.info("metrics on %s/metrics, health on %s/healthz", self.url, self.url)

    def stop(self) -> None:
        """Stop serving, close the socket and every connection, join the threads; idempotent.

        Bounded: a client in the middle of a request is disconnected, never waited for.
        """
        server, self._server = self._server, None
        if server is not None:
            server.stop(2.0)

    # --- hooks ------------------------------------------------------------------------------

    @lpbot.hookimpl
    def lpbot_startup(self) -> None:
        """Open the endpoint once the bot serves."""
        self.start()

    @lpbot.hookimpl
    def lpbot_shutdown(self) -> None:
        """Close the endpoint."""
        self.stop()

    @lpbot.hookimpl
    def lpbot_connection_state_changed(self, consumer: str, change: StateChange) -> None:
        """Count connects (initial or after a drop) and reconnect attempts, by reason."""
        state = str(change.state.value)
        with self._lock:
            if state == "connected":
                first = consumer not in self._ever_connected
                self._ever_connected.add(consumer)
                reason = "initial" if first else self._last_drop.get(consumer, "unknown")
                self.connects.labels(reason).inc()
            elif state == "disconnected":
                self._last_drop[consumer] = _reason(change)
            elif state == "reconnecting":
                reason = self._last_drop.get(consumer) or _reason(change)
                self.reconnects.labels(reason).inc()

    def _message(self, bot: Bot, conversation: Conversation, message: MessagingEvent) -> None:
        outgoing = str(message.role) == "CONSUMER"
        self.messages.labels("out" if outgoing else "in", type(message.event).__name__).inc()
        if outgoing or type(message.event).__name__ not in ("ContentEvent", "RichContentEvent"):
            return
        stash = bot.conversation_stash(conversation)
        details = conversation.state
        if stash.get(RESPONDED, False) or details is None or not details.start_ts:
            return
        stash[RESPONDED] = True
        sent = message.server_timestamp or int(time.time() * 1000)
        self.first_response.observe(max(0.0, (sent - details.start_ts) / 1000))

    @lpbot.hookimpl
    def lpbot_message_received(
        self, bot: Bot, conversation: Conversation, message: MessagingEvent
    ) -> None:
        """Count a message; time the agent's first one."""
        self._message(bot, conversation, message)

    @lpbot.hookimpl
    def lpbot_accept_status_received(
        self, bot: Bot, conversation: Conversation, message: MessagingEvent
    ) -> None:
        """Count an accept/read status."""
        self._message(bot, conversation, message)

    @lpbot.hookimpl
    def lpbot_chat_state_received(
        self, bot: Bot, conversation: Conversation, message: MessagingEvent
    ) -> None:
        """Count a chat state."""
        self._message(bot, conversation, message)

    @lpbot.hookimpl
    def lpbot_conversation_opened(self) -> None:
        """Count an opened conversation."""
        self.opened.inc()

    @lpbot.hookimpl
    def lpbot_participant_joined(
        self, bot: Bot, conversation: Conversation, participant: Participant
    ) -> None:
        """Time the first agent joining a conversation."""
        if str(participant.role) != "ASSIGNED_AGENT":
            return
        stash = bot.conversation_stash(conversation)
        details = conversation.state
        if stash.get(JOINED, False) or details is None or not details.start_ts:
            return
        stash[JOINED] = True
        self.time_to_join.observe(max(0.0, time.time() - details.start_ts / 1000))

    @lpbot.hookimpl
    def lpbot_conversation_changed(
        self, previous: ConversationDetails | None, current: ConversationDetails
    ) -> None:
        """Count a CSAT rating when it appears in a conversation's details."""
        csat = current.csat
        if csat is not None and (previous is None or previous.csat is None):
            self.csat.labels(str(csat.rate)).inc()

    @lpbot.hookimpl
    def lpbot_conversation_closed(self, closed_by: str | None) -> None:
        """Count a closed conversation by who closed it."""
        self.closed.labels(closed_by or "unknown").inc()

    @lpbot.hookimpl
    def lpbot_scenario_result(self, result: RunResult) -> None:
        """Count a scheduled scenario run and observe its steps' and first response's times."""
        self.scenario_runs.labels(result.scenario, "passed" if result.ok else "failed").inc()
        for step in result.steps:
            self.scenario_steps.labels(result.scenario, f"steps[{step.index}] {step.kind}") \
                .observe(step.duration)
        if result.first_response is not None:
            self.scenario_first_response.labels(result.scenario).observe(result.first_response)

    @lpbot.hookimpl
    def lpbot_job_ran(self, run: JobRun) -> None:
        """Count a job run."""
        self.jobs.labels("ran").inc()

    @lpbot.hookimpl
    def lpbot_job_missed(self, run: JobRun) -> None:
        """Count a missed run."""
        self.jobs.labels("missed").inc()

    @lpbot.hookimpl
    def lpbot_job_failed(self, run: JobRun) -> None:
        """Count a failed run."""
        self.jobs.labels("failed").inc()


@lpbot.hookimpl
def lpbot_configure(bot: Bot, config: PluginConfig) -> None:
    """Check the config; when enabled, register this bot's :class:`Metrics`."""
    options = Options.from_config(config)
    if not options.enabled:
        log.info("metrics endpoint off (set %s.enabled = true)", config.path)
        return
    bot.plugin_manager.register(Metrics(options, bot), name=f"{config.name}.instance")

"""Dispatcher throughput and latency: socket -> client -> dispatcher -> a no-op hook.

Run: python benchmarks/dispatch.py [COUNT]

"raw" is websocket-client's ``recv()`` plus ``json.loads`` per frame. "bot" is a whole lpbot
Bot: the client decodes each frame into typed objects, the reader thread enqueues it on the
conversation's worker, the worker calls ``lpbot_message_received`` on a no-op plugin and then
commits the sequence to the state store (group commit). The benchmark raises the garbage
collector's first threshold at the start ([bot] gc_threshold), as ``lpbot run`` does; that
stays for the rest of the process, and the raw loop sets off no collection either way (it frees
each frame before reading the next); the collections of each run are printed. Rates run from
the first message to the last; ROUNDS interleaved rounds, raw then bot in each. Printed: each
one's best rate and the ratio of the bests (each side at its least disturbed, though one lucky
round decides it), and each round's own bot/raw with their median (pairs measured a few
seconds apart, so a slow spell hits both). Target: bot/raw at least 0.8.

Two servers, each in its own process:

* the sandbox, whose agent bursts COUNT/5 messages into the conversation (what a bot meets);
  timed from the burst request to the last message seen, so the server's own work counts;
* push_server.py, which writes COUNT pre-built frames back to back: it outruns any Python
  client, so this ratio is the receiving side's own cost, the worst case.

Latency. The sandbox's agent says a message every 2 ms, each carrying the wall-clock time it
was published; the no-op hook subtracts it from the time it ran: server publish -> socket ->
decode -> queue -> hook. p50 and p99 are printed.

Two rounds: threads where the OS puts them, then this process (raw loop and bot alike) pinned
to one CPU and the servers to the others. Under CPython's GIL the bot's reader and worker
threads run one at a time anyway; on one core they stop handing the GIL and their objects'
cache lines from core to core, which is most of what the worker thread costs.
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import statistics
import sys
import tempfile
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path

import requests
import websocket
from _common import interleaved_runs, one_core_split, pin, push_server, wsaccel_status
from client_receive import raw_rate

import lpbot
from lpbot.client.backoff import Backoff
from lpbot.runtime.bot import Bot
from lpbot.runtime.config import BotSection, Config
from lpbot.runtime.daemon import raise_gc_threshold

LATENCY_MESSAGES = 2_000
#: interleaved rounds per server: the machine's speed drifts, so one pair says little
ROUNDS = 5
#: every rate of each measurement ("raw", "bot"), round by round
Rates = dict[str, list[float]]


class NoOp:
    """The plugin under test: counts, and notes when the first and last message arrived."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.seen = 0
        self.start = self.end = 0.0
        self.done = threading.Event()
        self.latencies: list[float] = []

    @lpbot.hookimpl
    def lpbot_message_received(self, message: lpbot.MessagingEvent) -> None:
        self.seen += 1
        if self.seen == 1:
            self.start = time.perf_counter()
        elif self.seen == self.count:
            self.end = time.perf_counter()
            self.done.set()


class Stamped(NoOp):
    """Records now - the publish time carried in each agent message's text."""

    @lpbot.hookimpl
    def lpbot_message_received(self, message: lpbot.MessagingEvent) -> None:
        now = time.time()
        text = getattr(message.event, "text", None)
        if message.role == "ASSIGNED_AGENT" and text and text.startswith("t="):
            self.latencies.append(now - float(text[2:]))
            if len(self.latencies) == self.count:
                self.done.set()


class Burst(NoOp):
    """Counts the agent's burst messages ("b 0" ... "b N-1") and times first to last."""

    @lpbot.hookimpl
    def lpbot_message_received(self, message: lpbot.MessagingEvent) -> None:
        text = getattr(message.event, "text", None)
        if message.role == "ASSIGNED_AGENT" and text and text.startswith("b "):
            super().lpbot_message_received(message)


def make_bot(account: str, domain: str, plugin: NoOp, state: str, workers: int = 4) -> Bot:
    config = Config.from_mapping({
        "bot": {"name": f"bench-{id(plugin)}", "consumers": ["bench"], "workers": workers},
        "account": {"id": account, "csds_domain": domain, "tls": False},
    }, environ={})
    return Bot(config, state_dir=Path(state), plugins=[("noop", plugin)],
               client_options={"backoff": Backoff.immediate()})


def bot_rate(port: int, count: int) -> float:
    plugin = NoOp(count)
    with tempfile.TemporaryDirectory() as state:
        bot = make_bot("bench", f"127.0.0.1:{port}", plugin, state)
        try:
            bot.start()
            if not plugin.done.wait(120):
                raise SystemExit(f"only {plugin.seen} of {count} messages reached the hook")
        finally:
            bot.stop()
    return (count - 1) / (plugin.end - plugin.start)


# --- the sandbox in another process, driven through a pipe --------------------------------


def sandbox_process(pipe: Connection) -> None:
    """Child process: a sandbox whose agent bursts or ticks on request."""
    from lpbot.sandbox import AgentOptions, Sandbox

    options = AgentOptions(accept_delay=0.0, reply_delay=0.0, greeting=None, receipts=False,
                           typing=False, mode="silent")
    with Sandbox(agents=options) as sandbox:
        pipe.send((sandbox.account, sandbox.csds_domain, sandbox.http_url, sandbox.ws_url))
        pause = threading.Event()
        while True:
            command = pipe.recv()
            if command[0] == "stop":
                return
            _, conversation_id, count, interval = command
            sandbox.agents.accept(conversation_id)
            pipe.send("ready")
            pipe.recv()
            if interval:
                for _ in range(count):
                    sandbox.agents.say(conversation_id, f"t={time.time():.6f}")
                    pause.wait(interval)
            else:
                sandbox.agents.burst(conversation_id, count, prefix="b")
            pipe.send("done")


class SandboxServer:
    """The sandbox process and what the parent needs to talk to it."""

    def __init__(self, cpus: set[int] | None = None) -> None:
        self.pipe, child = multiprocessing.Pipe()
        self.process = multiprocessing.get_context("spawn").Process(target=sandbox_process,
                                                                    args=(child,))
        self.process.start()
        self.account, self.domain, self.http_url, self.ws_url = self.pipe.recv()
        if cpus and self.process.pid is not None:
            pin(self.process.pid, cpus)

    def run(self, conversation_id: str, count: int, interval: float = 0.0) -> float:
        """Have the agent accept, then burst (or tick every ``interval``); returns at once,
        with the time it said go."""
        self.pipe.send(("run", conversation_id, count, interval))
        assert self.pipe.recv() == "ready"
        self.pipe.send("go")
        return time.perf_counter()

    def close(self) -> None:
        self.pipe.send(("stop",))
        self.process.join(30)


def sandbox_bot_rate(server: SandboxServer, count: int) -> float:
    plugin = Burst(count)
    with tempfile.TemporaryDirectory() as state:
        bot = make_bot(server.account, server.domain, plugin, state)
        try:
            bot.start()
            started = server.run(bot.open_conversation().id, count)
            if not plugin.done.wait(120):
                raise SystemExit(f"only {plugin.seen} of {count} burst messages reached the hook")
            assert server.pipe.recv() == "done"
        finally:
            bot.stop()
    return count / (plugin.end - started)


def sandbox_raw_rate(server: SandboxServer, count: int) -> float:
    """A bare consumer: IDP signup, socket, request a conversation, count burst frames."""
    token = requests.post(f"{server.http_url}/api/account/{server.account}/signup",
                          timeout=10).json()["jwt"]
    ws = websocket.create_connection(server.ws_url, header=[f"Authorization: jwt {token}"])
    try:
        ws.send(json.dumps({"kind": "req", "id": "1", "type": "cm.ConsumerRequestConversation",
                            "body": {"brandId": server.account}}))
        conversation_id = None
        while conversation_id is None:
            frame = json.loads(ws.recv())
            if frame.get("reqId") == "1":
                conversation_id = frame["body"]["conversationId"]
        ws.send(json.dumps({"kind": "req", "id": "2", "type": "ms.SubscribeMessagingEvents",
                            "body": {"dialogId": conversation_id, "fromSeq": 0}}))
        started = server.run(conversation_id, count)
        seen = 0
        while seen < count:
            frame = json.loads(ws.recv())
            if frame.get("type", "").endswith("MessagingEventNotification"):
                for change in frame["body"]["changes"]:
                    if str(change["event"].get("message", "")).startswith("b "):
                        seen += 1
        rate = count / (time.perf_counter() - started)
        assert server.pipe.recv() == "done"
        return rate
    finally:
        ws.close()


def latencies(server: SandboxServer, count: int) -> list[float]:
    plugin = Stamped(count)
    with tempfile.TemporaryDirectory() as state:
        bot = make_bot(server.account, server.domain, plugin, state)
        try:
            bot.start()
            server.run(bot.open_conversation().id, count, interval=0.002)
            if not plugin.done.wait(120):
                raise SystemExit(f"only {len(plugin.latencies)} of {count} timed messages")
            assert server.pipe.recv() == "done"
        finally:
            bot.stop()
    return plugin.latencies


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def measure(count: int, cpus: set[int] | None = None) -> tuple[int, Rates, Rates, list[float]]:
    """Both servers' interleaved rates and the latencies; servers on ``cpus`` if given."""
    server = SandboxServer(cpus)
    try:
        burst = max(1000, count // 5)
        on_sandbox = interleaved_runs(ROUNDS, raw=lambda: sandbox_raw_rate(server, burst),
                                      bot=lambda: sandbox_bot_rate(server, burst))
        measured = latencies(server, LATENCY_MESSAGES)
    finally:
        server.close()
    with push_server(count, cpus) as port:
        on_push = interleaved_runs(ROUNDS, raw=lambda: raw_rate(port, count),
                                   bot=lambda: bot_rate(port, count))
    return burst, on_sandbox, on_push, measured


def row(label: str, rates: Rates, note: str = "") -> None:
    """One line per server: best rates and their ratio, then the ratio of each round's pair."""
    raw, bot = max(rates["raw"]), max(rates["bot"])
    paired = [b / r for r, b in zip(rates["raw"], rates["bot"], strict=True)]
    print(f"  {label}: raw {raw:9,.0f}   bot {bot:9,.0f}   best/best {bot / raw:.2f}x"
          + (f" {note}" if note else ""))
    print(f"    each round's bot/raw: {' '.join(f'{ratio:.2f}' for ratio in paired)}   "
          f"median {statistics.median(paired):.2f}x")


def report(title: str, count: int, burst: int, on_sandbox: Rates, on_push: Rates,
           measured: list[float]) -> None:
    print(f"{title}, messages/s (best of {ROUNDS} interleaved rounds; target bot/raw >= 0.80)")
    row(f"sandbox, agent burst of {burst}", on_sandbox)
    row(f"push server, {count} frames", on_push, "(the receiver's own cost)")
    print(f"  latency, sandbox publish -> hook, {len(measured)} messages at 500/s: "
          f"p50 {percentile(measured, 0.50) * 1000:.2f} ms, "
          f"p99 {percentile(measured, 0.99) * 1000:.2f} ms, "
          f"mean {statistics.fmean(measured) * 1000:.2f} ms")


def collections() -> list[int]:
    """How many collections the garbage collector has run so far, per generation."""
    return [generation["collections"] for generation in gc.get_stats()]


def report_collections(before: list[int]) -> None:
    young, middle, full = (after - was for after, was in zip(collections(), before, strict=True))
    print(f"  garbage collections in this process meanwhile: {young} young, {middle} middle, "
          f"{full} full")


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    raise_gc_threshold(BotSection().gc_threshold)  # as `lpbot run` does at start
    print(wsaccel_status())
    before = collections()
    report("throughput, threads placed by the OS", count, *measure(count))
    report_collections(before)
    split = one_core_split()
    if split is None:
        print("one-core round skipped: needs sched_setaffinity and two CPUs")
        return 0
    mine, servers = split
    pin(0, mine)  # this process (raw loop and bot alike) on one CPU, the servers on the others
    before = collections()
    report(f"throughput, this process on CPU {min(mine)} and the servers on the others",
           count, *measure(count, servers))
    report_collections(before)
    return 0


if __name__ == "__main__":
    sys.exit(main())

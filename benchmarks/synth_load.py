"""Load benchmark of ``lpbot synth``: C concurrent synthetic consumers against a sandbox process.

The sandbox runs in its own process (``python -m lpbot sandbox``); the runner and its C clients
live in this process, so this process's RSS is what the synthetic side costs. Every run opens a
conversation, waits for an agent, says two things and waits for each echo, then holds the
conversation open (so all C overlap), closes it and waits for the close.

    python benchmarks/synth_load.py                      # C = 200
    python benchmarks/synth_load.py --concurrency 1000
    python benchmarks/synth_load.py --tls                # https/wss, clients trust its CA
    python benchmarks/synth_load.py --compare            # plain, then TLS: ratios of one run
    python benchmarks/synth_load.py --flow               # a flow bot, quick-reply clicks
    python benchmarks/synth_load.py --compare-flow --concurrency 1000 --rounds 3

``--flow`` runs the same load against a flow bot (``bench_flow.toml``): the bot opens with a
question offering quick replies, and each run clicks one twice (the ACTION receipt with the
button's metadata, then its text, as LivePerson documents) where the text run says two texts;
the bot answers each click with its next question, one message per consumer message as the
echo agent does, so the two loads differ in quick replies and clicks, not in how chatty the
agent is. ``--compare-flow`` runs the text and the flow load, each in a fresh process (so
neither inherits the other's heap), alternating ``--rounds`` times, and prints the median flow
run's RSS per concurrent conversation against the median text run's (target: at most 1.1x).

Printed: conversations/s, p50/p95/p99 time to first agent reply, messages/s, peak RSS of this
process, peak concurrent conversations, RSS per concurrent conversation, threads per consumer.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import selectors
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from lpbot.cli.synth import thread_stack_size
from lpbot.client import ClientOptions
from lpbot.synthetic.reports import summary
from lpbot.synthetic.results import RunResult, percentile
from lpbot.synthetic.runner import Runner
from lpbot.synthetic.scenario import parse_scenario

SCENARIO = """
[scenario]
name = "load"
timeout = {timeout}

[[steps]]
open_conversation = {{}}
[[steps]]
expect_participant = {{}}
[[steps]]
say = {{ text = "hello from run {{run}}" }}
[[steps]]
expect_message = {{ text = "hello from run {{run}}" }}
[[steps]]
say = {{ text = "where is order {{run}}?" }}
[[steps]]
expect_message = {{ text = "where is order {{run}}?" }}
[[steps]]
wait = {{ seconds = {hold} }}
[[steps]]
close = {{}}
[[steps]]
expect_closed = {{}}
"""


#: what the flow load does between the agent joining and the hold: two quick replies clicked,
#: each answered by the bot's next question (the text load's two says and echoes)
FLOW_STEPS = """[[steps]]
expect_quick_replies = {{ replies = ["Alpha", "Bravo"], text = "Which one?" }}
[[steps]]
click = {{ position = 1 }}
[[steps]]
expect_quick_replies = {{ replies = ["Alpha", "Bravo"], text = "Noted. Which one?" }}
[[steps]]
click = {{ text = "Bravo" }}
[[steps]]
expect_quick_replies = {{ replies = ["Alpha", "Bravo"], text = "Noted. Which one?" }}
"""
FLOW_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench_flow.toml")
#: the flow load's RSS per concurrent conversation, at most this times the text load's
FLOW_TARGET = 1.1


def scenario_text(flow: bool) -> str:
    """The scenario template of the text load, or of the flow load (the same but its middle)."""
    if not flow:
        return SCENARIO
    head, _, rest = SCENARIO.partition("[[steps]]\nsay")
    tail = rest[rest.index("[[steps]]\nwait"):]
    return head.replace('name = "load"', 'name = "load-flow"') + FLOW_STEPS + tail


def status_kib(field: str, pid: str = "self") -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field}")


def raise_nofile(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, needed), hard))


def start_sandbox(ca_file: str | None,
                  flow: bool = False) -> tuple[subprocess.Popen[str], str]:
    agents = ["--flow", FLOW_FILE] if flow else ["--agent-mode", "echo"]
    args = [sys.executable, "-m", "lpbot", "sandbox", "--port", "0", "--account", "bench",
            "--agents", "10", *agents, "--accept-delay", "0",
            "--reply-delay", "0", "--greeting", "", "--no-receipts", "--no-typing",
            "--idle-timeout", "600", "--log-level", "WARNING",
            *(["--tls", "--ca-file", ca_file] if ca_file else [])]
    server = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)  # noqa: S603
    assert server.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(server.stdout, selectors.EVENT_READ)
        if not selector.select(30):
            server.kill()
            raise RuntimeError("the sandbox did not start within 30 s")
    csds_url = server.stdout.readline().strip()
    return server, csds_url.split("//", 1)[1].split("/", 1)[0]


class Sampler:
    """Samples this process's RSS and live client readers every 50 ms on a named thread."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.peak_rss = 0
        self.peak_readers = 0
        self.peak_threads = 0
        self.thread = threading.Thread(target=self._run, name="lpbot-bench-sampler")

    def _run(self) -> None:
        while not self.stop.wait(0.05):
            names = [t.name for t in threading.enumerate()]
            readers = sum(1 for name in names if name.startswith("lpbot-reader-"))
            self.peak_rss = max(self.peak_rss, status_kib("VmRSS"))
            if readers > self.peak_readers:
                self.peak_readers = readers
            self.peak_threads = max(self.peak_threads, len(names))

    def __enter__(self) -> Sampler:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop.set()
        self.thread.join()


def run_load(options: ClientOptions, args: argparse.Namespace) -> tuple[list[RunResult], float]:
    scenario = parse_scenario(scenario_text(args.flow).format(timeout=args.timeout,
                                                              hold=args.hold))
    started = time.monotonic()
    with thread_stack_size(args.stack_size):
        results = Runner(scenario, options, count=args.count or args.concurrency,
                         concurrency=args.concurrency, ramp_up=args.ramp_up,
                         connect_timeout=60).run()
    return results, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--count", type=int, help="runs in all (default: the concurrency)")
    parser.add_argument("--ramp-up", type=float, help="seconds (default: C / 100)")
    parser.add_argument("--hold", type=float, help="seconds each conversation stays open "
                                                   "(default: ramp-up + 5 + C / 50)")
    parser.add_argument("--timeout", type=float, default=60.0, help="expect steps' timeout")
    parser.add_argument("--stack-size", type=int, default=256, help="KiB per runner thread")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--tls", action="store_true", help="https/wss; clients trust its CA")
    mode.add_argument("--compare", action="store_true", help="plain, then TLS; print ratios")
    mode.add_argument("--compare-flow", action="store_true",
                      help="text, then flow, each in a fresh process; print the ratio")
    parser.add_argument("--flow", action="store_true",
                        help="a flow bot and quick-reply clicks instead of texts and echoes")
    parser.add_argument("--rounds", type=int, default=1,
                        help="--compare-flow: alternating rounds; medians compared (default 1)")
    parser.add_argument("--emit-result", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ramp_up is None:
        args.ramp_up = args.concurrency / 100
    if args.hold is None:
        args.hold = args.ramp_up + 5 + args.concurrency / 50  # every run overlaps the last
    if not os.path.exists("/proc/self/status"):
        raise SystemExit("this benchmark reads /proc/self/status (Linux)")
    raise_nofile(args.concurrency * 4 + 256)
    if args.compare_flow:
        compare_flow(args)
        return
    if not args.compare:
        figures = measure(args, tls=args.tls)
        if args.emit_result:
            print("RESULT " + json.dumps(figures), flush=True)
        return
    plain = measure(args, tls=False)
    tls = measure(args, tls=True)
    print("TLS / plain, measured in this run:")
    print("| measure | plain | TLS | TLS / plain |")
    print("|---|---|---|---|")
    for name, value in plain.items():
        ratio = f"{tls[name] / value:.2f}" if value else "-"
        print(f"| {name} | {value:,.1f} | {tls[name]:,.1f} | {ratio} |")


def measure(args: argparse.Namespace, *, tls: bool) -> dict[str, float]:
    """One load round against a plain or TLS sandbox; prints its report, returns key figures."""
    print(f"-- {'https/wss (TLS)' if tls else 'plain http/ws'}")
    ca_dir = tempfile.TemporaryDirectory(prefix="bench-ca-")
    ca_file = f"{ca_dir.name}/ca.pem" if tls else None
    server, csds_domain = start_sandbox(ca_file, args.flow)
    try:
        options = ClientOptions(account="bench", csds_domain=csds_domain, tls=tls,
                                ca_file=ca_file)
        # warm up: one run loads every module and fills the caches the load will use
        warm = parse_scenario(scenario_text(args.flow).format(timeout=10, hold=0))
        [first] = Runner(warm, options).run()
        assert first.ok, first.failure
        baseline = status_kib("VmRSS")
        with Sampler() as sampler:
            results, wall = run_load(options, args)
        return report(results, wall, baseline, sampler, args)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if server.stdout is not None:
            server.stdout.close()
        ca_dir.cleanup()


def report(results: list[RunResult], wall: float, baseline: int, sampler: Sampler,
           args: argparse.Namespace) -> dict[str, float]:
    numbers = summary(results)
    responses = [r.first_response for r in results if r.first_response is not None]
    failures = [r for r in results if not r.ok]
    concurrent = max(sampler.peak_readers, 1)
    per_conversation = (sampler.peak_rss - baseline) / concurrent

    def ms(fraction: float) -> str:
        value = percentile(responses, fraction)
        return "-" if value is None else f"{value * 1000:.0f} ms"

    rows = [
        ("agents", "a flow bot, quick-reply clicks" if args.flow else "echo, texts"),
        ("concurrency (C)", f"{args.concurrency}"),
        ("runs / failed", f"{len(results)} / {len(failures)}"),
        ("ramp-up / hold", f"{args.ramp_up:g} s / {args.hold:g} s"),
        ("wall time", f"{wall:.1f} s"),
        ("conversations/s", f"{len(results) / wall:.1f}"),
        ("first agent reply p50 / p95 / p99", f"{ms(0.5)} / {ms(0.95)} / {ms(0.99)}"),
        ("messages/s (consumer + agent texts)", f"{numbers['messages'] / wall:.1f}"),
        ("peak concurrent conversations", f"{sampler.peak_readers}"),
        ("peak threads in this process", f"{sampler.peak_threads}"),
        ("threads per concurrent consumer",
         f"{(sampler.peak_threads - 2) / concurrent:.2f} (runner worker + client reader "
         f"+ client keepalive)"),
        ("RSS baseline (after warm-up)", f"{baseline / 1024:.1f} MiB"),
        ("peak RSS of this process", f"{sampler.peak_rss / 1024:.1f} MiB"),
        ("RSS per concurrent conversation", f"{per_conversation:.0f} KiB "
                                            f"(target <= 150 KiB)"),
        ("thread stack size", f"{args.stack_size} KiB"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    for failure in failures[:5]:
        print(f"FAILED run {failure.run}: {failure.failure}")
    return {"conversations/s": len(results) / wall,
            "first agent reply p50 (ms)": (percentile(responses, 0.5) or 0.0) * 1000,
            "RSS KiB per concurrent conversation": per_conversation,
            "failed runs": len(failures)}


def compare_flow(args: argparse.Namespace) -> None:
    """Text and flow loads, each in a fresh process, ``--rounds`` times; medians compared."""
    key = "RSS KiB per concurrent conversation"
    runs: dict[bool, list[dict[str, float]]] = {False: [], True: []}
    for number in range(1, args.rounds + 1):
        for flow in (False, True):
            print(f"-- round {number}: {'flow bot, quick-reply clicks' if flow else 'texts'}",
                  flush=True)
            runs[flow].append(fresh_run(args, flow=flow))
    print("flow / text, measured in this run:")
    print("| round | text KiB | flow KiB | flow / text | first reply p50 text / flow |")
    print("|---|---|---|---|---|")
    for number, (text, flow) in enumerate(zip(runs[False], runs[True], strict=True), 1):
        print(f"| {number} | {text[key]:.0f} | {flow[key]:.0f} | {flow[key] / text[key]:.3f} | "
              f"{text['first agent reply p50 (ms)']:.0f} / "
              f"{flow['first agent reply p50 (ms)']:.0f} ms |")
    text_median = statistics.median(r[key] for r in runs[False])
    flow_median = statistics.median(r[key] for r in runs[True])
    failed = sum(r["failed runs"] for group in runs.values() for r in group)
    ratio = flow_median / text_median
    verdict = "OK" if ratio <= FLOW_TARGET and not failed else "MISSED"
    print(f"median of {args.rounds}: text {text_median:.0f} KiB, flow {flow_median:.0f} KiB, "
          f"flow / text = {ratio:.3f}x (target <= {FLOW_TARGET}x): {verdict}")


def fresh_run(args: argparse.Namespace, *, flow: bool) -> dict[str, float]:
    """One load in a new process of this script; its report is printed, its figures returned."""
    command = [sys.executable, os.path.abspath(__file__), "--emit-result",
               "--concurrency", str(args.concurrency), "--ramp-up", str(args.ramp_up),
               "--hold", str(args.hold), "--timeout", str(args.timeout),
               "--stack-size", str(args.stack_size), *(["--flow"] if flow else []),
               *(["--count", str(args.count)] if args.count else [])]
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    figures = None
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            figures = json.loads(line[len("RESULT "):])
        else:
            print(line)
    if done.returncode != 0 or figures is None:
        raise SystemExit(f"the run failed: {done.stderr[-2000:]}")
    return figures


if __name__ == "__main__":
    main()

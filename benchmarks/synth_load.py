"""Load benchmark of ``lpbot synth``: C concurrent synthetic consumers against a sandbox process.

The sandbox runs in its own process (``python -m lpbot sandbox``); the runner and its C clients
live in this process, so this process's RSS is what the synthetic side costs. Every run opens a
conversation, waits for an agent, says two things and waits for each echo, then holds the
conversation open (so all C overlap), closes it and waits for the close.

    python benchmarks/synth_load.py                      # C = 200
    python benchmarks/synth_load.py --concurrency 1000
    python benchmarks/synth_load.py --compare            # plain, then TLS: ratios of one run
    python benchmarks/synth_load.py --tls                # the production table (below)
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

``--tls`` measures what a consumer costs over TLS as in production, each figure against its
target, every measurement in a process of its own, all against one plain and one TLS sandbox
started for the run. The TLS clients trust the system's CA store plus the sandbox's CA (one
bundle), as a production client trusts the system store: RSS per concurrent conversation at C
(plain and TLS), what a bare websocket-client TLS connection read on its own thread costs, CPU
per connect, the rate of complete conversations with ``--hold 0`` through ``lpbot synth``
against the same steps written directly with requests and websocket-client (a thread per
consumer), and threads per concurrent consumer. ``--rounds`` alternates the two rate runs.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import gc
import itertools
import json
import os
import resource
import selectors
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import requests
import requests.adapters
import websocket

from lpbot.cli.synth import thread_stack_size
from lpbot.client import Client, ClientOptions
from lpbot.client.tls import ca_bundle
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
    parser.add_argument("--connects", type=int, default=50, help="--tls: connects timed for CPU")
    parser.add_argument("--bare", type=int, help="--tls: bare TLS connections (default: C)")
    parser.add_argument("--rate-concurrency", type=int, default=200,
                        help="--tls: consumers at once in the --hold 0 rate runs")
    parser.add_argument("--rate-count", type=int, help="--tls: runs per rate run (default: "
                                                       "2 x the rate concurrency)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="alternating rounds: --compare-flow compares medians, --tls takes "
                             "the best rate (default 1)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--tls", action="store_true", help="the production table (see above)")
    mode.add_argument("--compare", action="store_true", help="plain, then TLS; print ratios")
    mode.add_argument("--compare-flow", action="store_true",
                      help="text, then flow, each in a fresh process; print the ratio")
    parser.add_argument("--flow", action="store_true",
                        help="a flow bot and quick-reply clicks instead of texts and echoes")
    parser.add_argument("--emit-result", action="store_true", help=argparse.SUPPRESS)
    mode.add_argument("--measure", help=argparse.SUPPRESS)  # one measurement of --tls
    parser.add_argument("--csds", help=argparse.SUPPRESS)
    parser.add_argument("--ca-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare is None:
        args.bare = args.concurrency
    if args.rate_count is None:
        args.rate_count = 2 * args.rate_concurrency
    if args.ramp_up is None:
        args.ramp_up = args.concurrency / 100
    if args.hold is None:
        args.hold = args.ramp_up + 5 + args.concurrency / 50  # every run overlaps the last
    if not os.path.exists("/proc/self/status"):
        raise SystemExit("this benchmark reads /proc/self/status (Linux)")
    if args.measure:
        child(args)
        return
    raise_nofile(args.concurrency * 4 + 256)
    if args.compare_flow:
        compare_flow(args)
        return
    if args.tls:
        production(args)
        return
    if not args.compare:
        figures = measure(args, tls=False)
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
        stop_sandbox(server)
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
         f"{(sampler.peak_threads - 2) / concurrent:.2f} (runner worker + client reader, "
         f"+ one keepalive thread for the process)"),
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


# --- production figures (--tls): plain against TLS, each measurement in its own process --------
#
# One process per measurement keeps each RSS figure free of what an earlier measurement left in
# the allocator; the two sandboxes (plain and TLS) serve every measurement of the run.

#: issue 22's targets
RSS_FACTOR, RSS_SLACK_KIB = 1.2, 16.0
CPU_RATIO_TARGET = 2.0
RATE_VS_RAW_TARGET = 0.8
RATE_TARGET = 2 * 66.0
THREADS_TARGET = 2.0


def production(args: argparse.Namespace) -> None:
    """Every figure of the production table, plain and TLS, with its target; one run."""
    with tempfile.TemporaryDirectory(prefix="bench-ca-") as ca_dir:
        plain_server, plain_csds = start_sandbox(None)
        tls_server, tls_csds = start_sandbox(f"{ca_dir}/ca.pem")
        # production trusts the system store: the same bundle, plus the sandbox's CA
        bundle = str(ca_bundle(f"{ca_dir}/bundle.pem", f"{ca_dir}/ca.pem"))
        try:
            plain = in_child("load", plain_csds, None, args)
            tls = in_child("load", tls_csds, bundle, args)
            bare = in_child("bare-tls", tls_csds, bundle, args)
            cpu_plain = in_child("connect-cpu", plain_csds, None, args)
            cpu_tls = in_child("connect-cpu", tls_csds, bundle, args)
            lpbot_rates: list[float] = []
            raw_rates: list[float] = []
            plain_rates: list[float] = []
            for _ in range(args.rounds):  # alternated: a busy neighbour hits all alike
                lpbot_rates.append(in_child("rate-lpbot", tls_csds, bundle, args)["rate"])
                raw_rates.append(in_child("rate-raw", tls_csds, bundle, args)["rate"])
                plain_rates.append(in_child("rate-lpbot", plain_csds, None, args)["rate"])
        finally:
            stop_sandbox(plain_server)
            stop_sandbox(tls_server)
    rss_target = RSS_FACTOR * plain["rss"] + bare["rss"] + RSS_SLACK_KIB
    cpu_ratio = cpu_tls["cpu_ms"] / cpu_plain["cpu_ms"]
    lpbot_rate, raw_rate = max(lpbot_rates), max(raw_rates)

    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    rows = [
        ("concurrent conversations (C), plain / TLS", f"{plain['concurrent']} / "
         f"{tls['concurrent']}", f"{args.concurrency}", ""),
        ("runs failed, plain / TLS", f"{plain['failed']} / {tls['failed']}", "0",
         verdict(plain["failed"] == tls["failed"] == 0)),
        ("RSS per concurrent conversation, plain", f"{plain['rss']:.0f} KiB", "", ""),
        ("RSS of a bare websocket-client TLS connection, opened and read on its own thread",
         f"{bare['rss']:.0f} KiB", "", ""),
        ("RSS per concurrent conversation, TLS", f"{tls['rss']:.0f} KiB",
         f"<= {RSS_FACTOR} x plain + bare + {RSS_SLACK_KIB:.0f} = {rss_target:.0f} KiB",
         verdict(tls["rss"] <= rss_target)),
        ("CPU per connect, plain / TLS", f"{cpu_plain['cpu_ms']:.1f} / {cpu_tls['cpu_ms']:.1f} ms",
         "", ""),
        ("CPU per connect, TLS / plain", f"{cpu_ratio:.2f}", f"<= {CPU_RATIO_TARGET:g}",
         verdict(cpu_ratio <= CPU_RATIO_TARGET)),
        ("conversations/s, --hold 0, TLS: lpbot synth", f"{lpbot_rate:.1f}",
         f">= {RATE_TARGET:g}", verdict(lpbot_rate >= RATE_TARGET)),
        ("conversations/s, --hold 0, TLS: raw requests + websocket-client", f"{raw_rate:.1f}",
         "", ""),
        ("conversations/s, --hold 0, plain: lpbot synth (the machine's load, for reference)",
         f"{max(plain_rates):.1f}", "", ""),
        ("lpbot / raw", f"{lpbot_rate / raw_rate:.2f}", f">= {RATE_VS_RAW_TARGET:g}",
         verdict(lpbot_rate >= RATE_VS_RAW_TARGET * raw_rate)),
        ("threads per concurrent consumer (lpbot synth, TLS), without / with the process's "
         "one keepalive thread", f"{tls['threads_per_consumer']:.3f} / {tls['threads']:.3f}",
         f"<= {THREADS_TARGET:g}", verdict(tls["threads_per_consumer"] <= THREADS_TARGET)),
    ]
    print(f"\nlpbot synth, plain against TLS (system CA store + the sandbox's CA), C = "
          f"{args.concurrency}, rate at C = {args.rate_concurrency} x {args.rate_count} runs, "
          f"best of {args.rounds} alternated rounds:")
    print("| measure | value | target | |")
    print("|---|---|---|---|")
    for name, value, target, met in rows:
        print(f"| {name} | {value} | {target} | {met} |")


def in_child(measure: str, csds: str, ca_file: str | None,
             args: argparse.Namespace) -> dict[str, Any]:
    """Run one measurement in a fresh process; its printed lines pass through, its JSON returns."""
    command = [sys.executable, __file__, "--measure", measure, "--csds", csds,
               "--concurrency", str(args.concurrency), "--timeout", str(args.timeout),
               "--stack-size", str(args.stack_size), "--ramp-up", str(args.ramp_up),
               "--hold", str(args.hold), "--connects", str(args.connects),
               "--rate-concurrency", str(args.rate_concurrency),
               "--rate-count", str(args.rate_count), "--bare", str(args.bare),
               *(["--ca-file", ca_file] if ca_file else [])]
    print(f"-- {measure} ({'TLS' if ca_file else 'plain'})", flush=True)
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)  # noqa: S603
    *lines, last = done.stdout.strip().splitlines()
    for line in lines:
        print(f"   {line}")
    result: dict[str, Any] = json.loads(last)
    return result


def stop_sandbox(server: subprocess.Popen[str]) -> None:
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
    if server.stdout is not None:
        server.stdout.close()


def child(args: argparse.Namespace) -> None:
    """One measurement (``--measure``) in this process; the last line printed is its JSON."""
    raise_nofile(args.concurrency * 4 + args.bare * 2 + 256)
    tls = args.ca_file is not None
    options = ClientOptions(account="bench", csds_domain=args.csds, tls=tls,
                            ca_file=args.ca_file)
    measures: dict[str, Callable[[ClientOptions, argparse.Namespace], dict[str, Any]]] = {
        "load": held_load, "bare-tls": bare_tls, "connect-cpu": connect_cpu,
        "rate-lpbot": rate_lpbot, "rate-raw": rate_raw}
    print(json.dumps(measures[args.measure](options, args)))


def warm_up(options: ClientOptions) -> None:
    """One run: loads every module, the shared TLS context and fills the caches."""
    [first] = Runner(parse_scenario(SCENARIO.format(timeout=10, hold=0)), options).run()
    assert first.ok, first.failure


def held_load(options: ClientOptions, args: argparse.Namespace) -> dict[str, Any]:
    """C conversations held open together: RSS per concurrent conversation, threads."""
    warm_up(options)
    gc.collect()
    baseline = status_kib("VmRSS")
    with Sampler() as sampler:
        idle_threads = threading.active_count()
        results, wall = run_load(options, args)
    figures = report(results, wall, baseline, sampler, args)
    concurrent = max(sampler.peak_readers, 1)
    return {"rss": figures["RSS KiB per concurrent conversation"], "concurrent": concurrent,
            "failed": sum(1 for result in results if not result.ok),
            "threads": (sampler.peak_threads - idle_threads) / concurrent,
            "threads_per_consumer": (sampler.peak_threads - idle_threads - 1) / concurrent}


def bare_tls(options: ClientOptions, args: argparse.Namespace) -> dict[str, Any]:
    """What one websocket-client TLS connection, opened and read on its own thread, costs.

    As the raw stack's consumer does it (and lpbot's reader): the thread opens the socket, so
    the TLS handshake's deep stack and OpenSSL's per-thread state are that thread's, then it
    reads until the socket closes. One shared SSLContext, as lpbot shares one.
    """
    assert options.ca_file is not None
    http = requests.Session()
    http.trust_env = False  # REQUESTS_CA_BUNDLE would replace verify
    http.verify = options.ca_file
    csds = (f"https://{options.csds_domain}/api/account/bench/service/baseURI.json"
            "?version=1.0")
    services = {entry["service"]: entry["baseURI"]
                for entry in http.get(csds, timeout=30).json()["baseURIs"]}
    url = f"wss://{services['asyncMessagingEnt']}/ws_api/account/bench/messaging/consumer?v=3"
    signup = f"https://{services['idp']}/api/account/bench/signup"
    tokens = [http.post(signup, timeout=30).json()["jwt"] for _ in range(args.bare + 1)]
    context = ssl.create_default_context(cafile=options.ca_file)
    sockets: list[websocket.WebSocket] = []
    readers: list[threading.Thread] = []
    opened = threading.Semaphore(0)

    def consume(token: str) -> None:
        try:
            ws = websocket.create_connection(url, header=[f"Authorization: jwt {token}"],
                                             sslopt={"context": context}, timeout=60)
            ws.settimeout(None)
            sockets.append(ws)
        finally:
            opened.release()
        with contextlib.suppress(websocket.WebSocketException, OSError):
            while ws.recv():
                pass

    def open_one(token: str) -> None:
        reader = threading.Thread(target=consume, args=(token,), name="bench-bare-reader")
        reader.start()
        readers.append(reader)
        opened.acquire()

    threading.stack_size(args.stack_size * 1024)
    open_one(tokens.pop())  # warm: the first connection loads what every one needs
    gc.collect()
    baseline = status_kib("VmRSS")
    for token in tokens:
        open_one(token)
    held = status_kib("VmRSS")
    assert len(sockets) == args.bare + 1, "a bare connection failed"
    for ws in sockets:
        ws.close()
    for reader in readers:
        reader.join(30)
    per_connection = (held - baseline) / args.bare
    print(f"{args.bare} bare TLS connections: {per_connection:.0f} KiB each")
    return {"rss": per_connection}


def connect_cpu(options: ClientOptions, args: argparse.Namespace) -> dict[str, Any]:
    """CPU time of this process per consumer connect (CSDS, signup, handshake, subscribe).

    One more consumer of an account that already has one connected, as in a bot or a synthetic
    run: the account's HTTPS pool is open, so what is measured is the consumer's own cost.
    """
    warm_up(options)

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    with Client(replace(options, identity_name="cpu-resident")) as resident:
        resident.connect(timeout=60)
        started, wall = cpu(), time.monotonic()
        for number in range(args.connects):
            with Client(replace(options, identity_name=f"cpu-{number}")) as client:
                client.connect(timeout=60)
        per_connect = (cpu() - started) / args.connects * 1000
    print(f"{args.connects} connects: {per_connect:.1f} ms CPU each, "
          f"{(time.monotonic() - wall) / args.connects * 1000:.1f} ms wall each")
    return {"cpu_ms": per_connect}


def rate_lpbot(options: ClientOptions, args: argparse.Namespace) -> dict[str, Any]:
    """Complete conversations per second with ``--hold 0`` through lpbot's runner."""
    warm_up(options)
    scenario = parse_scenario(SCENARIO.format(timeout=args.timeout, hold=0))
    started = time.monotonic()
    with thread_stack_size(args.stack_size):
        results = Runner(scenario, options, count=args.rate_count,
                         concurrency=args.rate_concurrency, connect_timeout=60).run()
    rate = len(results) / (time.monotonic() - started)
    failed = sum(1 for result in results if not result.ok)
    print(f"lpbot synth: {rate:.1f} conversations/s, {failed} failed")
    return {"rate": rate if not failed else 0.0}


def rate_raw(options: ClientOptions, args: argparse.Namespace) -> dict[str, Any]:
    """The same steps with the raw stack: requests and websocket-client, a thread each."""
    raw = RawConsumers(options, args)
    raw.run_one(0)  # warm, as the lpbot side is
    numbers = itertools.count(1)
    failures: list[BaseException] = []

    def work() -> None:
        while next(numbers) <= args.rate_count:
            try:
                raw.run_one(0)
            except Exception as exc:  # noqa: BLE001 - counted and reported
                failures.append(exc)

    threading.stack_size(args.stack_size * 1024)
    workers = [threading.Thread(target=work, name="bench-raw") for _ in
               range(args.rate_concurrency)]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    rate = args.rate_count / (time.monotonic() - started)
    print(f"raw stack: {rate:.1f} conversations/s, {len(failures)} failed"
          + (f" (first: {failures[0]!r})" if failures else ""))
    return {"rate": rate if not failures else 0.0}


class RawConsumers:
    """The synthetic conversation written directly on requests and websocket-client.

    What a careful hand-written load script does: one shared ``requests.Session`` (its pool
    reused), one shared SSLContext for the WebSockets, one thread per consumer that sends each
    request and reads until the frame it waits for. The steps are lpbot's: domain lookup,
    signup, connect, subscribe to conversations, request one, subscribe to its messages, wait
    for the agent, two messages each answered by the echo, close, wait for the close.
    """

    def __init__(self, options: ClientOptions, args: argparse.Namespace) -> None:
        scheme = "https" if options.tls else "http"
        self.csds = (f"{scheme}://{options.csds_domain}/api/account/bench/service/baseURI.json"
                     "?version=1.0")
        self.ws_scheme = "wss" if options.tls else "ws"
        self.http = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_maxsize=min(args.rate_concurrency, 64))
        self.http.mount(f"{scheme}://", adapter)
        self.http.trust_env = False  # REQUESTS_CA_BUNDLE would replace verify
        self.http.verify = options.ca_file or True
        self.sslopt = ({"context": ssl.create_default_context(cafile=options.ca_file)}
                       if options.tls else None)
        self.timeout = args.timeout

    def run_one(self, number: int) -> None:
        services = {entry["service"]: entry["baseURI"]
                    for entry in self.http.get(self.csds, timeout=30).json()["baseURIs"]}
        scheme = "https" if self.sslopt else "http"
        token = self.http.post(f"{scheme}://{services['idp']}/api/account/bench/signup",
                               timeout=30).json()["jwt"]
        ws = websocket.create_connection(
            f"{self.ws_scheme}://{services['asyncMessagingEnt']}/ws_api/account/bench/messaging"
            "/consumer?v=3", header=[f"Authorization: jwt {token}"], sslopt=self.sslopt,
            timeout=self.timeout)
        claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
        try:
            self._converse(ws, number, claims["sub"])
        finally:
            ws.close()

    def _converse(self, ws: websocket.WebSocket, number: int, consumer_id: str) -> None:
        ids = itertools.count(1)

        def request(type_name: str, body: dict[str, Any]) -> dict[str, Any]:
            req_id = str(next(ids))
            ws.send(json.dumps({"kind": "req", "id": req_id, "type": type_name, "body": body}))
            return wait(lambda frame: frame.get("reqId") == req_id)

        early: list[dict[str, Any]] = []  # frames that came before anyone waited for them

        def wait(found: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
            for index, frame in enumerate(early):
                if found(frame):
                    return early.pop(index)
            while True:  # bounded by the socket's timeout
                frame = json.loads(ws.recv())
                if found(frame):
                    return dict(frame)
                early.append(frame)

        Test = Callable[[dict[str, Any]], bool]

        def conversation(cid: str, test: Test) -> Test:
            # type names come in several spellings (protocol notes §9): match the suffix
            kind = "ExConversationChangeNotification"
            return lambda frame: str(frame.get("type")).endswith(kind) and any(
                change["result"]["convId"] == cid
                and test(change["result"].get("conversationDetails", {}))
                for change in frame["body"]["changes"])

        def events(frame: dict[str, Any]) -> list[dict[str, Any]]:
            kind, body = str(frame.get("type")), frame.get("body") or {}
            if kind.endswith("MessagingEventNotification"):
                return list(body.get("changes", []))
            return [body] if kind.endswith("OnlineEventDistribution") else []  # §9 variant

        def echo(text: str) -> Test:
            # the agent's, not our own message's echo (originatorMetadata is optional, §6.2)
            return lambda frame: any(
                (change.get("originatorId") or change.get("originatorPId")) != consumer_id
                and (change.get("event") or {}).get("message") == text
                for change in events(frame))

        request("cqm.SubscribeExConversations", {"convState": ["OPEN", "CLOSE"]})
        cid = request("cm.ConsumerRequestConversation",
                      {"channelType": "MESSAGING", "brandId": "bench"})["body"]["conversationId"]
        request("ms.SubscribeMessagingEvents", {"dialogId": cid, "fromSeq": 0})
        wait(conversation(cid, lambda details: any(  # both documented shapes (§6.1)
            p.get("role") == "ASSIGNED_AGENT" for p in details.get("participants", []))
            or bool(details.get("participantsPId", {}).get("ASSIGNED_AGENT"))))
        for text in (f"hello from run {number}", f"where is order {number}?"):
            publish = {"dialogId": cid, "event": {"type": "ContentEvent",
                                                  "contentType": "text/plain", "message": text}}
            request("ms.PublishEvent", publish)
            wait(echo(text))
        request("cm.UpdateConversationField", {"conversationId": cid, "conversationField": [
            {"field": "ConversationStateField", "conversationState": "CLOSE"}]})
        wait(conversation(cid, lambda details: details.get("state") == "CLOSE"))


if __name__ == "__main__":
    main()

"""Load benchmark of ``lpbot synth``: C concurrent synthetic consumers against a sandbox process.

The sandbox runs in its own process (``python -m lpbot sandbox``); the runner and its C clients
live in this process, so this process's RSS is what the synthetic side costs. Every run opens a
conversation, waits for an agent, says two things and waits for each echo, then holds the
conversation open (so all C overlap), closes it and waits for the close.

    python benchmarks/synth_load.py                      # C = 200
    python benchmarks/synth_load.py --concurrency 1000
    python benchmarks/synth_load.py --tls                # https/wss, clients trust its CA
    python benchmarks/synth_load.py --compare            # plain, then TLS: ratios of one run

Printed: conversations/s, p50/p95/p99 time to first agent reply, messages/s, peak RSS of this
process, peak concurrent conversations, RSS per concurrent conversation, threads per consumer.
"""

from __future__ import annotations

import argparse
import os
import resource
import selectors
import signal
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


def start_sandbox(ca_file: str | None) -> tuple[subprocess.Popen[str], str]:
    args = [sys.executable, "-m", "lpbot", "sandbox", "--port", "0", "--account", "bench",
            "--agents", "10", "--agent-mode", "echo", "--accept-delay", "0",
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
    scenario = parse_scenario(SCENARIO.format(timeout=args.timeout, hold=args.hold))
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
    args = parser.parse_args()
    if args.ramp_up is None:
        args.ramp_up = args.concurrency / 100
    if args.hold is None:
        args.hold = args.ramp_up + 5 + args.concurrency / 50  # every run overlaps the last
    if not os.path.exists("/proc/self/status"):
        raise SystemExit("this benchmark reads /proc/self/status (Linux)")
    raise_nofile(args.concurrency * 4 + 256)
    if not args.compare:
        measure(args, tls=args.tls)
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
    server, csds_domain = start_sandbox(ca_file)
    try:
        options = ClientOptions(account="bench", csds_domain=csds_domain, tls=tls,
                                ca_file=ca_file)
        # warm up: one run loads every module and fills the caches the load will use
        warm = parse_scenario(SCENARIO.format(timeout=10, hold=0))
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
            "RSS KiB per concurrent conversation": per_conversation}


if __name__ == "__main__":
    main()

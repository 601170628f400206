"""Load benchmark of lpbot under Locust: C synthetic consumers in one Locust process (gevent).

Run as a script, it starts ``lpbot sandbox`` in its own process, then one headless Locust
process (what each worker of a distributed run is) with this file as its locustfile and C
users. Loaded by Locust, this file defines the user class and measures its own process: the
RSS after a warm-up run (before the first user), the peak RSS and the peak number of connected
consumers while the users run, written as JSON when Locust quits.

Every user is one consumer that stays connected and runs the scenario in a loop: open, agent
joins, two messages each answered by an echo, hold the conversation open (so all C overlap),
close, wait for the close. The figures sit next to ``benchmarks/synth_load.py`` (threads).

    python benchmarks/locust_load.py                     # C = 1000
    python benchmarks/locust_load.py --users 2000
    python benchmarks/locust_load.py --tls               # https/wss; Locust trusts its CA

With ``--tls`` the Locust process trusts the system's CA store plus the sandbox's CA (one bundle,
through ``REQUESTS_CA_BUNDLE`` and ``SSL_CERT_FILE``), as a production run trusts the system
store: every consumer shares the process's one TLS context per bundle and one keepalive thread.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from synth_load import SCENARIO as SYNTH_SCENARIO
from synth_load import status_kib

from lpbot.client.tls import ca_bundle

#: the same conversation as benchmarks/synth_load.py, so the two tables compare
SCENARIO = SYNTH_SCENARIO.replace("{timeout}", "60")

FIRST_REPLY = "load/first reply"


# --- the side Locust loads ------------------------------------------------------------------

def define_users() -> Any:
    """The benchmark's user class and its process measurements (inside Locust only)."""
    import gevent
    from locust import events

    from lpbot.loadtest import ScenarioConsumer, scenario_user
    from lpbot.loadtest.target import options_from_host

    out = Path(os.environ["LPBOT_BENCH_OUT"])
    scenario_file = os.environ["LPBOT_BENCH_SCENARIO"]
    measured: dict[str, Any] = {"peak_rss": 0, "peak_consumers": 0, "connected": 0}

    def sample() -> None:
        while True:
            names = [t.name for t in threading.enumerate()]
            connected = sum(1 for name in names if name.startswith("lpbot-reader-"))
            measured["peak_keepalive_threads"] = max(measured.get("peak_keepalive_threads", 0),
                                                     names.count("lpbot-keepalive"))
            measured["peak_rss"] = max(measured["peak_rss"], status_kib("VmRSS"))
            measured["peak_consumers"] = max(measured["peak_consumers"], connected)
            measured["peak_greenlet_threads"] = max(measured.get("peak_greenlet_threads", 0),
                                                    threading.active_count())
            gevent.sleep(0.1)

    @events.test_start.add_listener
    def warm_up(environment: Any, **_kwargs: Any) -> None:
        from lpbot.synthetic.scenario import load_scenario

        consumer = ScenarioConsumer(load_scenario(scenario_file),
                                    options_from_host(environment.host), number=0,
                                    report=lambda measurement: None)
        consumer.run_once()
        consumer.close()
        measured["baseline_rss"] = status_kib("VmRSS")
        measured["started"] = time.monotonic()
        gevent.spawn(sample)

    @events.quitting.add_listener
    def write(environment: Any, **_kwargs: Any) -> None:
        stats = environment.stats
        first = stats.get(FIRST_REPLY, "first_reply")
        measured.update(
            wall=time.monotonic() - measured.get("started", time.monotonic()),
            runs=stats.get("load/steps[8] expect_closed", "expect_closed").num_requests,
            failures=stats.total.num_failures, requests=stats.total.num_requests,
            first_reply={str(q): first.get_response_time_percentile(q)
                         for q in (0.5, 0.95, 0.99)},
            errors=[str(error.error) for error in list(stats.errors.values())[:5]])
        out.write_text(json.dumps(measured), encoding="utf-8")

    return scenario_user(scenario_file, class_name="Load", runs_per_consumer=10_000)


if __name__ != "__main__" and "locust" in sys.modules:
    Load = define_users()


# --- the script -----------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000, help="Locust users = consumers")
    parser.add_argument("--spawn-rate", type=float, help="users started per second "
                                                         "(default: users / 10)")
    parser.add_argument("--hold", type=float, default=10.0,
                        help="seconds each conversation stays open (default 10)")
    parser.add_argument("--steady", type=float, default=20.0,
                        help="seconds to run once every user started (default 20)")
    parser.add_argument("--tls", action="store_true",
                        help="https/wss; Locust trusts the sandbox's CA through the environment")
    args = parser.parse_args()
    rate = args.spawn_rate or args.users / 10
    ramp = args.users / rate
    run_time = ramp + args.steady
    sys.path.insert(0, str(Path(__file__).parent))
    from synth_load import start_sandbox

    with tempfile.TemporaryDirectory() as folder:
        ca_file = str(Path(folder, "ca.pem")) if args.tls else None
        server, csds_domain = start_sandbox(ca_file)
        if ca_file:  # the system store, as in production, plus the sandbox's CA
            ca_file = str(ca_bundle(Path(folder, "bundle.pem"), ca_file))
        scheme = "https" if args.tls else "http"
        host = f"{scheme}://{csds_domain}/api/account/bench/service/baseURI.json?version=1.0"
        scenario = Path(folder, "load.toml")
        scenario.write_text(SCENARIO.format(hold=args.hold), encoding="utf-8")
        out = Path(folder, "measured.json")
        env = {**os.environ, "LPBOT_BENCH_OUT": str(out), "LPBOT_BENCH_SCENARIO": str(scenario)}
        if ca_file:  # requests reads the first, the WebSocket's ssl context the second
            env |= {"REQUESTS_CA_BUNDLE": ca_file, "SSL_CERT_FILE": ca_file}
        command = [sys.executable, "-m", "locust", "-f", __file__, "--headless",
                   "--only-summary", "-u", str(args.users), "-r", f"{rate:g}",
                   "-t", f"{run_time:.0f}s", "--host", host, "--stop-timeout", "0"]
        try:
            locust = subprocess.run(command, env=env, capture_output=True, text=True,  # noqa: S603
                                    timeout=run_time + 120, check=False)
            if not out.exists():
                print(locust.stderr[-3000:])
                raise SystemExit("Locust wrote no measurements")
            measured = json.loads(out.read_text(encoding="utf-8"))
        finally:
            server.terminate()
            server.wait(30)
    report(measured, args, rate, run_time)


def report(measured: dict[str, Any], args: argparse.Namespace, rate: float,
           run_time: float) -> None:
    consumers = max(measured["peak_consumers"], 1)
    per_consumer = (measured["peak_rss"] - measured["baseline_rss"]) / consumers
    first = measured["first_reply"]
    wall = measured["wall"] or run_time
    rows = [
        ("Locust users (C), spawn rate", f"{args.users}, {rate:g}/s"),
        ("run time / hold per conversation", f"{run_time:.0f} s / {args.hold:g} s"),
        ("peak connected consumers in the process", f"{measured['peak_consumers']}"),
        ("threads (greenlets) in the process, peak", f"{measured['peak_greenlet_threads']}"),
        ("lpbot keepalive threads (one per process)",
         f"{measured.get('peak_keepalive_threads', 0)}"),
        ("runs completed", f"{measured['runs']}"),
        ("requests / failures reported to Locust", f"{measured['requests']} / "
                                                   f"{measured['failures']}"),
        ("conversations/s", f"{measured['runs'] / wall:.1f}"),
        ("first agent reply p50 / p95 / p99",
         " / ".join(f"{first[q]:.0f} ms" for q in ("0.5", "0.95", "0.99"))),
        ("RSS baseline (after warm-up)", f"{measured['baseline_rss'] / 1024:.1f} MiB"),
        ("peak RSS of the Locust process", f"{measured['peak_rss'] / 1024:.1f} MiB"),
        ("RSS per connected consumer", f"{per_consumer:.0f} KiB"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    for error in measured["errors"]:
        print(f"FAILED: {error}")


if __name__ == "__main__":
    main()

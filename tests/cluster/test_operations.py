"""Operating a cluster: /healthz says whether a daemon is active, /metrics shows its leases."""

from __future__ import annotations

import json
import re
import signal
import urllib.error
import urllib.request
from pathlib import Path

from lpbot.client.state_pg import connect, migrate
from lpbot.sandbox import Sandbox
from lpbot.testing import wait_until
from lpbot.testing.harness import DaemonProcess

from .daemons import RENEW, TTL, ClusterSetup, running


def endpoint(daemon: DaemonProcess) -> str:
    record = daemon.wait_for("metrics on ", timeout=30)
    found = re.search(r"(http://127\.0\.0\.1:\d+)/metrics", str(record["message"]))
    assert found is not None
    return found.group(1)


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 -- our endpoint
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read().decode()


def health(daemon_url: str, *, healthy: bool = True) -> dict[str, object]:
    status, body = get(daemon_url + "/healthz")
    assert status == 200 or not healthy, body
    return dict(json.loads(body))


def test_healthz_and_metrics_tell_the_active_daemon_from_the_standby(
        lp_sandbox: Sandbox, state_url: str, tmp_path: Path) -> None:
    with connect(state_url) as conn:
        migrate(conn)
    setup = ClusterSetup(sandbox=lp_sandbox, state_url=state_url, folder=tmp_path,
                         enabled=("metrics",),
                         extra="[plugins.metrics]\nenabled = true\nport = 0\n")
    with running(setup.daemon(1)) as (first,):
        first.wait_for("lease consumer:one taken", timeout=30)
        first_url = endpoint(first)
        with running(setup.daemon(2)) as (second,):
            second_url = endpoint(second)
            wait_until(lambda: health(first_url)["leases"] == ["consumer:one", "scheduler"], 10,
                       "the first daemon active for everything")
            standby = health(second_url)
            assert standby["active"] is False
            assert standby["leases"] == []
            _, metrics = get(first_url + "/metrics")
            assert 'lpbot_lease_owned{lease="scheduler"} 1.0' in metrics
            first.process.kill()
            first.wait(timeout=10)
            # while it takes over, a part may still be starting (503): wait for the whole
            wait_until(lambda: health(second_url, healthy=False)["status"] == "ok"
                       and health(second_url)["leases"] == ["consumer:one", "scheduler"],
                       TTL + RENEW + 10, "the standby to take over")
            wait_until(lambda: "lpbot_failovers_total 2.0" in get(second_url + "/metrics")[1],
                       10, "two failovers counted (the consumer and the scheduler)")
            second.send_signal(signal.SIGTERM)
            assert second.wait(timeout=10) == 0

r"""Two lpbot scenarios as Locust users: three order-status consumers for each silent-agent one.

    lpbot sandbox --port 8383 &
    locust -f config/locustfile.py \
        --host 'http://127.0.0.1:8383/api/account/sandbox/service/baseURI.json?version=1.0'

Each Locust user is one synthetic consumer (its own identity and socket) running its scenario
in a loop; every step with a latency shows in Locust's statistics as ``scenario/step``.
"""

from pathlib import Path

from locust import between

from lpbot.loadtest import scenario_user

SCENARIOS = Path(__file__).parent / "scenarios"

OrderStatus = scenario_user(SCENARIOS / "order_status.toml", weight=3)
SilentAgent = scenario_user(SCENARIOS / "silent_agent.toml", weight=1, wait_time=between(1, 3))

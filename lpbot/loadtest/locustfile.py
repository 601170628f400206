r"""``locust -f`` target: the scenario files and weights come from Locust's command line.

    lpbot sandbox --port 8383 &
    locust -f lpbot/loadtest/locustfile.py --headless -u 100 -r 20 -t 1m \
        --host 'http://127.0.0.1:8383/api/account/sandbox/service/baseURI.json?version=1.0' \
        --lpbot-scenarios config/scenarios/order_status.toml:3,config/scenarios/silent_agent.toml

From an installed lpbot, ``python -c 'import lpbot.loadtest as l; print(l.LOCUSTFILE)'`` prints
this file's path. The one user class, ``LpbotScenarios``, gives each new user one of the files in
proportion to their weights.

The class is defined only when Locust loads this file: imported anywhere else (documentation
tools, a test run importing every module) it defines nothing, because making it imports Locust,
and importing Locust monkey-patches the importing process with gevent.
"""

from __future__ import annotations

from typing import Any

from lpbot.loadtest.users import loaded_by_locust, scenario_mix_user

__all__ = ["LpbotScenarios"]

LpbotScenarios: type[Any] | None = scenario_mix_user() if loaded_by_locust() else None

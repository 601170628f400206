"""Synthetic load on Locust: lpbot scenario files run as Locust users, on one machine or many.

``pip install 'lpbot[locust]'``, then run Locust's own commands (headless, the web UI,
``--processes``, ``--master``/``--worker``) on :data:`LOCUSTFILE` (scenario files given on the
command line) or on a locustfile of your own made with :func:`scenario_user`.

Nothing in this package imports Locust until a user class is made, so importing it never
monkey-patches a process that Locust does not run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from lpbot.loadtest.consumer import Measurement, ScenarioConsumer
from lpbot.loadtest.users import scenario_mix_user, scenario_user

__all__ = ["LOCUSTFILE", "Measurement", "ScenarioConsumer", "scenario_mix_user", "scenario_user"]

#: the ``locust -f`` target whose scenarios come from ``--lpbot-scenarios``
LOCUSTFILE: Final = Path(__file__).with_name("locustfile.py")

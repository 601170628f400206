"""Synthetic conversations: scenario files run by many consumers at once, with reports.

Example:
    >>> from lpbot.synthetic import load_scenario                # doctest: +SKIP
    >>> scenario = load_scenario("config/scenarios/order_status.toml")  # doctest: +SKIP
"""

from __future__ import annotations

from lpbot.synthetic.results import RunResult, StepResult, TranscriptLine
from lpbot.synthetic.scenario import Scenario, load_scenario, parse_scenario

__all__ = [
    "RunResult",
    "Scenario",
    "StepResult",
    "TranscriptLine",
    "load_scenario",
    "parse_scenario",
]

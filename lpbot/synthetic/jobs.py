"""Scheduled scenarios: a job function the daemon's ``[[jobs]]`` reference by text.

In the daemon config::

    [[jobs]]
    id = "synthetic-order-status"
    kind = "call"
    ref = "lpbot.synthetic.jobs:run_scenario"
    cron = "*/5 * * * *"            # or: every = 300
    args = { bot = "main", scenario = "config/scenarios/order_status.toml" }

The job runs on an ``lpbot-job`` thread with plain-data arguments (APScheduler 3.x rule), finds
the running bot by name, connects fresh consumers to the bot's account, and hands each result to
the ``lpbot_scenario_result`` hook, counts it in ``bot.counters`` and logs a failure.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Final

from lpbot.runtime.client_options import client_options
from lpbot.runtime.jobs import get_bot
from lpbot.synthetic.results import RunResult
from lpbot.synthetic.runner import Runner
from lpbot.synthetic.scenario import load_scenario

if TYPE_CHECKING:
    from lpbot.runtime.bot import Bot

__all__ = [
    "SCENARIO_FIRST_RESPONSE",
    "SCENARIO_RUNS",
    "SCENARIO_STEP_SECONDS",
    "report",
    "run_scenario",
]

log = logging.getLogger(__name__)

#: counter (scenario, outcome "passed" | "failed"): scheduled scenario runs
SCENARIO_RUNS: Final = "scenario_runs"
#: histogram (scenario, step name): seconds each step took
SCENARIO_STEP_SECONDS: Final = "scenario_step_seconds"
#: histogram (scenario,): seconds from the first consumer message to the first agent reply
SCENARIO_FIRST_RESPONSE: Final = "scenario_first_response_seconds"

#: the hook each result goes to
HOOK: Final = "lpbot_scenario_result"


def run_scenario(
    *,
    scenario: str,
    bot: str = "main",
    count: int = 1,
    concurrency: int = 1,
    ramp_up: float = 0.0,
) -> dict[str, Any]:
    """Run the scenario file ``scenario`` ``count`` times against ``bot``'s account.

    Raises ``ConfigError`` for a bad scenario file (reported as a failed job, nothing
    connects); a failed step is not an exception: it is a result with ``ok`` false.

    Returns:
        Plain counts: ``{"scenario": name, "runs": n, "failed": n}``.
    """
    running = get_bot(bot)
    checked = load_scenario(scenario)
    runner = Runner(checked, client_options(running.config.account), count=count,
                    concurrency=concurrency, ramp_up=ramp_up, stop_event=running.stopping)
    results = runner.run()
    # reported from this (pooled) job thread: the runner's threads are new every run
    for result in results:
        report(running, result)
    return {"scenario": checked.name, "runs": len(results),
            "failed": sum(1 for result in results if not result.ok)}


def report(bot: Bot, result: RunResult) -> None:
    """Count ``result`` in ``bot.counters``, log it, queue the ``lpbot_scenario_result`` hook."""
    outcome = "passed" if result.ok else "failed"
    bot.counters.inc(SCENARIO_RUNS, result.scenario, outcome)
    for step in result.steps:
        bot.counters.observe(SCENARIO_STEP_SECONDS, step.duration, result.scenario,
                             f"steps[{step.index}] {step.kind}")
    if result.first_response is not None:
        bot.counters.observe(SCENARIO_FIRST_RESPONSE, result.first_response, result.scenario)
    if result.ok:
        log.info("scenario %s run %d passed in %.3f s", result.scenario, result.run,
                 result.duration)
    else:
        log.warning("scenario %s run %d failed: %s", result.scenario, result.run,
                    result.failure)
    bot.dispatcher.submit(f"scenario:{result.scenario}", HOOK, {"bot": bot, "result": result})

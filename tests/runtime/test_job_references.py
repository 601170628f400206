"""Job stores written before the package had layers still load (their jobs say ``lpbot.jobs:``)."""

from __future__ import annotations

from pathlib import Path

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler

import lpbot.runtime.jobs


def test_a_job_stored_under_the_old_module_name_loads(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.sqlite'}"
    writer = BackgroundScheduler(jobstores={"default": SQLAlchemyJobStore(url=url)})
    writer.add_job("lpbot.jobs:set_ttr", "interval", hours=1, id="old",
                   kwargs={"bot": "main", "ttr_type": "PRIORITIZED"})
    writer.start(paused=True)
    writer.shutdown(wait=False)

    store = SQLAlchemyJobStore(url=url)
    reader = BackgroundScheduler(jobstores={"default": store})
    reader.start(paused=True)
    try:
        [job] = store.get_all_jobs()
        assert job.func is lpbot.runtime.jobs.set_ttr
    finally:
        reader.shutdown(wait=False)

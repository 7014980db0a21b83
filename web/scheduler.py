"""APScheduler wiring: background jobs (webhook delivery, auto waves, tracking polls, …).

Features contribute *job providers*: ``provider(scheduler, floor_ctx)`` adds its jobs with
``scheduler.add_job(module_level_function, trigger, kwargs=…, id=…, replace_existing=True)``.
Jobs are module-level functions taking plain arguments (the session factory, settings), so the
domain stays free of Flask. The scheduler runs in ``flask --app app serve`` (``make run``); tests
call the job functions directly, or start a scheduler themselves.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

JobProvider = Callable[[BackgroundScheduler, Any], None]


def build_scheduler(floor_ctx: Any, providers: Iterable[JobProvider]) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(
        timezone=dt.UTC,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30},
    )
    for provide in providers:
        provide(scheduler, floor_ctx)
    return scheduler

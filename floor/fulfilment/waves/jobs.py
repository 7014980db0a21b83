"""Automatic waves: the scheduled job that plans (and, if the rule says so, releases) waves."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.actors import Actor
from core.db import unit_of_work, utcnow
from floor.fulfilment.models import WaveRule
from floor.fulfilment.waves.planning import plan_waves
from floor.fulfilment.waves.progress import release_wave

# --------------------------------------------------------------------------
# Auto waves (APScheduler)
# --------------------------------------------------------------------------


def plan_and_release_due_waves(
    sessions: sessionmaker[Session], *, now: dt.datetime | None = None
) -> list[int]:
    """Scheduled job: apply every enabled rule whose ``schedule_every_min`` interval is due.

    Each due rule plans waves from the orders due within its ``cutoff_horizon_min`` (0 = all)
    and releases them when ``auto_release`` is on. Returns the ids of the waves planned.
    """
    now = now or utcnow()
    with unit_of_work(sessions) as s:
        rules = s.scalars(
            select(WaveRule)
            .where(WaveRule.enabled.is_(True), WaveRule.schedule_every_min > 0)
            .order_by(WaveRule.id)
        ).all()
        due = [
            r.id
            for r in rules
            if r.last_run_at is None
            or now - r.last_run_at >= dt.timedelta(minutes=r.schedule_every_min) - _SLACK
        ]
    planned: list[int] = []
    actor = Actor("scheduler")
    for rule_id in due:
        with unit_of_work(sessions) as s:
            rule = s.get(WaveRule, rule_id)
            if rule is None or not rule.enabled:
                continue
            rule.last_run_at = now
            result = plan_waves(
                s, rule, actor, now=now, due_within_min=rule.cutoff_horizon_min or None
            )
            if rule.auto_release:
                for wave in result.waves:
                    release_wave(s, wave.id, actor)
            planned += result.wave_ids
    return planned


# The scheduler ticks every minute; a rule due "every 5 min" must not slip to 6 by jitter.
_SLACK = dt.timedelta(seconds=5)
TICK_SECONDS = 60


def register_jobs(scheduler: Any, floor_ctx: Any) -> None:
    """Job provider for ``web/scheduler.py``: check the wave rules every minute."""
    scheduler.add_job(
        plan_and_release_due_waves,
        "interval",
        seconds=TICK_SECONDS,
        kwargs={"sessions": floor_ctx.sessions},
        id="waves.plan_and_release_due",
        replace_existing=True,
    )

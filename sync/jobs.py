"""Scheduled sync jobs (module-level functions with plain arguments) and their provider.

- ``deliver_webhooks`` every second when FLOOR_OMS_WEBHOOK_URL is set;
- ``poll_carrier_tracking`` every FLOOR_TRACKING_POLL_S seconds (0 = never);
- ``close_all_carriers`` daily at FLOOR_EOD_CLOSE_AT ("HH:MM", UTC) when set.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from core.actors import Actor
from core.db import unit_of_work
from core.settings import Settings
from sync.carriers import CarrierError, carrier_for
from sync.manifest import ManifestError, close_day, open_carriers
from sync.tracking import PollStats, poll_tracking
from sync.worker import DeliveryConfig, DeliveryStats, deliver_due

log = logging.getLogger(__name__)


def deliver_webhooks(sessions: sessionmaker[Session], settings: Settings) -> DeliveryStats:
    stats = deliver_due(sessions, DeliveryConfig.from_settings(settings), time_budget_s=20)
    if stats.rounds:
        log.info(
            "webhooks: %d delivered, %d to retry, %d dead",
            stats.delivered,
            stats.retried,
            stats.dead,
        )
    return stats


def poll_carrier_tracking(sessions: sessionmaker[Session], settings: Settings) -> PollStats:
    return poll_tracking(sessions, lambda name: carrier_for(name, settings))


def close_all_carriers(sessions: sessionmaker[Session], settings: Settings) -> list[int]:
    """End-of-day close of every carrier with packages waiting; one transaction each."""
    with unit_of_work(sessions) as s:
        carriers = list(open_carriers(s))
    made = []
    for name in carriers:
        try:
            with unit_of_work(sessions) as s:
                made.append(close_day(s, carrier_for(name, settings), Actor.system()).id)
        except (CarrierError, ManifestError) as exc:
            log.warning("end-of-day close of %s failed: %s", name, exc)
    return made


def register_jobs(scheduler: Any, floor_ctx: Any) -> None:
    settings: Settings = floor_ctx.settings
    kwargs = {"sessions": floor_ctx.sessions, "settings": settings}
    if settings.oms_webhook_url:
        if not settings.oms_webhook_secret:
            log.warning(
                "FLOOR_OMS_WEBHOOK_SECRET is not set: webhooks are signed with an empty key"
            )
        scheduler.add_job(
            deliver_webhooks,
            "interval",
            seconds=1,
            kwargs=kwargs,
            id="sync.deliver_webhooks",
            replace_existing=True,
        )
    if settings.tracking_poll_s > 0:
        scheduler.add_job(
            poll_carrier_tracking,
            "interval",
            seconds=settings.tracking_poll_s,
            kwargs=kwargs,
            id="sync.poll_tracking",
            replace_existing=True,
        )
    if settings.eod_close_at:
        hour, _, minute = settings.eod_close_at.partition(":")
        scheduler.add_job(
            close_all_carriers,
            "cron",
            hour=int(hour),
            minute=int(minute or 0),
            kwargs=kwargs,
            id="sync.close_all_carriers",
            replace_existing=True,
        )

"""Tracking polls: ask each carrier about shipped, undelivered packages; "delivered" flows back
to the OMS as the order's ``order.delivered`` event. Carrier calls happen outside transactions."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.actors import Actor
from core.db import unit_of_work
from floor.fulfilment.models import Package
from floor.fulfilment.packing.carriers import CarrierAdapter, CarrierError
from floor.fulfilment.packing.shipping import mark_delivered
from floor.fulfilment.states import PackageStatus

log = logging.getLogger(__name__)


@dataclass
class PollStats:
    polled: int = 0
    delivered_packages: int = 0
    delivered_orders: int = 0
    errors: int = 0


def poll_tracking(
    sessions: sessionmaker[Session],
    carrier_for: Callable[[str], CarrierAdapter],
    *,
    limit: int = 500,
    actor: Actor | None = None,
) -> PollStats:
    actor = actor or Actor.system()
    stats = PollStats()
    with unit_of_work(sessions) as s:
        todo = s.execute(
            select(Package.id, Package.carrier, Package.tracking_number, Package.shipped_at)
            .where(
                Package.status == PackageStatus.shipped,
                Package.delivered_at.is_(None),
                Package.tracking_number.is_not(None),
            )
            .order_by(Package.shipped_at)
            .limit(limit)
        ).all()
    found: list[tuple[int, dt.datetime]] = []
    adapters: dict[str, CarrierAdapter] = {}
    for pkg_id, carrier, tracking, shipped_at in todo:
        adapter = adapters.setdefault(carrier, carrier_for(carrier))
        stats.polled += 1
        try:
            status = adapter.tracking_status(tracking, shipped_at=shipped_at)
        except CarrierError as exc:
            stats.errors += 1
            log.warning("tracking %s at %s: %s", tracking, carrier, exc.message)
            continue
        if status.delivered:
            found.append((pkg_id, status.delivered_at or dt.datetime.now(dt.UTC)))
    for pkg_id, when in found:
        with unit_of_work(sessions) as s:
            pkg = s.get(Package, pkg_id)
            if pkg is None or pkg.delivered_at is not None:
                continue
            stats.delivered_packages += 1
            if mark_delivered(s, pkg, when, actor):
                stats.delivered_orders += 1
    return stats

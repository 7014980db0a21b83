"""What the supervisor's live dashboard shows, as one plain, JSON-ready snapshot.

The page renders it server-side for the first paint, and the browser fetches it again each time
its Socket.IO connection (re)joins the live feed, so nothing published while it was away is
missed; from then on the events of ``core.events`` keep it current. The order counts are kept
by deltas (``order.status``), so the snapshot says which of them it holds (``seq``).

``live_state`` is the part that changes with every scan — the people table and each open
wave's projected finish — which the web layer recomputes at most every 0.6 s while the
floor is busy and sends to open dashboards in one message (``web.live``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from core.db import utcnow
from floor.fulfilment import exceptions as floor_exceptions
from floor.fulfilment import people as floor_people
from floor.fulfilment import projections as floor_projections
from floor.fulfilment import shift_figures
from floor.fulfilment.models import Wave
from floor.fulfilment.order_views import order_counts_at, recent_orders
from floor.fulfilment.states import WaveStatus
from floor.fulfilment.waves import planning as waves
from floor.site import replenishment
from floor.site.stock import ReplenishmentStatus

OPEN_WAVES = (WaveStatus.planned, WaveStatus.released, WaveStatus.in_progress)
# A finished wave stays on the board this long, so the supervisor sees it reach 100 %.
FINISHED_VISIBLE = dt.timedelta(hours=1)
RECENT_ORDERS = 10


def board_waves(session: Session, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Open waves by cut-off, then waves finished within the last hour."""
    since = (now or utcnow()) - FINISHED_VISIBLE
    rows = list(
        session.scalars(
            select(Wave)
            .where(
                or_(
                    Wave.status.in_(OPEN_WAVES),
                    (Wave.status == WaveStatus.completed) & (Wave.completed_at >= since),
                )
            )
            .order_by(Wave.cutoff_at, Wave.id)
            .limit(200)
        )
    )
    sums = waves.summaries(session, rows)
    return [sums[w.id] for w in rows]


def shift_start(now: dt.datetime, zone: dt.tzinfo = dt.UTC) -> dt.datetime:
    """Where "this shift" begins: the site's midnight (``zone``, the site's time zone) before
    ``now``, in UTC (one shift a day for now)."""
    return shift_figures.local_midnight(shift_figures.site_day(now, zone), zone)


def live_state(
    session: Session,
    now: dt.datetime | None = None,
    waves: list[dict[str, Any]] | None = None,
    zone: dt.tzinfo = dt.UTC,
) -> dict[str, Any]:
    """The people on the floor and every open wave's projected finish, computed together (the
    projections use the people's current rates); the shift is the site's day (``zone``)."""
    now = now or utcnow()
    crew = floor_people.people(session, now, shift_start(now, zone))
    rates = {r["user_id"]: r["hour"]["units_per_h"] for r in crew if r["role"] == "picker"}
    waves = board_waves(session, now) if waves is None else waves
    proj = floor_projections.projections(session, waves, rates, now)
    return {
        "people": crew,
        "projections": {str(k): v for k, v in proj.items()},
        "generated_at": now.isoformat(),
    }


def figures(
    session: Session, now: dt.datetime | None = None, zone: dt.tzinfo = dt.UTC
) -> dict[str, Any]:
    """Today's figures (``shift_figures``) as JSON: today on the site's clock (``zone``)."""
    day = shift_figures.site_day(now or utcnow(), zone)
    return shift_figures.load(session, day, zone).to_dict()


def snapshot(session: Session, zone: dt.tzinfo = dt.UTC) -> dict[str, Any]:
    """Order counts by status, waves with progress and projected finish, the people, open
    exceptions and replenishment tasks, the newest orders and the day's figures (the day and
    the shift: the site's, ``zone``).

    ``seq`` is the feed position the counts include (``order_counts_at``): the page applies an
    ``order.status`` of the live feed (``web.live`` gives each its ``seq``) only if it is
    later, so a move the snapshot already counts is not counted again."""
    # The counts first: the newest orders, read after them, show every move the page drops
    # as already counted (later ones it applies to the list again, which changes nothing).
    counts, seq = order_counts_at(session)
    recent = recent_orders(session, limit=RECENT_ORDERS).rows
    now = utcnow()
    waves = board_waves(session, now)
    return {
        "counts": counts,
        "seq": seq,
        "waves": waves,
        "live": live_state(session, now, waves, zone),
        "figures": figures(session, now, zone),
        "exceptions": [
            floor_exceptions.to_dict(session, e) for e in floor_exceptions.list_exceptions(session)
        ],
        "replenishments": replenishment.list_tasks(session, ReplenishmentStatus.open),
        "recent_orders": [
            {
                "external_id": r["external_id"],
                "status": r["status"],
                "priority": r["priority"],
                "ship_by": r["ship_by"].isoformat(),
                "lines": r["lines"],
            }
            for r in recent
        ],
        "generated_at": utcnow().isoformat(),
    }

"""The people on the floor, as a supervisor runs a shift by them: who holds which pick list or
station, how fast they go this hour and this shift, how long since their last scan, how often
their scans are right.

Sources: pickers from their stored scans (aggregated in SQL: ``picker_stats``) and the pick
lists they hold; packers from the ``order.packed`` events in the outbox (each names the acting
user and the station; pack-station item checks are made in the browser and are not stored as
scans, so a packer has no scan accuracy).

Rates (``per_hour``): a count over a window divided by the time the person was actually at it:
from the later of the window's start and their first activity of the shift, to now, but never
less than ``MIN_SPAN`` (so a first scan does not read as thousands per hour). "This hour" is the
rolling last 60 minutes; "this shift" runs from the shift start (the caller's: the dashboard's is
the site's midnight in ``FLOOR_TIMEZONE``, ``dashboard.shift_start``).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import case, distinct, func, select
from sqlalchemy.orm import Session

from core.bulk import among
from core.users import Role, User
from floor.fulfilment.models import PickList, PickTask, Scan, Wave
from floor.fulfilment.shift_figures import BOOKING_KINDS, DECISIVE, UnitsOf, parse_time
from floor.fulfilment.states import PickListStatus
from floor.fulfilment.waves.rules import ACTIVE_WAVE, OPEN_TASK
from floor.site.layout import Location
from orders.models import Order, OrderLine
from orders.outbox import OutboxEvent

HOUR = dt.timedelta(hours=1)
CLOCK_AHEAD = dt.timedelta(minutes=5)  # scans stamped this far ahead of now still count
MIN_SPAN = dt.timedelta(minutes=10)
ROLES = (Role.picker, Role.packer)


def per_hour(
    count: float, window_start: dt.datetime, first_activity: dt.datetime | None, now: dt.datetime
) -> float:
    """``count`` per hour of work in the window (see the module docstring)."""
    if first_activity is None or count == 0:
        return 0.0
    since = max(window_start, first_activity)
    span = max(now - since, MIN_SPAN)
    return count / (span / HOUR)


@dataclass
class Tally:
    """Work done by one person in a window: lines (tasks or orders) and units."""

    lines: int = 0
    units: int = 0

    def rates(
        self, start: dt.datetime, first: dt.datetime | None, now: dt.datetime
    ) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "units": self.units,
            "lines_per_h": round(per_hour(self.lines, start, first, now), 1),
            "units_per_h": round(per_hour(self.units, start, first, now), 1),
        }


@dataclass(frozen=True)
class PackRow:
    username: str
    order_id: int
    station: str
    at: dt.datetime
    units: int


def _held_lists(session: Session, user_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """The pick list each picker is working (first by id), with what is left on it."""
    if not user_ids:
        return {}
    rows = session.execute(
        select(
            PickList.assigned_user_id,
            PickList.id,
            Wave.id,
            Wave.code,
            func.count(PickTask.id),
            func.coalesce(func.sum(PickTask.quantity - PickTask.picked_qty), 0),
        )
        .join(Wave, Wave.id == PickList.wave_id)
        .outerjoin(
            PickTask,
            (PickTask.pick_list_id == PickList.id) & PickTask.status.in_(OPEN_TASK),
        )
        .where(
            PickList.assigned_user_id.in_(user_ids),
            PickList.status == PickListStatus.in_progress,
            Wave.status.in_(ACTIVE_WAVE),
        )
        .group_by(PickList.assigned_user_id, PickList.id, Wave.id, Wave.code)
        .order_by(PickList.id)
    ).all()
    held: dict[int, dict[str, Any]] = {}
    for uid, list_id, wave_id, code, left, units_left in rows:
        held.setdefault(
            uid,
            {
                "id": list_id,
                "wave_id": wave_id,
                "wave_code": code,
                "tasks_left": left,
                "units_left": int(units_left),
            },
        )
    return held


def _count_if(cond: Any) -> Any:
    return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)


@dataclass
class PickerStats:
    """One picker's scans in the shift, aggregated: first and last scan, last ``ok`` scan with a
    task, ok and decisive scans (``shift_figures.scan_tally``), lines and units booked this
    shift and this hour."""

    first: dt.datetime | None = None
    last: dt.datetime | None = None
    last_ok_at: dt.datetime | None = None
    ok: int = 0
    decisive: int = 0
    shift: Tally = field(default_factory=Tally)
    hour: Tally = field(default_factory=Tally)


def picker_stats(
    session: Session, shift_start: dt.datetime, hour_start: dt.datetime, end: dt.datetime
) -> dict[int, PickerStats]:
    """Per user, their scans in ``[shift_start, end)`` aggregated in the database (a shift's
    tens of thousands of scans never travel to Python). Lines: distinct tasks hit by ``ok``
    item scans (``BOOKING_KINDS``: on a cart of several totes, the item scan held for its
    tote); units: those scans, a multi-pack GTIN counting its units (``UnitsOf``; only the
    few codes of more than one unit are counted per code)."""
    window = (Scan.scanned_at >= shift_start, Scan.scanned_at < end, Scan.user_id.is_not(None))
    booked = (Scan.result == "ok") & Scan.kind.in_(BOOKING_KINDS)
    in_hour = Scan.scanned_at >= hour_start
    out: dict[int, PickerStats] = {}
    proved = (Scan.result == "ok") & Scan.task_id.is_not(None)
    for uid, first, last, last_ok, ok, decisive, lines, lines_h, units, units_h in session.execute(
        select(
            Scan.user_id,
            func.min(Scan.scanned_at),
            func.max(Scan.scanned_at),
            func.max(case((proved, Scan.scanned_at))),
            _count_if(Scan.result == "ok"),
            _count_if(Scan.result.in_(DECISIVE)),
            func.count(distinct(case((booked, Scan.task_id)))),
            func.count(distinct(case((booked & in_hour, Scan.task_id)))),
            _count_if(booked),
            _count_if(booked & in_hour),
        )
        .where(*window)
        .group_by(Scan.user_id)
    ):
        out[uid] = PickerStats(
            first, last, last_ok, ok, decisive, Tally(lines, units), Tally(lines_h, units_h)
        )
    units_of = UnitsOf(session)
    units_of.prime(session.scalars(select(Scan.raw).where(*window, booked).distinct()))
    multi = {raw: n for raw, n in units_of.cache.items() if n > 1}
    if multi:
        for uid, raw, n, n_h in session.execute(
            select(Scan.user_id, Scan.raw, func.count(Scan.id), _count_if(in_hour))
            .where(*window, booked, among(session, Scan.raw, multi))
            .group_by(Scan.user_id, Scan.raw)
        ):
            out[uid].shift.units += n * (multi[raw] - 1)
            out[uid].hour.units += n_h * (multi[raw] - 1)
    return out


def last_locations(session: Session, stats: dict[int, PickerStats]) -> dict[int, str]:
    """Per user, the location of the task of their last ``ok`` scan with a task (location or
    item), latest ``(scanned_at, id)``: where they last proved to be. ``picker_stats`` found the
    time of that scan; this reads only the scans at those times (by the ``scanned_at`` index)."""
    when = {uid: st.last_ok_at for uid, st in stats.items() if st.last_ok_at is not None}
    if not when:
        return {}
    last: dict[int, tuple[int, int]] = {}  # user -> (scan id, task id)
    for uid, scan_id, task_id, at in session.execute(
        select(Scan.user_id, Scan.id, Scan.task_id, Scan.scanned_at).where(
            among(session, Scan.scanned_at, sorted(set(when.values()))),
            among(session, Scan.user_id, sorted(when)),
            Scan.task_id.is_not(None),
            Scan.result == "ok",
        )
    ):
        if at == when[uid] and scan_id > last.get(uid, (0, 0))[0]:
            last[uid] = (scan_id, task_id)
    codes = dict(
        session.execute(
            select(PickTask.id, Location.code)
            .join(Location, Location.id == PickTask.location_id)
            .where(among(session, PickTask.id, sorted({t for _, t in last.values()})))
        ).all()
    )
    return {uid: codes[t] for uid, (_, t) in last.items() if t in codes}


def load_packs(session: Session, since: dt.datetime) -> list[PackRow]:
    """Orders packed since ``since``: who packed them (outbox ``order.packed`` payload)."""
    rows = session.execute(
        select(OutboxEvent.payload, OutboxEvent.created_at, Order.id)
        .join(Order, Order.external_id == OutboxEvent.aggregate_id)
        .where(OutboxEvent.type == "order.packed", OutboxEvent.created_at >= since)
    ).all()
    if not rows:
        return []
    units = dict(
        session.execute(
            select(OrderLine.order_id, func.sum(OrderLine.packed_qty))
            .where(OrderLine.order_id.in_({r[2] for r in rows}))
            .group_by(OrderLine.order_id)
        ).all()
    )
    return [
        PackRow(
            str(payload.get("actor", "")),
            order_id,
            str(payload.get("station", "")),
            parse_time(payload.get("at")) or created_at,
            int(units.get(order_id) or 0),
        )
        for payload, created_at, order_id in rows
    ]


def people(session: Session, now: dt.datetime, shift_start: dt.datetime) -> list[dict[str, Any]]:
    """Every active picker and packer, busiest first (holding work, then least idle)."""
    users = list(
        session.scalars(
            select(User).where(User.active.is_(True), User.role.in_(ROLES)).order_by(User.id)
        )
    )
    hour_start = now - HOUR
    end = now + CLOCK_AHEAD
    stats = picker_stats(session, shift_start, hour_start, end)
    held = _held_lists(session, [u.id for u in users if u.role == Role.picker])
    where = last_locations(session, stats)
    packs: dict[str, list[PackRow]] = defaultdict(list)
    if any(u.role == Role.packer for u in users):
        for p in load_packs(session, shift_start):
            packs[p.username].append(p)
    rows = []
    for u in users:
        row: dict[str, Any] = {
            "user_id": u.id,
            "username": u.username,
            "name": u.display_name,
            "role": u.role.value,
            "pick_list": None,
            "station": None,
            "last_location": None,
            "last_activity_at": None,
            "idle_s": None,
            "accuracy_pct": None,
            "scans": {"ok": 0, "decisive": 0},
        }
        if u.role == Role.picker:
            st = stats.get(u.id, PickerStats())
            first, last, ok, decisive = st.first, st.last, st.ok, st.decisive
            row.update(
                pick_list=held.get(u.id),
                last_location=where.get(u.id),
                accuracy_pct=round(100.0 * ok / decisive, 1) if decisive else None,
                scans={"ok": ok, "decisive": decisive},
                hour=st.hour.rates(hour_start, first, now),
                shift=st.shift.rates(shift_start, first, now),
            )
        else:
            mine_p = sorted(packs.get(u.username, []), key=lambda p: p.at)
            first = mine_p[0].at if mine_p else None
            last = mine_p[-1].at if mine_p else None
            recent = [p for p in mine_p if p.at >= hour_start]
            row.update(
                station=mine_p[-1].station if mine_p else None,
                hour=Tally(len(recent), sum(p.units for p in recent)).rates(hour_start, first, now),
                shift=Tally(len(mine_p), sum(p.units for p in mine_p)).rates(
                    shift_start, first, now
                ),
            )
        if last is not None:
            row["last_activity_at"] = last.isoformat()
            row["idle_s"] = max(0, int((now - last).total_seconds()))
        rows.append(row)
    rows.sort(
        key=lambda r: (
            not (r["pick_list"] or r["station"]),
            r["idle_s"] if r["idle_s"] is not None else 10**9,
            r["username"],
        )
    )
    return rows


CSV_HEADER = [
    "username",
    "name",
    "role",
    "pick_list",
    "wave",
    "station",
    "last_location",
    "idle_s",
    "lines_hour",
    "units_hour",
    "lines_per_h_hour",
    "units_per_h_hour",
    "lines_shift",
    "units_shift",
    "lines_per_h_shift",
    "units_per_h_shift",
    "accuracy_pct",
]


def csv_rows(rows: Iterable[dict[str, Any]]) -> list[list[Any]]:
    """The people table as CSV rows (header first); empty cells for "none"."""

    def cell(v: Any) -> Any:
        return "" if v is None else v

    out: list[list[Any]] = [CSV_HEADER]
    for r in rows:
        pl = r["pick_list"] or {}
        h, s = r["hour"], r["shift"]
        out.append(
            [
                r["username"],
                r["name"],
                r["role"],
                cell(pl.get("id")),
                cell(pl.get("wave_code")),
                cell(r["station"]),
                cell(r["last_location"]),
                cell(r["idle_s"]),
                h["lines"],
                h["units"],
                h["lines_per_h"],
                h["units_per_h"],
                s["lines"],
                s["units"],
                s["lines_per_h"],
                s["units_per_h"],
                cell(r["accuracy_pct"]),
            ]
        )
    return out

"""When will each wave be done, and will it make its truck?

A wave's projected finish is ``now + remaining units / rate``, where the rate is the sum of the
current (rolling last hour, ``people.per_hour``) units-per-hour of the pickers holding one of
its pick lists. Against the wave's carrier cut-off that gives one of:

``done``       the wave has nothing left to pick;
``on_time``    the projected finish is at least ``AT_RISK_MARGIN`` before the cut-off;
``not_started`` nobody is picking it yet, and one picker starting now at the floor's rate
               (``reference_rate``) would still finish ``AT_RISK_MARGIN`` before the cut-off:
               nothing to worry about yet (a wave released at the start of a shift);
``at_risk``    it finishes within ``AT_RISK_MARGIN`` of the cut-off, or nobody is picking it
               and one picker starting now would not (no rate, no promise);
``late``       the projected finish is after the cut-off, or the cut-off has passed with work
               left;
``no_cutoff``  the wave has no cut-off to miss.

A wave held by pickers who have no rate yet (their first minutes) is judged the same way, as
those pickers at the floor's rate: ``on_time`` or ``at_risk``, with no finish time shown.

A picker holding lists on two waves counts on both (rare: a picker works one cart at a time).
``drill`` is the supervisor's look into one wave: its pick lists, who holds each, where they
last proved to be, and what is left.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.users import User
from floor.fulfilment.models import PickList, PickTask, Wave
from floor.fulfilment.states import PickListStatus, TaskStatus

AT_RISK_MARGIN = dt.timedelta(minutes=15)
HOUR = dt.timedelta(hours=1)
# One picker's units/hour while nobody on the floor has a rate yet (the shift's first minutes):
# a modest piece-picking rate, so a wave is called "not started" only with time to spare.
REFERENCE_UNITS_PER_HOUR = 60.0


@dataclass(frozen=True)
class Projection:
    status: str
    finish_at: dt.datetime | None
    remaining_units: int
    units_per_hour: float
    pickers: int

    def to_dict(self, now: dt.datetime) -> dict[str, Any]:
        return {
            "status": self.status,
            "finish_at": self.finish_at.isoformat() if self.finish_at else None,
            "seconds_to_finish": (
                int((self.finish_at - now).total_seconds()) if self.finish_at else None
            ),
            "remaining_units": self.remaining_units,
            "units_per_hour": round(self.units_per_hour, 1),
            "pickers": self.pickers,
        }


def project(
    remaining_units: int,
    units_per_hour: float,
    now: dt.datetime,
    cutoff: dt.datetime | None,
    *,
    pickers: int = 0,
    margin: dt.timedelta = AT_RISK_MARGIN,
    reference_rate: float = 0.0,
) -> Projection:
    """The projected finish and its verdict against ``cutoff`` (see the module docstring);
    ``reference_rate``: one picker's units/hour, for a wave nobody is picking yet."""
    if remaining_units <= 0:
        return Projection("done", now, 0, units_per_hour, pickers)
    finish = now + remaining_units / units_per_hour * HOUR if units_per_hour > 0 else None
    if cutoff is None:
        status = "no_cutoff"
    elif finish is None:
        if now >= cutoff:
            status = "late"
        elif reference_rate > 0 and (
            now + remaining_units / (reference_rate * max(pickers, 1)) * HOUR <= cutoff - margin
        ):
            # its pickers (or one, if nobody has it yet) at the floor's rate make it in time
            status = "on_time" if pickers else "not_started"
        else:
            status = "at_risk"
    elif finish > cutoff:
        status = "late"
    elif finish > cutoff - margin:
        status = "at_risk"
    else:
        status = "on_time"
    return Projection(status, finish, remaining_units, units_per_hour, pickers)


def wave_pickers(session: Session, wave_ids: Iterable[int]) -> dict[int, set[int]]:
    """Per wave, the users holding one of its pick lists in progress."""
    ids = list(wave_ids)
    out: dict[int, set[int]] = defaultdict(set)
    if not ids:
        return out
    for wave_id, uid in session.execute(
        select(PickList.wave_id, PickList.assigned_user_id).where(
            PickList.wave_id.in_(ids),
            PickList.status == PickListStatus.in_progress,
            PickList.assigned_user_id.is_not(None),
        )
    ):
        out[wave_id].add(uid)
    return out


def projections(
    session: Session,
    waves: Iterable[Mapping[str, Any]],
    rates: Mapping[int, float],
    now: dt.datetime,
) -> dict[int, dict[str, Any]]:
    """Projection per wave summary (``waves.progress.summaries``), from per-user units/hour;
    a wave nobody picks is judged by the floor's mean rate (``REFERENCE_UNITS_PER_HOUR`` while
    nobody has one)."""
    waves = list(waves)
    holders = wave_pickers(session, [w["id"] for w in waves])
    measured = [r for r in rates.values() if r > 0]
    reference = sum(measured) / len(measured) if measured else REFERENCE_UNITS_PER_HOUR
    out = {}
    for w in waves:
        if w["status"] in ("completed", "canceled"):
            continue
        users = holders.get(w["id"], set())
        cutoff = dt.datetime.fromisoformat(w["cutoff_at"]) if w["cutoff_at"] else None
        remaining = int(w["units"]["total"]) - int(w["units"]["picked"])
        p = project(
            remaining,
            sum(rates.get(u, 0.0) for u in users),
            now,
            cutoff,
            pickers=len(users),
            reference_rate=reference,
        )
        out[w["id"]] = p.to_dict(now)
    return out


def drill(
    session: Session, wave: Wave, people_by_user: Mapping[int, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The wave's pick lists: holder, holder's last confirmed location and rate, what is left."""
    counts: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for list_id, status, n, units, picked in session.execute(
        select(
            PickTask.pick_list_id,
            PickTask.status,
            func.count(PickTask.id),
            func.coalesce(func.sum(PickTask.quantity), 0),
            func.coalesce(func.sum(PickTask.picked_qty), 0),
        )
        .join(PickList, PickList.id == PickTask.pick_list_id)
        .where(PickList.wave_id == wave.id)
        .group_by(PickTask.pick_list_id, PickTask.status)
    ):
        c = counts[list_id]
        c[TaskStatus(status).value] += n
        if status in (TaskStatus.pending, TaskStatus.assigned):
            c["units_left"] += int(units) - int(picked)
    lists = session.execute(
        select(PickList, User.username, User.display_name)
        .outerjoin(User, User.id == PickList.assigned_user_id)
        .where(PickList.wave_id == wave.id)
        .order_by(PickList.id)
    ).all()
    out = []
    for pl, username, name in lists:
        c = counts.get(pl.id, {})
        person = people_by_user.get(pl.assigned_user_id or -1, {})
        left = c.get("pending", 0) + c.get("assigned", 0)
        out.append(
            {
                "id": pl.id,
                "status": pl.status.value,
                "route_length_m": round(pl.route_length_m, 1),
                "holder": (
                    {"user_id": pl.assigned_user_id, "username": username, "name": name}
                    if pl.assigned_user_id
                    else None
                ),
                "last_location": person.get("last_location"),
                "idle_s": person.get("idle_s"),
                "units_per_h": (person.get("hour") or {}).get("units_per_h"),
                "tasks": {
                    "total": sum(c.get(s.value, 0) for s in TaskStatus if s != TaskStatus.canceled),
                    "done": c.get("picked", 0) + c.get("short", 0),
                    "left": left,
                },
                "units_left": c.get("units_left", 0),
            }
        )
    return out

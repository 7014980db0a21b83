"""Waves after planning: release, cancel, progress summaries for the dashboard, and closing
pick lists, orders and waves as their tasks finish."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from functools import partial
from typing import Any

from sqlalchemy import case, func, or_, select, update
from sqlalchemy.orm import Session

from core.actors import Actor
from core.audit import audit
from core.bulk import among
from core.db import one_of, utcnow
from core.errors import CoreErrorCode
from core.events import publish, publish_snapshot
from core.users import Role, User
from floor.fulfilment.errors import FulfilmentErrorCode
from floor.fulfilment.models import PickList, PickTask, Tote, Wave
from floor.fulfilment.states import (
    PICK_LIST_MACHINE,
    TASK_MACHINE,
    WAVE_MACHINE,
    PickListStatus,
    TaskStatus,
    WaveStatus,
)
from floor.fulfilment.waves.rules import (
    _CHUNK,
    ACTIVE_WAVE,
    DONE_TASK,
    OPEN_TASK,
    WaveError,
    as_actor,
)
from orders.models import Order, OrderLine
from orders.states import OrderStatus
from orders.transitions import transition_many

# --------------------------------------------------------------------------
# Release, cancel, progress
# --------------------------------------------------------------------------


def _lock_wave(session: Session, wave_id: int | Wave) -> Wave:
    if isinstance(wave_id, Wave):
        wave_id = wave_id.id
    stmt = select(Wave).where(Wave.id == wave_id)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    wave = session.scalars(stmt).one_or_none()
    if wave is None:
        raise WaveError(CoreErrorCode.not_found, f"no wave {wave_id}", 404)
    return wave


def picker_rooms(session: Session) -> list[str]:
    ids = session.scalars(
        select(User.id).where(User.role == Role.picker, User.active.is_(True)).order_by(User.id)
    ).all()
    return [f"user:{uid}" for uid in ids]


def release_wave(session: Session, wave_id: int | Wave, actor: Actor | User) -> Wave:
    """planned → released: its tasks become visible to the handhelds."""
    actor = as_actor(actor)
    wave = _lock_wave(session, wave_id)
    if not WAVE_MACHINE.can(wave.status, WaveStatus.released):
        raise WaveError(
            CoreErrorCode.invalid_transition, f"wave {wave.code} is {wave.status.value}"
        )
    WAVE_MACHINE.move(wave, WaveStatus.released)
    wave.released_at = utcnow()
    audit(session, actor, "wave.release", entity="wave", entity_id=wave.code)
    summary = wave_summary(session, wave)
    publish(session, "wave.released", summary, "dashboard", f"wave:{wave.id}")
    publish(session, "wave.progress", summary, "dashboard")
    rooms = picker_rooms(session)
    if rooms:
        publish(session, "task.available", {"wave_id": wave.id, "wave_code": wave.code}, *rooms)
    return wave


def cancel_wave(
    session: Session, wave_id: int | Wave, actor: Actor | User, reason: str = ""
) -> Wave:
    """Cancel a wave nothing was picked from: orders go back to waiting (reservations kept)."""
    actor = as_actor(actor)
    wave = _lock_wave(session, wave_id)
    if not WAVE_MACHINE.can(wave.status, WaveStatus.canceled):
        raise WaveError(
            CoreErrorCode.invalid_transition, f"wave {wave.code} is {wave.status.value}"
        )
    started = session.scalar(
        select(func.count(PickTask.id))
        .join(PickList, PickList.id == PickTask.pick_list_id)
        .where(
            PickList.wave_id == wave.id,
            or_(PickTask.picked_qty > 0, PickTask.status.in_(DONE_TASK)),
        )
    )
    if started:
        raise WaveError(
            FulfilmentErrorCode.wave_started,
            f"wave {wave.code} has picked tasks; cancel its orders",
        )
    list_ids = select(PickList.id).where(PickList.wave_id == wave.id).scalar_subquery()
    assigned = session.execute(
        select(PickTask.id, PickTask.assigned_user_id).where(
            PickTask.pick_list_id.in_(list_ids),
            PickTask.status.in_(OPEN_TASK),
            PickTask.assigned_user_id.is_not(None),
        )
    ).all()
    TASK_MACHINE.move_where(
        session,
        PickTask,
        PickTask.pick_list_id.in_(list_ids),
        PickTask.status.in_(OPEN_TASK),
        target=TaskStatus.canceled,
        values={"updated_at": utcnow()},
    )
    PICK_LIST_MACHINE.move_where(
        session, PickList, PickList.wave_id == wave.id, target=PickListStatus.canceled
    )
    session.execute(
        update(Tote)
        .where(Tote.pick_list_id.in_(list_ids))
        .values(pick_list_id=None, order_id=None, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    orders = list(session.scalars(select(Order).where(Order.wave_id == wave.id).order_by(Order.id)))
    waved = [o for o in orders if o.status == OrderStatus.waved]
    for order in orders:
        if order.status != OrderStatus.waved:
            order.wave_id = None
    missing = _orders_missing_units(session, [o.id for o in waved])
    for target in (OrderStatus.short, OrderStatus.allocated):
        group = [o for o in waved if (o.id in missing) == (target == OrderStatus.short)]
        transition_many(
            session,
            group,
            target,
            actor,
            [{"wave_canceled": wave.code}] * len(group),
            values=[{"wave_id": None}] * len(group),
        )
    WAVE_MACHINE.move(wave, WaveStatus.canceled)
    audit(session, actor, "wave.cancel", entity="wave", entity_id=wave.code, reason=reason)
    publish(session, "wave.progress", wave_summary(session, wave), "dashboard")
    for task_id, uid in assigned:
        publish(
            session,
            "task.canceled",
            {"task_id": task_id, "wave_id": wave.id, "reason": "wave canceled"},
            f"user:{uid}",
        )
    return wave


def _orders_missing_units(session: Session, order_ids: list[int]) -> set[int]:
    """The orders (of ``order_ids``) with a line not fully reserved (short ones excepted)."""
    found: set[int] = set()
    for start in range(0, len(order_ids), _CHUNK):
        found.update(
            session.scalars(
                select(OrderLine.order_id)
                .where(
                    among(session, OrderLine.order_id, order_ids[start : start + _CHUNK]),
                    OrderLine.reserved_qty < OrderLine.quantity - OrderLine.short_qty,
                )
                .distinct()
            )
        )
    return found


def summaries(session: Session, waves: Sequence[Wave]) -> dict[int, dict[str, Any]]:
    """Progress of several waves with one query (see ``wave_summary``)."""
    ids = [w.id for w in waves]
    stats: dict[int, dict[str, Any]] = {
        i: {
            "statuses": defaultdict(int),
            "rerouted": 0,
            "units": 0,
            "picked": 0,
            "short_units": 0,
            "lists": 0,
            "route": 0.0,
        }
        for i in ids
    }
    if ids:
        # A short task whose line ended up short of nothing was fully re-routed (its rest was
        # re-reserved and picked elsewhere): it is done, but not short.
        line_short = OrderLine.short_qty > 0
        for wave_id, status, was_short, n, units, picked in session.execute(
            select(
                PickList.wave_id,
                PickTask.status,
                line_short,
                func.count(PickTask.id),
                func.coalesce(func.sum(PickTask.quantity), 0),
                func.coalesce(func.sum(PickTask.picked_qty), 0),
            )
            .join(PickList, PickList.id == PickTask.pick_list_id)
            .join(OrderLine, OrderLine.id == PickTask.order_line_id)
            .where(PickList.wave_id.in_(ids))
            .group_by(PickList.wave_id, PickTask.status, line_short)
        ):
            st = stats[wave_id]
            if status == TaskStatus.short and not was_short:
                st["rerouted"] += n
            else:
                st["statuses"][TaskStatus(status)] += n
            if status != TaskStatus.canceled:
                st["picked"] += int(picked)
                # A short task's unpicked rest is either re-reserved (a new task) or short.
                st["units"] += int(picked) if status == TaskStatus.short else int(units)
        # Units that will not be picked: what the wave's lines ended up short of (a line once).
        lines = (
            select(PickList.wave_id, PickTask.order_line_id)
            .join(PickList, PickList.id == PickTask.pick_list_id)
            .where(PickList.wave_id.in_(ids), PickTask.status == TaskStatus.short)
            .distinct()
            .subquery()
        )
        for wave_id, short_units in session.execute(
            select(lines.c.wave_id, func.sum(OrderLine.short_qty))
            .join(OrderLine, OrderLine.id == lines.c.order_line_id)
            .group_by(lines.c.wave_id)
        ):
            stats[wave_id]["short_units"] = int(short_units or 0)
        for wave_id, n, route in session.execute(
            select(PickList.wave_id, func.count(PickList.id), func.sum(PickList.route_length_m))
            .where(PickList.wave_id.in_(ids), PickList.status != PickListStatus.canceled)
            .group_by(PickList.wave_id)
        ):
            stats[wave_id]["lists"] = n
            stats[wave_id]["route"] = float(route or 0)
    now = utcnow()
    out = {}
    for w in waves:
        st = stats[w.id]
        s = st["statuses"]
        done = s[TaskStatus.picked] + s[TaskStatus.short] + st["rerouted"]
        total = done + s[TaskStatus.pending] + s[TaskStatus.assigned]
        out[w.id] = {
            "id": w.id,
            "code": w.code,
            "status": w.status.value,
            "rule_id": w.rule_id,
            "cutoff_at": w.cutoff_at.isoformat() if w.cutoff_at else None,
            "seconds_to_cutoff": int((w.cutoff_at - now).total_seconds()) if w.cutoff_at else None,
            "created_at": w.created_at.isoformat(),
            "released_at": w.released_at.isoformat() if w.released_at else None,
            "completed_at": w.completed_at.isoformat() if w.completed_at else None,
            "pick_lists": st["lists"],
            "route_length_m": round(st["route"], 1),
            "tasks": {
                "total": total,
                "done": done,
                "picked": s[TaskStatus.picked],
                "short": s[TaskStatus.short],
                "rerouted": st["rerouted"],
                "open": s[TaskStatus.pending] + s[TaskStatus.assigned],
                "canceled": s[TaskStatus.canceled],
            },
            # total: the units to pick (short ones left out: nobody will pick them); short:
            # the units the wave's lines ended up short of.
            "units": {"total": st["units"], "picked": st["picked"], "short": st["short_units"]},
            "percent": round(100.0 * done / total, 1) if total else 0.0,
        }
    return out


def wave_summary(session: Session, wave: Wave) -> dict[str, Any]:
    """Progress for the dashboard: tasks total/done/short, units, percent, time to cut-off."""
    return summaries(session, [wave])[wave.id]


def wave_detail(session: Session, wave: Wave) -> dict[str, Any]:
    """The summary plus every pick list with its tasks in route order."""
    from floor.site.layout import Location, Sku

    detail = wave_summary(session, wave)
    tasks_by_list: dict[int, list[dict[str, Any]]] = defaultdict(list)
    rows = session.execute(
        select(PickTask, Location.code, Sku.code, OrderLine.order_id)
        .join(PickList, PickList.id == PickTask.pick_list_id)
        .join(Location, Location.id == PickTask.location_id)
        .join(Sku, Sku.id == PickTask.sku_id)
        .join(OrderLine, OrderLine.id == PickTask.order_line_id)
        .where(PickList.wave_id == wave.id)
        .order_by(PickTask.pick_list_id, PickTask.seq, PickTask.id)
    ).all()
    externals = dict(
        session.execute(select(Order.id, Order.external_id).where(Order.wave_id == wave.id)).all()
    )
    for task, loc, sku, order_id in rows:
        tasks_by_list[task.pick_list_id].append(
            {
                "id": task.id,
                "seq": task.seq,
                "status": task.status.value,
                "location": loc,
                "sku": sku,
                "quantity": task.quantity,
                "picked_qty": task.picked_qty,
                "order": externals.get(order_id, str(order_id)),
                "short_reason": task.short_reason.value if task.short_reason else None,
                "assigned_user_id": task.assigned_user_id,
            }
        )
    detail["lists"] = [
        {
            "id": pl.id,
            "zone_id": pl.zone_id,
            "status": pl.status.value,
            "route_length_m": pl.route_length_m,
            "assigned_user_id": pl.assigned_user_id,
            "tasks": tasks_by_list.get(pl.id, []),
        }
        for pl in session.scalars(
            select(PickList).where(PickList.wave_id == wave.id).order_by(PickList.id)
        )
    ]
    detail["orders"] = sorted(externals.values())
    return detail


def settle_after_task(session: Session, task: PickTask) -> None:
    """After a task is picked or short: close its pick list and wave when nothing is open."""
    settle_pick_list(session, task.pick_list_id)


def settle_pick_list(session: Session, pick_list_id: int, *, picking: bool = True) -> None:
    """Close a pick list with no open task (``done``, or ``canceled`` if none of its tasks was
    picked or short) and its wave when no list is open (``completed``, or ``canceled``).

    ``picking=False`` for callers that only canceled tasks (e.g. an order was canceled): the
    wave is then not moved to ``in_progress``. Publishes ``wave.progress``.
    """
    session.flush()
    open_in_list = session.scalar(
        select(func.count(PickTask.id)).where(
            PickTask.pick_list_id == pick_list_id, one_of(PickTask.status, OPEN_TASK)
        )
    )
    pick_list = session.get(PickList, pick_list_id)
    assert pick_list is not None
    if not open_in_list and pick_list.status in (PickListStatus.open, PickListStatus.in_progress):
        done = session.scalar(
            select(func.count(PickTask.id)).where(
                PickTask.pick_list_id == pick_list_id, one_of(PickTask.status, DONE_TASK)
            )
        )
        PICK_LIST_MACHINE.move(pick_list, PickListStatus.done if done else PickListStatus.canceled)
    wave = session.get(Wave, pick_list.wave_id)
    assert wave is not None
    if picking and wave.status == WaveStatus.released:
        WAVE_MACHINE.move(wave, WaveStatus.in_progress)
    session.flush()
    # Sums, not GROUP BY status: SQLite answered that by scanning every pick list through
    # the status index instead of this wave's few through ix_pick_lists_wave_id.
    open_ = (PickListStatus.open, PickListStatus.in_progress)
    still_open, done_lists = session.execute(
        select(
            func.coalesce(func.sum(case((one_of(PickList.status, open_), 1), else_=0)), 0),
            func.coalesce(func.sum(case((PickList.status == PickListStatus.done, 1), else_=0)), 0),
        ).where(PickList.wave_id == wave.id)
    ).one()
    if not still_open and wave.status in ACTIVE_WAVE:
        if done_lists:
            WAVE_MACHINE.move(wave, WaveStatus.completed)
            wave.completed_at = utcnow()
        else:
            WAVE_MACHINE.move(wave, WaveStatus.canceled)
    elif not still_open and not done_lists and wave.status == WaveStatus.planned:
        # Every order of a wave not yet released was canceled: so is the wave (before, it
        # stayed planned, and once released told every picker there was work and never ended).
        WAVE_MACHINE.move(wave, WaveStatus.canceled)
    publish_progress(session, wave.id)


def publish_progress(session: Session, wave_id: int) -> None:
    """``wave.progress`` for the dashboard, computed after the commit and once per fan-out round
    however many scans moved the bar (``core.events.publish_snapshot``)."""
    publish_snapshot(
        session,
        "wave.progress",
        wave_id,
        partial(_summary_of, wave_id),
        "dashboard",
        f"wave:{wave_id}",
    )


def _summary_of(wave_id: int, session: Session) -> dict[str, Any] | None:
    wave = session.get(Wave, wave_id)
    return wave_summary(session, wave) if wave is not None else None


def open_orders_done(session: Session, order: Order) -> bool:
    """True when none of the order's tasks is still pending or assigned."""
    n = session.scalar(
        select(open_tasks(PickTask))
        .select_from(OrderLine)
        .join(PickTask, PickTask.order_line_id == OrderLine.id)
        .where(OrderLine.order_id == order.id)
    )
    return not n


def open_tasks(task: Any) -> Any:
    """``count(*) FILTER (status is open)`` written so that no planner narrows the rows by the
    status index: with thousands of open tasks on the floor, SQLite chose
    ``ix_pick_tasks_status`` for ``WHERE order_id = ? AND status IN (…)`` and read every open
    task (1.5 ms a query on a 5,000-task floor) instead of the order's few."""
    return func.coalesce(func.sum(case((one_of(task.status, OPEN_TASK), 1), else_=0)), 0)


def units_picked(session: Session, order: Order) -> int:
    return int(
        session.scalar(
            select(func.coalesce(func.sum(OrderLine.picked_qty), 0)).where(
                OrderLine.order_id == order.id
            )
        )
        or 0
    )


def dashboard_waves(session: Session, limit: int = 100) -> list[dict[str, Any]]:
    """Open waves (planned, released, in progress) by cut-off, then recent finished ones."""
    waves = list(
        session.scalars(
            select(Wave)
            .order_by(
                case((Wave.status.in_([WaveStatus.completed, WaveStatus.canceled]), 1), else_=0),
                Wave.cutoff_at,
                Wave.id,
            )
            .limit(limit)
        )
    )
    sums = summaries(session, waves)
    return [sums[w.id] for w in waves]

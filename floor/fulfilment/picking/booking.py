"""Booking picked units, free of Flask: what a good scan, a tote scan or a supervisor's override
changes once it is decided (``picking.scans`` decides; ``picking.fast_path`` books the common
scan with set-based statements and must write what ``pick_units`` writes).

``pick_units`` takes the units off the location's stock and its reservation and adds them to the
order line and the task; the order moves ``waved → picking`` on its first unit, and a task picked
in full settles its order (``picked``, or ``short`` when nothing could be picked), pick list and
wave (``after_task``). ``override_task`` is the supervisor's confirmation without a scan
(audited).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.accounts import has_role
from core.actors import Actor
from core.audit import audit
from core.db import expire_loaded, is_postgres
from core.errors import CoreErrorCode
from core.events import publish
from core.users import Role, User
from floor.fulfilment.errors import FulfilmentErrorCode
from floor.fulfilment.models import PickList, PickTask, TaskOverride, Wave
from floor.fulfilment.picking.outcome import PickError
from floor.fulfilment.picking.views import task_payload
from floor.fulfilment.states import TASK_MACHINE, TaskStatus
from floor.fulfilment.waves.planning import (
    ACTIVE_WAVE,
    OPEN_TASK,
    as_actor,
    open_orders_done,
    settle_after_task,
    units_picked,
)
from floor.fulfilment.waves.progress import publish_progress
from floor.site import replenishment
from floor.site.stock import Reservation, Stock
from orders.models import Order, OrderLine
from orders.states import OrderStatus
from orders.transitions import transition


def pick_units(session: Session, user: Actor, task: PickTask, units: int) -> None:
    """Book ``units`` picked on ``task``: stock, reservation, line, order, list, wave."""
    row = (
        session.execute(  # reservation, line and order in one query (three gets cost three)
            select(Reservation, OrderLine, Order)
            .select_from(Reservation)
            .join(OrderLine, OrderLine.id == task.order_line_id)
            .join(Order, Order.id == OrderLine.order_id)
            .where(Reservation.id == task.reservation_id)
        ).one_or_none()
        if task.reservation_id
        else None
    )
    if row is None:
        raise PickError(FulfilmentErrorCode.no_reservation, f"task {task.id} has no reservation")
    res, line, order = row
    result = session.execute(
        update(Stock)
        .where(Stock.id == res.stock_id, Stock.on_hand >= units, Stock.reserved >= units)
        .values(on_hand=Stock.on_hand - units, reserved=Stock.reserved - units)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise PickError(
            FulfilmentErrorCode.stock_mismatch, "the location's stock does not cover this pick"
        )
    # The UPDATE went around the ORM: expire a loaded copy (loading one just for that costs
    # a SELECT).
    expire_loaded(session, Stock, res.stock_id)
    res.picked += units
    line.picked_qty += units
    task.picked_qty += units
    if order.status == OrderStatus.waved:
        transition(session, order, OrderStatus.picking, user, payload={"task": task.id})
    if task.picked_qty >= task.quantity:
        TASK_MACHINE.move(task, TaskStatus.picked)
        after_task(session, user, task, order)
    else:
        publish_task(session, task)
    replenishment.check_pick_face(session, task.location_id, task.sku_id)


def publish_task(session: Session, task: PickTask) -> None:
    """``task.updated`` to the task's wave and picker; the wave's bar while the task is open."""
    pick_list = session.get(PickList, task.pick_list_id)
    assert pick_list is not None
    rooms = [f"wave:{pick_list.wave_id}"]
    if task.assigned_user_id:
        rooms.append(f"user:{task.assigned_user_id}")
    payload = task_payload(session, task)
    assert payload is not None
    publish(session, "task.updated", payload, *rooms)
    if task.status == TaskStatus.assigned:  # a unit of a task still open: the bar moves too
        publish_progress(session, pick_list.wave_id)


def after_task(session: Session, user: Actor, task: PickTask, order: Order) -> None:
    session.flush()
    if open_orders_done(session, order) and order.status in (
        OrderStatus.waved,
        OrderStatus.picking,
    ):
        if units_picked(session, order) > 0:
            transition(session, order, OrderStatus.picked, user)
        else:
            transition(session, order, OrderStatus.short, user, payload={"reason": "short_pick"})
    settle_after_task(session, task)
    publish_task(session, task)


def override_task(
    session: Session,
    actor: Actor | User,
    task_id: int,
    reason: str,
    quantity: int | None = None,
    *,
    override_id: str | None = None,
    picked_before: int | None = None,
) -> Override:
    """A supervisor confirms a task's units without a scan (audited).

    Safe to retry: ``override_id`` (the client's name for this override) answers a repeat with
    the task as it stands, ``replayed``, and books nothing (the same id with another task,
    quantity or reason is ``override_id_reused``); ``picked_before`` (the units the supervisor
    saw picked) refuses an override of a task that has moved on since (``stale_override``)."""
    actor = as_actor(actor)
    if not has_role(actor.role, Role.supervisor):
        raise PickError(CoreErrorCode.forbidden, "only a supervisor may override", 403)
    if not reason or not reason.strip():
        raise PickError(FulfilmentErrorCode.reason_required, "an override needs a reason", 422)
    stmt = select(PickTask).where(PickTask.id == task_id)
    if is_postgres(session):
        stmt = stmt.with_for_update(of=PickTask)
    task = session.scalars(stmt).one_or_none()
    if task is None:
        raise PickError(CoreErrorCode.not_found, f"no task {task_id}", 404)
    if override_id is not None:  # read after the task's lock: a racing twin has committed
        earlier = earlier_override(session, override_id, task_id, quantity, reason)
        if earlier is not None:
            return Override(earlier, replayed=True)
    wave = session.scalar(
        select(Wave)
        .join(PickList, PickList.wave_id == Wave.id)
        .where(PickList.id == task.pick_list_id)
    )
    if task.status not in OPEN_TASK or wave is None or wave.status not in ACTIVE_WAVE:
        raise PickError(FulfilmentErrorCode.task_closed, f"task {task_id} is {task.status.value}")
    if picked_before is not None and picked_before != task.picked_qty:
        raise PickError(
            FulfilmentErrorCode.stale_override,
            f"task {task_id} has {task.picked_qty} of {task.quantity} picked, not "
            f"{picked_before}: look at it again before confirming more",
        )
    remaining = task.quantity - task.picked_qty
    qty = remaining if quantity is None else quantity
    if not 1 <= qty <= remaining:
        raise PickError(
            FulfilmentErrorCode.invalid_quantity, f"quantity must be 1..{remaining}", 422
        )
    before = task.picked_qty
    pick_units(session, actor, task, qty)
    if override_id is not None:
        session.add(
            TaskOverride(
                override_id=override_id,
                task_id=task.id,
                user_id=actor.user_id,
                quantity=quantity,
                units=qty,
                reason=reason.strip(),
            )
        )
    audit(
        session,
        actor,
        "task.override",
        entity="pick_task",
        entity_id=task.id,
        reason=reason.strip(),
        details={"units": qty, "picked_before": before, "status": task.status.value}
        | ({"override_id": override_id} if override_id is not None else {}),
    )
    return Override(task, replayed=False)


@dataclass(frozen=True)
class Override:
    """``override_task``'s answer: the task, and whether this was a repeat of an earlier one."""

    task: PickTask
    replayed: bool


def earlier_override(
    session: Session, override_id: str, task_id: int, quantity: int | None, reason: str
) -> PickTask | None:
    """The task an override already made under ``override_id`` (a retry: nothing is booked
    again), or None. The id sent with another task, quantity or reason is refused
    (``override_id_reused``): it names another override, and guessing which one is meant would
    book or skip units."""
    earlier = session.scalar(select(TaskOverride).where(TaskOverride.override_id == override_id))
    if earlier is None:
        return None
    if (earlier.task_id, earlier.quantity, earlier.reason) != (task_id, quantity, reason.strip()):
        raise PickError(
            FulfilmentErrorCode.override_id_reused,
            f"override_id {override_id!r} already confirmed {earlier.units} unit(s) of task "
            f"{earlier.task_id} (quantity {earlier.quantity}, reason {earlier.reason!r}): "
            "send a new override_id for another override",
        )
    return session.get(PickTask, task_id)

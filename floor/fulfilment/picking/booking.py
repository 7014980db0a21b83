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

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core.accounts import has_role
from core.actors import Actor
from core.audit import audit
from core.db import is_postgres
from core.errors import CoreErrorCode
from core.events import publish
from core.users import Role, User
from floor.fulfilment.errors import FulfilmentErrorCode
from floor.fulfilment.models import PickList, PickTask, Wave
from floor.fulfilment.picking import fast_path
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
    fast_path.expire_loaded(session, Stock, res.stock_id)
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


def catch_up_released_order(session: Session, event: Any) -> None:
    """``order.released`` handler (wired in ``app.wire_domain_handlers``). A hold from the OMS
    keeps an order's pick tasks (and its reservations): its picker may go on picking, but while
    the order is ``on_hold`` its status cannot follow, and the release puts it back where it was
    held (``waved``). An order picked whole while held then stayed ``waved`` for good — no task
    was left to move it, and the pack station refused it. Its status now catches up with its
    tasks as the picks would have moved it: ``picking`` once a unit is picked, ``picked``
    (or ``short``, nothing picked) once no task is open."""
    order = session.get(Order, event.data["order_id"])
    if order is None or order.status not in (OrderStatus.waved, OrderStatus.picking):
        return
    tasks = session.scalar(
        select(func.count(PickTask.id))
        .join(OrderLine, OrderLine.id == PickTask.order_line_id)
        .where(OrderLine.order_id == order.id)
    )
    if not tasks:
        return
    actor = event.data["actor"]
    picked = units_picked(session, order) > 0
    if order.status == OrderStatus.waved and picked:
        transition(session, order, OrderStatus.picking, actor, payload={"caught_up": True})
    if open_orders_done(session, order):
        if picked:
            transition(session, order, OrderStatus.picked, actor, payload={"caught_up": True})
        else:
            transition(session, order, OrderStatus.short, actor, payload={"reason": "short_pick"})


def override_task(
    session: Session, actor: Actor | User, task_id: int, reason: str, quantity: int | None = None
) -> PickTask:
    """A supervisor confirms a task's units without a scan (audited)."""
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
    wave = session.scalar(
        select(Wave)
        .join(PickList, PickList.wave_id == Wave.id)
        .where(PickList.id == task.pick_list_id)
    )
    if task.status not in OPEN_TASK or wave is None or wave.status not in ACTIVE_WAVE:
        raise PickError(FulfilmentErrorCode.task_closed, f"task {task_id} is {task.status.value}")
    remaining = task.quantity - task.picked_qty
    qty = remaining if quantity is None else quantity
    if not 1 <= qty <= remaining:
        raise PickError(
            FulfilmentErrorCode.invalid_quantity, f"quantity must be 1..{remaining}", 422
        )
    before = task.picked_qty
    pick_units(session, actor, task, qty)
    audit(
        session,
        actor,
        "task.override",
        entity="pick_task",
        entity_id=task.id,
        reason=reason.strip(),
        details={"units": qty, "picked_before": before, "status": task.status.value},
    )
    return task

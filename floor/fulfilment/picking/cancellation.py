"""Cancel an order on the floor: give back its reservations, cancel its open pick tasks (the
picker holding one is told at once on their own room, the dashboard sees it too), close its open
exceptions, and move the order to ``canceled`` through its state machine. Units already picked
stay in the order's tote(s): a ``return_to_stock`` exception asks a supervisor to put them back
(``returns.return_to_stock``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.actors import Actor
from core.db import utcnow
from core.events import publish
from core.exception_queue import EXCEPTION_MACHINE, ExceptionStatus, FloorException
from floor.fulfilment.models import PickList, PickTask, Tote
from floor.fulfilment.picking.returns import open_return_exception
from floor.fulfilment.states import TASK_MACHINE, TaskStatus
from floor.fulfilment.waves.planning import settle_pick_list
from floor.fulfilment.waves.progress import units_picked
from orders.allocation import release_order
from orders.models import Order, OrderLine
from orders.outbox import lock_feed
from orders.service import load_order, refuse_shipped
from orders.states import ORDER_MACHINE, OrderStatus
from orders.transitions import transition

OPEN_TASK_STATUSES = (TaskStatus.pending, TaskStatus.assigned)


def cancel_open_tasks(
    session: Session, order: Order, actor: Actor, reason: str = "order_canceled"
) -> list[int]:
    """Move every pending/assigned pick task of ``order`` to canceled; returns their ids.

    Publishes ``task.canceled`` {task_id, order, reason} to ``user:<id>`` of the picker it was
    assigned to (the task's own assignee, else its pick list's) and to ``dashboard``.
    """
    stmt = (
        select(PickTask, PickList.assigned_user_id)
        .join(OrderLine, OrderLine.id == PickTask.order_line_id)
        .join(PickList, PickList.id == PickTask.pick_list_id)
        .where(OrderLine.order_id == order.id, PickTask.status.in_(OPEN_TASK_STATUSES))
        .order_by(PickTask.id)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(of=PickTask)
    canceled: list[int] = []
    lists: set[int] = set()
    for task, list_user_id in session.execute(stmt).all():
        lists.add(task.pick_list_id)
        TASK_MACHINE.move(task, TaskStatus.canceled)
        user_id = task.assigned_user_id or list_user_id
        rooms = (f"user:{user_id}", "dashboard") if user_id else ("dashboard",)
        publish(
            session,
            "task.canceled",
            {"task_id": task.id, "order": order.external_id, "reason": reason},
            *rooms,
        )
        canceled.append(task.id)
    if canceled:
        session.flush()
    for pick_list_id in sorted(lists):  # close lists and waves left with nothing open
        settle_pick_list(session, pick_list_id, picking=False)
    return canceled


def cancel_order(session: Session, external_id: str, actor: Actor, reason: str = "") -> Order:
    """Cancel: give back reservations, cancel open pick tasks (their pickers are told), close
    the order's open exceptions, open a ``return_to_stock`` one when units were picked.
    Canceling a canceled order changes nothing."""
    lock_feed(session)
    order = load_order(session, external_id, lock=True)
    if order.status == OrderStatus.canceled:
        return order
    refuse_shipped(order)
    ORDER_MACHINE.check(order.status, OrderStatus.canceled)
    released = release_order(session, order)
    tasks = cancel_open_tasks(session, order, actor)
    picked = units_picked(session, order)
    if not picked:
        # Its totes hold nothing of it: back to the pool, as when a wave is canceled (a tote
        # with picked units stays the order's: they go back to stock first).
        session.execute(
            update(Tote)
            .where(Tote.order_id == order.id)
            .values(pick_list_id=None, order_id=None, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
    now = utcnow()
    EXCEPTION_MACHINE.move_where(
        session,
        FloorException,
        FloorException.order_id == order.id,
        FloorException.status == ExceptionStatus.open,
        target=ExceptionStatus.resolved,
        values={"resolved_at": now, "resolution": "order canceled"},
    )
    payload: dict[str, Any] = {"released_units": released, "canceled_tasks": tasks}
    if reason:
        payload["reason"] = reason
    order.held_from = None
    transition(session, order, OrderStatus.canceled, actor, payload=payload)
    if picked:
        open_return_exception(session, order)
    return order

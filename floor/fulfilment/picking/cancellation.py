"""Cancel the open pick tasks of an order (the order was canceled): the picker holding one is
told at once on their own room, the dashboard sees it too."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.actors import Actor
from core.events import publish
from floor.fulfilment.models import PickList, PickTask
from floor.fulfilment.states import TASK_MACHINE, TaskStatus
from floor.fulfilment.waves.planning import settle_pick_list
from orders.models import Order, OrderLine

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
        TASK_MACHINE.check(task.status, TaskStatus.canceled)
        task.status = TaskStatus.canceled
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

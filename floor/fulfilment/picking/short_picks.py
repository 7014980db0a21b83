"""Short picks: a picker reports an empty location, a damaged item or an item not found.

The location's stock is written down (audited), the rest of the line is re-reserved at other
locations and becomes replacement tasks on the same pick list, re-routed from where the picker
stands; what cannot be found is short on the line, opens a ``short_pick`` exception for the
supervisor, and the order follows its short policy (ship partial, or hold).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.actors import Actor
from core.audit import audit
from core.db import is_postgres
from core.events import publish
from core.exception_queue import ExceptionReason, FloorException
from core.users import User
from floor.fulfilment.errors import FulfilmentErrorCode
from floor.fulfilment.models import PickList, PickTask
from floor.fulfilment.picking.booking import after_task
from floor.fulfilment.picking.outcome import PickError, PickOutcome
from floor.fulfilment.picking.reroute import reroute
from floor.fulfilment.picking.scans import (
    claim_scan,
    current_task,
    next_task,
    replay,
    task_for,
)
from floor.fulfilment.states import TASK_MACHINE, TaskStatus
from floor.fulfilment.waves.planning import OPEN_TASK, as_actor, settle_pick_list
from floor.site import replenishment
from floor.site.geometry import geometry
from floor.site.layout import Location, Sku
from floor.site.reservation import reserve_lines
from floor.site.stock import Reservation, Stock
from orders.models import Order, OrderLine
from orders.states import OrderStatus, ShortPolicy
from orders.transitions import transition

SHORT_REASONS = {
    "empty": ExceptionReason.empty_location,
    "damaged": ExceptionReason.damaged,
    "not_found": ExceptionReason.not_found,
}
_REASON_ALIASES = {"empty_location": "empty"}


# --------------------------------------------------------------------------
# Short picks
# --------------------------------------------------------------------------


def report_short(
    session: Session, user: Actor | User, task_id: Any, reason: str, client_scan_id: str
) -> PickOutcome:
    """The picker cannot pick the rest of a task (``empty``, ``damaged`` or ``not_found``).

    Stock: ``empty`` and ``not_found`` write the location's row down to what other open
    reservations still expect there (nothing is free there any more; their pickers will see);
    ``damaged`` takes the task's remaining units out of on-hand (they leave sellable stock).
    The task becomes ``short`` with the reason; its unpicked reservation is given back.
    The rest is re-reserved at other locations (never the same stock row) with
    ``floor.site.reservation.reserve_lines``; each new reservation becomes a replacement task on
    the same list, and the list's open tasks are re-routed from the picker's position. What
    cannot be re-reserved is short on the line (``short_qty``): a ``short_pick`` exception is
    opened, and the order follows its policy (``ship_partial``: go on; ``hold``: the order goes
    ``on_hold`` and its open tasks are canceled, its reservations kept for the supervisor).
    """
    user = as_actor(user)
    reason = _REASON_ALIASES.get(reason, reason)
    if reason not in SHORT_REASONS:
        raise PickError(
            FulfilmentErrorCode.invalid_reason,
            f"reason must be one of {', '.join(sorted(SHORT_REASONS))}",
            422,
        )
    scan = claim_scan(session, client_scan_id, user, None, reason, "short", None)
    if scan is None:
        return replay(session, user, client_scan_id, short=True, task_id=task_id, raw=reason)
    task, err, msg = task_for(session, user, task_id)
    if task is None:
        scan.result = err
        return PickOutcome(err, msg, None, current_task(session, user), kind="short")
    scan.task_id = task.id
    extra = _short(session, user, task, reason)
    scan.result = "short"
    nxt = next_task(session, user)
    message = (
        f"re-routed: {len(extra['replacements'])} new task(s)"
        if extra["replacements"]
        else f"short {extra['short_here']}; supervisor told"
    )
    return PickOutcome("short", message, task, nxt, kind="short", extra=extra)


def _short(session: Session, user: Actor, task: PickTask, reason: str) -> dict[str, Any]:
    remaining = task.quantity - task.picked_qty
    res = session.get(Reservation, task.reservation_id) if task.reservation_id else None
    line = session.get(OrderLine, task.order_line_id)
    order = session.get(Order, line.order_id) if line else None
    assert line is not None and order is not None
    stock_id = None
    if res is not None:
        stock_id = res.stock_id
        _write_down(session, user, res, remaining, reason)
    TASK_MACHINE.move(task, TaskStatus.short)
    task.short_reason = SHORT_REASONS[reason]
    session.flush()
    # Re-reserve elsewhere.
    before = set(
        session.scalars(select(Reservation.id).where(Reservation.order_line_id == line.id))
    )
    need = line.quantity - line.reserved_qty - line.short_qty
    reserve_lines(session, [line], exclude_stock_ids=[stock_id] if stock_id else [])
    session.flush()
    new_res = session.scalars(
        select(Reservation)
        .where(Reservation.order_line_id == line.id, Reservation.id.not_in(before or {0}))
        .order_by(Reservation.id)
    ).all()
    geo = geometry(session)
    replacements: list[PickTask] = []
    for r in new_res:
        stock = session.get(Stock, r.stock_id)
        assert stock is not None
        if not geo.is_pickable(stock.location_id):
            continue
        t = PickTask(
            pick_list_id=task.pick_list_id,
            seq=task.seq,
            order_line_id=line.id,
            reservation_id=r.id,
            location_id=stock.location_id,
            sku_id=line.sku_id,
            tote_id=task.tote_id,
            quantity=r.quantity,
            status=TaskStatus.pending,
        )
        session.add(t)
        replacements.append(t)
    got = sum(t.quantity for t in replacements)
    missing = max(0, need - got)
    session.flush()
    exception_id = None
    # ``need`` also holds what the order's intake never reserved (its short_allocation exception
    # already counts it): this location is short only of the task's rest, less what was
    # re-reserved elsewhere.
    here = min(missing, max(0, remaining - got))
    if missing:
        line.short_qty += missing
        exception_id = _open_short_exception(session, task, order, line, reason, missing, here)
        if order.short_policy == ShortPolicy.hold:
            _hold(session, user, order)
    pick_list = session.get(PickList, task.pick_list_id)
    assert pick_list is not None
    reroute(session, pick_list, task.location_id)
    replenishment.check_pick_face(session, task.location_id, task.sku_id)
    after_task(session, user, task, order)
    return {
        "reason": reason,
        "short_qty": missing,
        "short_here": here,
        "exception_id": exception_id,
        "replacements": [t.id for t in replacements],
        "policy": order.short_policy.value,
        "order_status": order.status.value,
    }


def _write_down(
    session: Session, user: Actor, res: Reservation, remaining: int, reason: str
) -> None:
    """Give back the task's unpicked reservation and adjust the stock row (see report_short)."""
    stmt = select(Stock).where(Stock.id == res.stock_id)
    if is_postgres(session):
        stmt = stmt.with_for_update()
    stock = session.scalars(stmt).one()
    session.refresh(stock)
    before = stock.on_hand
    stock.reserved -= remaining
    if reason == "damaged":
        stock.on_hand -= remaining
    else:
        stock.on_hand = stock.reserved
    if res.picked > 0:
        res.quantity = res.picked
    else:
        res.released = True
    line = session.get(OrderLine, res.order_line_id)
    assert line is not None
    line.reserved_qty -= remaining
    audit(
        session,
        user,
        "stock.adjust",
        entity="stock",
        entity_id=stock.id,
        reason=f"short_pick:{reason}",
        details={"on_hand_before": before, "on_hand_after": stock.on_hand, "task_units": remaining},
    )


def _open_short_exception(
    session: Session,
    task: PickTask,
    order: Order,
    line: OrderLine,
    reason: str,
    missing: int,
    here: int,
) -> int:
    """``missing``: units of the line now short; ``here``: of them, the task's own (the rest
    was never reserved at intake)."""
    sku = session.get(Sku, line.sku_id)
    loc = session.get(Location, task.location_id)
    assert sku is not None and loc is not None
    before = missing - here
    earlier = f"; {before} more never reserved" if before else ""
    exc = FloorException(
        reason=ExceptionReason.short_pick,
        order_id=order.id,
        task_id=task.id,
        location_id=task.location_id,
        sku_id=line.sku_id,
        subject=order.external_id,
        message=f"order {order.external_id} line {line.line_id}: {sku.code} short {here} "
        f"({reason} at {loc.code}{earlier}); policy {order.short_policy.value}",
        details={
            "line_id": line.line_id,
            "sku": sku.code,
            "location": loc.code,
            "missing": missing,
            "pick_reason": reason,
            "policy": order.short_policy.value,
        },
    )
    session.add(exc)
    session.flush()
    publish(
        session,
        "exception.opened",
        {
            "id": exc.id,
            "reason": exc.reason.value,
            "order": order.external_id,
            "sku": sku.code,
            "location": loc.code,
            "missing": missing,
            "message": exc.message,
        },
        "dashboard",
    )
    return exc.id


def _hold(session: Session, user: Actor, order: Order) -> None:
    order.held_from = order.status
    transition(session, order, OrderStatus.on_hold, user, payload={"reason": "short_pick"})
    line_ids = select(OrderLine.id).where(OrderLine.order_id == order.id).scalar_subquery()
    tasks = session.scalars(
        select(PickTask).where(PickTask.order_line_id.in_(line_ids), PickTask.status.in_(OPEN_TASK))
    ).all()
    for t in tasks:
        TASK_MACHINE.move(t, TaskStatus.canceled)
        if t.assigned_user_id:
            publish(
                session,
                "task.canceled",
                {"task_id": t.id, "reason": "order on hold"},
                f"user:{t.assigned_user_id}",
            )
    session.flush()
    for pl_id in {t.pick_list_id for t in tasks}:
        pick_list = session.get(PickList, pl_id)
        if pick_list is not None:
            reroute(session, pick_list, None)
            settle_pick_list(session, pl_id, picking=False)

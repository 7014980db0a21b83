"""Release an OMS hold on the floor: the order goes back to the status it was held from, and
then on to where its pick tasks have taken it meanwhile.

A hold stops packing and shipping (a station takes only ``picked`` orders) but not the picker
who already holds the order's tasks: the units go into the tote and the tasks finish while the
order is ``on_hold``. Picking does not move a held order (``booking.after_task`` settles only
``waved`` and ``picking`` orders), so the release settles it as the last task would have:
``waved → picking`` once units were picked, ``picked`` once no task is open (``short`` when
nothing could be picked). An order whose wave a supervisor canceled during the hold goes back
to ``allocated`` (``short`` when not everything is reserved), as the wave's other orders did.
Without this a released order stayed ``waved`` or ``picking`` for good: no station would pack
it, no wave would take it.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.actors import Actor
from floor.fulfilment.models import PickTask
from floor.fulfilment.waves.progress import open_orders_done, units_picked
from orders.models import Order, OrderLine
from orders.outbox import lock_feed
from orders.service import load_order, release_order_hold
from orders.states import OrderStatus
from orders.transitions import transition


def release_hold(session: Session, external_id: str, actor: Actor, reason: str = "") -> Order:
    """``orders.service.release_order_hold``, then settle what was picked during the hold."""
    lock_feed(session)  # the locks release_order_hold takes, before the status is read
    was_held = load_order(session, external_id, lock=True).status == OrderStatus.on_hold
    order = release_order_hold(session, external_id, actor, reason)
    if not was_held or order.status not in (OrderStatus.waved, OrderStatus.picking):
        return order
    session.flush()
    if order.wave_id is None:
        # Its wave was canceled during the hold (cancel_wave leaves a held order's status to
        # its release): back to waiting for a wave, as the wave's other orders went.
        missing = session.scalar(
            select(func.count(OrderLine.id)).where(
                OrderLine.order_id == order.id,
                OrderLine.reserved_qty < OrderLine.quantity - OrderLine.short_qty,
            )
        )
        target = OrderStatus.short if missing else OrderStatus.allocated
        transition(session, order, target, actor)
        return order
    has_tasks = session.scalar(
        select(func.count(PickTask.id))
        .join(OrderLine, OrderLine.id == PickTask.order_line_id)
        .where(OrderLine.order_id == order.id)
    )
    if not has_tasks:
        return order
    picked = units_picked(session, order)
    if order.status == OrderStatus.waved and picked:
        transition(session, order, OrderStatus.picking, actor)
    if open_orders_done(session, order):
        target = OrderStatus.picked if picked else OrderStatus.short
        payload = None if picked else {"reason": "short_pick"}
        transition(session, order, target, actor, payload=payload)
    return order

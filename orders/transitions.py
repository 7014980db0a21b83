"""The only way an order changes status: check the machine, stamp the time, write the outbox
event in the same transaction and tell the dashboard."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from floor.actors import Actor
from floor.db import utcnow
from floor.events import publish
from orders.models import Order
from orders.states import ORDER_MACHINE, OrderStatus
from sync.outbox import record_event


def event_payload(
    external_id: str, target: OrderStatus, actor: Actor, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The payload of an order's outbox event (also used by bulk intake, which writes the same
    events set-based)."""
    body: dict[str, Any] = {"order": external_id, "status": target.value, "actor": actor.name}
    body.update(extra or {})
    return body


def transition(
    session: Session,
    order: Order,
    target: OrderStatus,
    actor: Actor,
    *,
    payload: dict[str, Any] | None = None,
) -> bool:
    """Move ``order`` to ``target``. Returns False (and does nothing) if it is already there."""
    current = order.status
    if current == target:
        return False
    ORDER_MACHINE.check(current, target)
    now = utcnow()
    order.status = target
    order.updated_at = now
    order.status_times = {**(order.status_times or {}), target.value: now.isoformat()}
    body = event_payload(order.external_id, target, actor, payload)
    record_event(
        session,
        type=f"order.{target.value}",
        aggregate_id=order.external_id,
        from_state=current.value,
        to_state=target.value,
        payload=body,
    )
    publish(
        session,
        "order.status",
        {"order": order.external_id, "from": current.value, "to": target.value},
    )
    return True


def record_received(session: Session, order: Order, actor: Actor) -> None:
    """The first event of every order: it exists, in status ``received``."""
    now = utcnow()
    order.status = OrderStatus.received
    order.status_times = {OrderStatus.received.value: now.isoformat()}
    record_event(
        session,
        type="order.received",
        aggregate_id=order.external_id,
        from_state=None,
        to_state=OrderStatus.received.value,
        payload=event_payload(order.external_id, OrderStatus.received, actor),
    )
    publish(session, "order.status", {"order": order.external_id, "from": None, "to": "received"})

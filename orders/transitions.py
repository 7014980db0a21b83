"""The only way an order changes status: check the machine, stamp the time, write the outbox
event in the same transaction and tell the dashboard.

``transition`` moves one order; ``transition_many`` moves many at once with the same checks,
stamps, outbox events and domain events, written set-based (one UPDATE for all the orders, one
bulk INSERT of their events) for callers such as wave planning that move thousands together."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from core.actors import Actor
from core.bulk import update_rows
from core.db import utcnow
from core.events import publish
from orders.models import Order
from orders.outbox import record_event, record_events
from orders.states import ORDER_MACHINE, OrderStatus


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


def transition_many(
    session: Session,
    orders: Sequence[Order],
    target: OrderStatus,
    actor: Actor,
    payloads: Sequence[dict[str, Any] | None] | None = None,
    *,
    values: Sequence[Mapping[str, Any]] | None = None,
) -> list[Order]:
    """Move every order of ``orders`` to ``target``, as ``transition`` would one by one (orders
    already there are left alone; ``payloads[i]`` is ``transition``'s ``payload`` for
    ``orders[i]``). Every move is checked before anything is written, so one refused move
    (``InvalidTransition``) writes nothing. ``values[i]``: more columns to set on ``orders[i]``
    in the same UPDATE (same keys for every order, e.g. ``wave_id``), whether it moves or not.

    The loaded ``Order`` objects are updated in place (as committed state: nothing is left for
    the session to flush). Returns the orders that moved, in the given order."""
    if payloads is not None and len(payloads) != len(orders):
        raise ValueError("one payload per order")
    if values is not None and len(values) != len(orders):
        raise ValueError("one values mapping per order")
    picked: list[tuple[Order, bool, dict[str, Any] | None, Mapping[str, Any]]] = []
    seen: set[int] = set()
    for i, order in enumerate(orders):
        if id(order) in seen:
            continue
        seen.add(id(order))
        moves = order.status != target
        if moves:
            ORDER_MACHINE.check(order.status, target)
        extra = values[i] if values is not None else {}
        if moves or extra:
            picked.append((order, moves, payloads[i] if payloads is not None else None, extra))
    if not picked:
        return []
    if any(order.id is None for order, *_ in picked):
        session.flush()
    now = utcnow()
    stamp = now.isoformat()
    rows: list[dict[str, Any]] = []
    for order, moves, _, extra in picked:
        row: dict[str, Any] = {"id": order.id, **extra}
        if values is not None:
            # A mix of moving and staying orders: the staying keep status and stamps.
            row["status"] = target if moves else order.status
            row["updated_at"] = now
            row["status_times"] = _times(order, target, stamp) if moves else order.status_times
        else:
            row.update(status=target, updated_at=now, status_times=_times(order, target, stamp))
        rows.append(row)
    update_rows(session, Order.__table__, rows)
    moved: list[Order] = []
    events: list[dict[str, Any]] = []
    for (order, moves, payload, _), row in zip(picked, rows, strict=True):
        current = order.status
        for column, value in row.items():
            if column != "id":
                set_committed_value(order, column, value)
        if not moves:
            continue
        moved.append(order)
        events.append(
            {
                "type": f"order.{target.value}",
                "aggregate_id": order.external_id,
                "from_state": current.value,
                "to_state": target.value,
                "payload": event_payload(order.external_id, target, actor, payload),
            }
        )
        publish(
            session,
            "order.status",
            {"order": order.external_id, "from": current.value, "to": target.value},
        )
    record_events(session, events)
    return moved


def _times(order: Order, target: OrderStatus, stamp: str) -> dict[str, Any]:
    return {**(order.status_times or {}), target.value: stamp}


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

"""The only way an order changes status: check the machine, stamp the time, write the outbox
event in the same transaction and tell the dashboard.

``transition`` moves one order; ``transition_many`` moves many at once with the same checks,
stamps, outbox events and domain events, written set-based (one UPDATE for all the orders, one
bulk INSERT of their events) for callers such as wave planning that move thousands together.
``record_received`` and ``receive_many`` are an order's first steps: it exists in ``received`` (its
first event), and batch intake moves it straight on to ``allocated`` or ``short`` the same way,
set-based, from rows it wrote without loading them as objects.

The status columns themselves are written by ``ORDER_MACHINE`` (``core.statemachine``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session

from core.actors import Actor
from core.db import utcnow
from core.events import publish
from orders.models import Order
from orders.outbox import record_event, record_events
from orders.states import ORDER_MACHINE, OrderStatus


def event_payload(
    external_id: str, target: OrderStatus, actor: Actor, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The payload of an order's outbox event."""
    body: dict[str, Any] = {"order": external_id, "status": target.value, "actor": actor.name}
    body.update(extra or {})
    return body


def _event(
    external_id: str,
    current: OrderStatus | None,
    target: OrderStatus,
    actor: Actor,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One outbox event (``record_event``'s keyword arguments) for a move of an order."""
    return {
        "type": f"order.{target.value}",
        "aggregate_id": external_id,
        "from_state": current.value if current is not None else None,
        "to_state": target.value,
        "payload": event_payload(external_id, target, actor, extra),
    }


def _announce(
    session: Session,
    external_id: str,
    current: OrderStatus | None,
    target: OrderStatus,
    event_id: str,
) -> None:
    """Tell the dashboard (after commit) that an order moved; ``event_id``: the move's outbox
    event, whose feed position tells a screen whether a snapshot it read already counted the
    move (``web.live`` sends it as ``seq``)."""
    publish(
        session,
        "order.status",
        {
            "order": external_id,
            "from": current.value if current is not None else None,
            "to": target.value,
            "event_id": event_id,
        },
    )


def transition(
    session: Session,
    order: Order,
    target: OrderStatus,
    actor: Actor,
    *,
    payload: dict[str, Any] | None = None,
    at_once: bool = False,
) -> bool:
    """Move ``order`` to ``target``. Returns False (and does nothing) if it is already there.
    ``at_once``: write the row now (one UPDATE, the object kept as committed state) instead of
    leaving the change to the session's next flush, for a caller that writes nothing through
    the unit of work (the pack station's close)."""
    if order.status == target:
        return False
    now = utcnow()
    times = _times(order.status_times, target, now.isoformat())
    if at_once:
        current = order.status
        ORDER_MACHINE.move_many(
            session, [order], target, [{"updated_at": now, "status_times": times}]
        )
    else:
        current = ORDER_MACHINE.move(order, target)
        order.updated_at = now
        order.status_times = times
    event_id = record_event(session, **_event(order.external_id, current, target, actor, payload))
    _announce(session, order.external_id, current, target, event_id)
    return True


def transition_row(
    session: Session,
    order_id: int,
    external_id: str,
    current: OrderStatus,
    times: dict[str, Any] | None,
    target: OrderStatus,
    actor: Actor,
    payload: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``transition`` of an order the caller read as a row (its id, external id, status and
    ``status_times``) instead of loading it: one UPDATE through ``ORDER_MACHINE``, the outbox
    event and the dashboard's event. Returns the new ``status_times``. A loaded copy of the
    order is the caller's to expire."""
    now = utcnow()
    stamped = _times(times, target, now.isoformat())
    ORDER_MACHINE.move_rows(
        session,
        Order.__table__,
        [(order_id, current)],
        target,
        [{"updated_at": now, "status_times": stamped}],
    )
    event_id = record_event(session, **_event(external_id, current, target, actor, payload))
    _announce(session, external_id, current, target, event_id)
    return stamped


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
    now = utcnow()
    stamp = now.isoformat()
    before: dict[int, tuple[OrderStatus, dict[str, Any] | None]] = {}
    columns: list[Mapping[str, Any]] = []
    for i, order in enumerate(orders):
        extra = values[i] if values is not None else {}
        if order.status != target:
            payload = payloads[i] if payloads is not None else None
            before.setdefault(id(order), (order.status, payload))
            times = _times(order.status_times, target, stamp)
            columns.append({**extra, "updated_at": now, "status_times": times})
        elif values is not None:
            # A mix of moving and staying orders: the staying keep their stamps.
            columns.append({**extra, "updated_at": now, "status_times": order.status_times})
        else:
            columns.append({})
    moved = ORDER_MACHINE.move_many(session, orders, target, columns)
    events = []
    for order in moved:
        current, payload = before[id(order)]
        events.append(_event(order.external_id, current, target, actor, payload))
    for order, event_id in zip(moved, record_events(session, events), strict=True):
        _announce(session, order.external_id, before[id(order)][0], target, event_id)
    return moved


def _times(times: dict[str, Any] | None, target: OrderStatus, stamp: str) -> dict[str, Any]:
    return {**(times or {}), target.value: stamp}


def record_received(session: Session, order: Order, actor: Actor) -> None:
    """The first event of every order: it exists, in status ``received``."""
    now = utcnow()
    ORDER_MACHINE.start(order, OrderStatus.received)
    order.status_times = {OrderStatus.received.value: now.isoformat()}
    event_id = record_event(session, **_event(order.external_id, None, OrderStatus.received, actor))
    _announce(session, order.external_id, None, OrderStatus.received, event_id)


def receive_many(
    session: Session,
    orders: Sequence[tuple[int, str]],
    targets: Sequence[OrderStatus],
    actor: Actor,
    payloads: Sequence[dict[str, Any] | None],
    *,
    now: dt.datetime,
) -> None:
    """Batch intake's transitions: ``orders`` (``(id, external_id)``) were just written in
    ``received`` with ``received_times(now)``; move ``orders[i]`` on to ``targets[i]``
    (``allocated`` or ``short``) through ``ORDER_MACHINE`` (checked, one UPDATE per target).

    Writes each order's two outbox events, ``order.received`` then the move (with
    ``payloads[i]``), in one bulk INSERT, and one dashboard event per order: from nothing to
    where it settled, as a screen that never saw it in ``received`` should count it."""
    stamp = now.isoformat()
    received = OrderStatus.received
    groups: dict[OrderStatus, list[int]] = {}
    for i, target in enumerate(targets):
        groups.setdefault(target, []).append(i)
    for target, members in groups.items():
        # One stamp dict per target: every row of the group gets the very same value.
        times = {received.value: stamp, target.value: stamp}
        ORDER_MACHINE.move_rows(
            session,
            Order.__table__,
            [(orders[i][0], received) for i in members],
            target,
            [{"updated_at": now, "status_times": times}] * len(members),
        )
    events = []
    for (_, external_id), target, payload in zip(orders, targets, payloads, strict=True):
        events.append(_event(external_id, None, received, actor))
        events.append(_event(external_id, received, target, actor, payload))
    event_ids = record_events(session, events)
    for i, ((_, external_id), target) in enumerate(zip(orders, targets, strict=True)):
        # (both events are in this transaction: the move's position stands for the two)
        _announce(session, external_id, None, target, event_ids[2 * i + 1])


def received_times(now: dt.datetime) -> dict[str, Any]:
    """``status_times`` of an order written in ``received`` at ``now``."""
    return {OrderStatus.received.value: now.isoformat()}

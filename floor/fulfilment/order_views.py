"""Read-only views of orders: what the OMS sees (``order_view``: lines and packages, for
``GET /api/v1/orders``) and the supervisor's pages (``/orders``, ``/orders/<id>``).

Newest first by id (the primary key grows with every order received), keyset-paged: a page
ends with the id to continue before. The detail view adds, to the OMS view of
``order_view``, where each line is reserved, its pick tasks, the wave and the
order's events from the outbox.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, null, select
from sqlalchemy.orm import Session

from core.exception_queue import FloorException
from floor.fulfilment.models import Package, PickTask, Wave
from floor.site.layout import Location, Sku
from floor.site.stock import Reservation, Stock
from orders.models import Order, OrderLine
from orders.outbox import OutboxEvent
from orders.states import OrderStatus

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
MAX_EVENTS = 500
_CHUNK = 500  # IN-list size


def chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


@dataclass
class OrderPage:
    rows: list[dict[str, Any]]
    next_before: int | None  # pass as ``before`` for the next (older) page; None at the end


def order_counts(session: Session) -> dict[str, int]:
    """Orders in each status, every status present (0 when none), in state-machine order."""
    return order_counts_at(session)[0]


def order_counts_at(session: Session) -> tuple[dict[str, int], int]:
    """``order_counts`` and the feed position they include: the last outbox event id (0 when
    none) read in the same statement, so in one snapshot of the database on PostgreSQL too
    (each statement of a READ COMMITTED transaction sees its own). Every move of an order
    writes its outbox event in its transaction, and ids become visible in commit order
    (``orders.outbox``): the counts hold every move at a position up to the one returned and
    none after it."""
    position = select(func.coalesce(func.max(OutboxEvent.id), 0)).scalar_subquery()
    # A row per status, and one (status NULL) with the position, even when there is no order.
    rows = session.execute(
        select(Order.status, func.count(), null())
        .group_by(Order.status)
        .union_all(select(null(), null(), position))
    ).all()
    found = {OrderStatus(status): int(n) for status, n, _ in rows if status is not None}
    at = next(int(p) for status, _, p in rows if status is None)
    return {s.value: found.get(s, 0) for s in OrderStatus}, at


def recent_orders(
    session: Session,
    *,
    status: OrderStatus | None = None,
    before: int | None = None,
    limit: int = PAGE_SIZE,
) -> OrderPage:
    """One page of orders, newest first, with line totals (ordered / reserved / picked)."""
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    stmt = select(Order).order_by(Order.id.desc()).limit(limit + 1)
    if status is not None:
        stmt = stmt.where(Order.status == status)
    if before is not None:
        stmt = stmt.where(Order.id < before)
    orders = list(session.scalars(stmt))
    more = len(orders) > limit
    orders = orders[:limit]
    totals: dict[int, tuple[int, int, int, int]] = {}
    if orders:
        totals = {
            oid: (int(n), int(q), int(r), int(p))
            for oid, n, q, r, p in session.execute(
                select(
                    OrderLine.order_id,
                    func.count(OrderLine.id),
                    func.sum(OrderLine.quantity),
                    func.sum(OrderLine.reserved_qty),
                    func.sum(OrderLine.picked_qty),
                )
                .where(OrderLine.order_id.in_([o.id for o in orders]))
                .group_by(OrderLine.order_id)
            )
        }
    rows = []
    for o in orders:
        n, ordered, reserved, picked = totals.get(o.id, (0, 0, 0, 0))
        rows.append(
            {
                "external_id": o.external_id,
                "status": o.status.value,
                "priority": o.priority.value,
                "ship_by": o.ship_by,
                "carrier": o.carrier,
                "service": o.service,
                "lines": n,
                "ordered": ordered,
                "reserved": reserved,
                "picked": picked,
                "created_at": o.created_at,
            }
        )
    return OrderPage(rows, orders[-1].id if more and orders else None)


def order_detail(session: Session, external_id: str) -> dict[str, Any] | None:
    """Everything a supervisor asks about one order, or None when there is no such order."""
    order = session.scalars(select(Order).where(Order.external_id == external_id)).one_or_none()
    if order is None:
        return None
    view = order_view(session, order)
    line_ids = {
        line_id: db_id
        for db_id, line_id in session.execute(
            select(OrderLine.id, OrderLine.line_id).where(OrderLine.order_id == order.id)
        )
    }
    by_db_id = {v: k for k, v in line_ids.items()}
    reservations: dict[str, list[dict[str, Any]]] = {k: [] for k in line_ids}
    for res, loc, lot in session.execute(
        select(Reservation, Location.code, Stock.lot)
        .join(Stock, Stock.id == Reservation.stock_id)
        .join(Location, Location.id == Stock.location_id)
        .where(Reservation.order_line_id.in_(list(line_ids.values())))
        .order_by(Reservation.id)
    ):
        reservations[by_db_id[res.order_line_id]].append(
            {
                "location": loc,
                "lot": lot,
                "quantity": res.quantity,
                "picked": res.picked,
                "released": res.released,
                "returned": res.returned,
            }
        )
    tasks: dict[str, list[dict[str, Any]]] = {k: [] for k in line_ids}
    for task, loc in session.execute(
        select(PickTask, Location.code)
        .join(Location, Location.id == PickTask.location_id)
        .where(PickTask.order_line_id.in_(list(line_ids.values())))
        .order_by(PickTask.id)
    ):
        tasks[by_db_id[task.order_line_id]].append(
            {
                "id": task.id,
                "location": loc,
                "quantity": task.quantity,
                "picked": task.picked_qty,
                "status": task.status.value,
                "short_reason": task.short_reason.value if task.short_reason else None,
            }
        )
    for line in view["lines"]:
        line["reservations"] = reservations.get(line["line_id"], [])
        line["tasks"] = tasks.get(line["line_id"], [])
    wave = session.get(Wave, order.wave_id) if order.wave_id else None
    view["wave"] = {"id": wave.id, "code": wave.code, "status": wave.status.value} if wave else None
    view["events"] = [
        {
            "id": ev.id,
            "type": ev.type,
            "from": ev.from_state,
            "to": ev.to_state,
            "at": ev.created_at,
            "delivery": ev.status.value,
        }
        for ev in session.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.aggregate_id == order.external_id)
            .order_by(OutboxEvent.id)
            .limit(MAX_EVENTS)
        )
    ]
    view["exceptions"] = [
        {
            "id": e.id,
            "reason": e.reason.value,
            "status": e.status.value,
            "message": e.message,
            "at": e.created_at,
        }
        for e in session.scalars(
            select(FloorException)
            .where(FloorException.order_id == order.id)
            .order_by(FloorException.id)
        )
    ]
    return view


# --- views ------------------------------------------------------------------------------------


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat() if value is not None else None


def order_views(session: Session, orders: Sequence[Order]) -> list[dict[str, Any]]:
    """What GET /orders/{external_id} shows, for many orders with three queries in all."""
    if not orders:
        return []
    ids = [o.id for o in orders]
    lines: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    packages: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    for chunk in chunks(ids):
        rows = session.execute(
            select(OrderLine, Sku.code)
            .join(Sku, Sku.id == OrderLine.sku_id)
            .where(OrderLine.order_id.in_(chunk))
            .order_by(OrderLine.id)
        )
        for line, code in rows:
            lines[line.order_id].append(
                {
                    "line_id": line.line_id,
                    "sku": code,
                    "ordered": line.quantity,
                    "reserved": line.reserved_qty,
                    "picked": line.picked_qty,
                    "short": line.short_qty,
                    "packed": line.packed_qty,
                    "shipped": line.shipped_qty,
                }
            )
        for pkg in session.scalars(
            select(Package).where(Package.order_id.in_(chunk)).order_by(Package.id)
        ):
            packages[pkg.order_id].append(
                {
                    "sscc": pkg.sscc,
                    "status": pkg.status.value,
                    "carrier": pkg.carrier,
                    "service": pkg.service,
                    "tracking_number": pkg.tracking_number,
                    "weight_g": pkg.weight_g,
                    "shipped_at": _iso(pkg.shipped_at),
                }
            )
    return [_view(o, lines[o.id], packages[o.id]) for o in orders]


def order_view(session: Session, order: Order) -> dict[str, Any]:
    return order_views(session, [order])[0]


def _view(
    order: Order, lines: list[dict[str, Any]], packages: list[dict[str, Any]]
) -> dict[str, Any]:
    missing = [
        {
            "line_id": ln["line_id"],
            "sku": ln["sku"],
            "ordered": ln["ordered"],
            "reserved": ln["reserved"],
            "missing": ln["ordered"] - ln["reserved"],
        }
        for ln in lines
        if ln["reserved"] < ln["ordered"]
    ]
    return {
        "external_id": order.external_id,
        "status": order.status.value,
        "held_from": order.held_from.value if order.held_from else None,
        "channel": order.channel,
        "priority": order.priority.value,
        "ship_by": _iso(order.ship_by),
        "carrier": order.carrier,
        "service": order.service,
        "ship_to": order.ship_to,
        "notes": order.notes,
        "lines": lines,
        "missing": missing if order.status == OrderStatus.short else [],
        "packages": packages,
        "status_times": order.status_times or {},
        "created_at": _iso(order.created_at),
        "updated_at": _iso(order.updated_at),
    }


def list_orders(
    session: Session,
    *,
    statuses: Sequence[OrderStatus] = (),
    updated_since: dt.datetime | None = None,
    after: tuple[dt.datetime, int] | None = None,
    limit: int = 100,
) -> tuple[list[Order], tuple[dt.datetime, int] | None]:
    """Orders by (updated_at, id) ascending from a keyset position; returns the page and the
    position of its last order (None when there is no more)."""
    stmt = select(Order).order_by(Order.updated_at, Order.id).limit(limit + 1)
    if statuses:
        stmt = stmt.where(Order.status.in_(list(statuses)))
    if updated_since is not None:
        stmt = stmt.where(Order.updated_at >= updated_since)
    if after is not None:
        at, last_id = after
        stmt = stmt.where(
            (Order.updated_at > at) | ((Order.updated_at == at) & (Order.id > last_id))
        )
    rows = list(session.scalars(stmt))
    more = len(rows) > limit
    rows = rows[:limit]
    position = (rows[-1].updated_at, rows[-1].id) if more and rows else None
    return rows, position

"""The exception queue as a supervisor works it: open exceptions grouped by reason code, oldest
first, each with the context needed to act on it without another screen; and the resolved ones,
searchable, with who resolved them, when and why.

Context of one exception (what is known of it):

* ``order``: external id and current status;
* ``location`` / ``sku``: codes, and the stock row at that location for that SKU (on hand,
  reserved) — what a picker found or did not find there;
* ``task``: the pick task (status, quantity, picked) and its last scans (who, what, result);
* ``print_job``: for printer exceptions, the printer (``subject``) and the job details the
  printing layer stored in ``details``.

Actions are what the page offers next to each: resolve (with a written resolution, audited by
``exceptions.resolve_exception``) — or, for a canceled order's picked units
(``return_to_stock``), "returned to stock" (``picking.returns.return_to_stock``) — and, where it
applies, the order page or the wave.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from core.exception_queue import ExceptionReason, ExceptionStatus, FloorException
from core.users import User
from floor.fulfilment.models import PickList, PickTask, Scan
from floor.site.layout import Location, Sku
from floor.site.stock import Stock
from orders.models import Order

SCANS_SHOWN = 5


def _closing_action(exc: FloorException) -> str:
    """How an open exception is closed: a canceled order's picked units by "returned to stock"
    (``picking.returns``: the stock and its totes with it), anything else by a written
    resolution."""
    if exc.reason == ExceptionReason.return_to_stock and exc.order_id:
        return "return_to_stock"
    return "resolve"


def context(session: Session, exc: FloorException) -> dict[str, Any]:
    """What is known around one exception (see the module docstring)."""
    out: dict[str, Any] = {
        "id": exc.id,
        "reason": exc.reason.value,
        "status": exc.status.value,
        "message": exc.message,
        "created_at": exc.created_at.isoformat(),
        "order": None,
        "location": None,
        "sku": None,
        "stock": None,
        "task": None,
        "scans": [],
        "print_job": None,
        "details": exc.details,
        "resolved_at": exc.resolved_at.isoformat() if exc.resolved_at else None,
        "resolved_by": None,
        "resolution": exc.resolution,
        "actions": [_closing_action(exc)] if exc.status == ExceptionStatus.open else [],
    }
    if exc.order_id:
        order = session.get(Order, exc.order_id)
        if order is not None:
            out["order"] = {"external_id": order.external_id, "status": order.status.value}
    task = session.get(PickTask, exc.task_id) if exc.task_id else None
    location_id = exc.location_id or (task.location_id if task else None)
    sku_id = exc.sku_id or (task.sku_id if task else None)
    if location_id:
        loc = session.get(Location, location_id)
        out["location"] = loc.code if loc else None
    if sku_id:
        sku = session.get(Sku, sku_id)
        out["sku"] = sku.code if sku else None
    if location_id and sku_id:
        stock = session.scalars(
            select(Stock).where(Stock.location_id == location_id, Stock.sku_id == sku_id)
        ).first()
        if stock is not None:
            out["stock"] = {"on_hand": stock.on_hand, "reserved": stock.reserved}
    if task is not None:
        wave_id = session.scalar(select(PickList.wave_id).where(PickList.id == task.pick_list_id))
        out["task"] = {
            "id": task.id,
            "status": task.status.value,
            "quantity": task.quantity,
            "picked_qty": task.picked_qty,
            "wave_id": wave_id,
        }
        out["scans"] = [
            {"at": at.isoformat(), "user": user, "code": raw, "kind": kind, "result": result}
            for at, user, raw, kind, result in session.execute(
                select(Scan.scanned_at, User.username, Scan.raw, Scan.kind, Scan.result)
                .outerjoin(User, User.id == Scan.user_id)
                .where(Scan.task_id == task.id)
                .order_by(Scan.scanned_at.desc(), Scan.id.desc())
                .limit(SCANS_SHOWN)
            )
        ]
        out["actions"] += ["wave"] if wave_id else []
    if out["order"]:
        out["actions"].append("order")
    if exc.reason == ExceptionReason.printer_failed:
        out["print_job"] = {"printer": exc.subject, **(exc.details or {})}
    if exc.resolved_by_id:
        out["resolved_by"] = session.scalar(
            select(User.username).where(User.id == exc.resolved_by_id)
        )
    return out


def open_queue(session: Session, limit: int = 500) -> list[dict[str, Any]]:
    """Open exceptions grouped by reason; groups with the oldest waiting first, each group's
    items oldest first."""
    rows = list(
        session.scalars(
            select(FloorException)
            .where(FloorException.status == ExceptionStatus.open)
            .order_by(FloorException.created_at, FloorException.id)
            .limit(limit)
        )
    )
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for exc in rows:
        groups[exc.reason.value].append(context(session, exc))
    return [
        {"reason": reason, "count": len(items), "oldest_at": items[0]["created_at"], "items": items}
        for reason, items in sorted(groups.items(), key=lambda kv: kv[1][0]["created_at"])
    ]


def search_resolved(
    session: Session, q: str = "", reason: str = "", limit: int = 100
) -> list[dict[str, Any]]:
    """Resolved exceptions, newest resolution first, matching ``q`` (in the message, the
    resolution, the order id or the resolver's username) and ``reason`` if given."""
    stmt = (
        select(FloorException)
        .outerjoin(Order, Order.id == FloorException.order_id)
        .outerjoin(User, User.id == FloorException.resolved_by_id)
        .where(FloorException.status == ExceptionStatus.resolved)
        .order_by(FloorException.resolved_at.desc(), FloorException.id.desc())
        .limit(limit)
    )
    if reason:
        try:
            stmt = stmt.where(FloorException.reason == ExceptionReason(reason))
        except ValueError:
            return []
    q = (q or "").strip()
    if q:
        like = f"%{q.lower()}%"

        stmt = stmt.where(
            or_(
                func.lower(FloorException.message).like(like),
                func.lower(FloorException.resolution).like(like),
                func.lower(Order.external_id).like(like),
                func.lower(User.username).like(like),
            )
        )
    return [context(session, exc) for exc in session.scalars(stmt)]

"""Replenishment: refill a pick face from reserve when picks take it below its minimum.

``check_pick_face`` runs after every stock decrease at a pick face (a pick, a short-pick
adjustment). When the face's on-hand of that SKU is below ``Location.min_qty`` and no task for
that face and SKU is open, it opens one ``ReplenishmentTask`` from the reserve location holding
the SKU (first-expired-first-out, then oldest row) for up to ``max_qty - on_hand`` units, and
tells the dashboard. The reserve units are not held: a task moves what is there when it is done.
``complete_replenishment`` moves the stock (lot and expiry travel with it) and writes an audit
entry.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.actors import Actor
from core.audit import audit
from core.db import utcnow
from core.errors import CoreErrorCode, FloorError
from core.events import publish
from floor.site.errors import SiteErrorCode
from floor.site.layout import Location, LocationType, Sku
from floor.site.stock import REPLENISHMENT_MACHINE, ReplenishmentStatus, ReplenishmentTask, Stock


class ReplenishmentError(FloorError):
    """A refused replenishment operation (409 unless the raise says otherwise)."""


def _is_pg(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _reserve_rows(session: Session, sku_id: int, location_id: int | None = None) -> list[Stock]:
    """Reserve stock of a SKU with something free, first expiry first."""
    stmt = (
        select(Stock)
        .join(Location, Location.id == Stock.location_id)
        .where(
            Stock.sku_id == sku_id,
            Stock.on_hand > Stock.reserved,
            Location.type == LocationType.reserve,
            Location.active.is_(True),
        )
        .order_by(Stock.expiry.is_(None), Stock.expiry, Stock.id)
    )
    if location_id is not None:
        stmt = stmt.where(Stock.location_id == location_id)
    if _is_pg(session):
        stmt = stmt.with_for_update(of=Stock)
    return list(session.scalars(stmt))


def on_hand_at(session: Session, location_id: int, sku_id: int) -> int:
    return int(
        session.scalar(
            select(func.coalesce(func.sum(Stock.on_hand), 0)).where(
                Stock.location_id == location_id, Stock.sku_id == sku_id
            )
        )
        or 0
    )


def check_pick_face(session: Session, location_id: int, sku_id: int) -> ReplenishmentTask | None:
    """Open a replenishment task if this pick face fell below its minimum (at most one open)."""
    stmt = select(Location).where(Location.id == location_id)
    if _is_pg(session):
        stmt = stmt.with_for_update()  # one checker per face at a time: no duplicate tasks
    loc = session.scalars(stmt).one()
    if loc.type != LocationType.pick_face or loc.min_qty <= 0 or not loc.active:
        return None
    on_hand = on_hand_at(session, location_id, sku_id)
    if on_hand >= loc.min_qty:
        return None
    session.flush()
    already = session.scalar(
        select(ReplenishmentTask.id).where(
            ReplenishmentTask.to_location_id == location_id,
            ReplenishmentTask.sku_id == sku_id,
            ReplenishmentTask.status == ReplenishmentStatus.open,
        )
    )
    if already is not None:
        return None
    sources = _reserve_rows(session, sku_id)
    if not sources:
        return None
    src = sources[0]
    room = max(loc.max_qty - on_hand, loc.min_qty - on_hand, 1)
    qty = min(room, src.on_hand - src.reserved)
    task = ReplenishmentTask(
        sku_id=sku_id, from_location_id=src.location_id, to_location_id=loc.id, quantity=qty
    )
    session.add(task)
    session.flush()
    publish(session, "replenishment.created", to_dict(session, task), "dashboard")
    return task


def to_dict(session: Session, task: ReplenishmentTask) -> dict[str, Any]:
    codes = dict(
        session.execute(
            select(Location.id, Location.code).where(
                Location.id.in_([task.from_location_id or 0, task.to_location_id])
            )
        ).all()
    )
    sku = session.get(Sku, task.sku_id)
    return {
        "id": task.id,
        "sku": sku.code if sku else None,
        "from_location": codes.get(task.from_location_id or 0),
        "to_location": codes.get(task.to_location_id),
        "quantity": task.quantity,
        "status": task.status.value,
        "created_at": task.created_at.isoformat() if task.created_at else None,
        "done_at": task.done_at.isoformat() if task.done_at else None,
    }


def _get_open(session: Session, task_id: int) -> ReplenishmentTask:
    stmt = select(ReplenishmentTask).where(ReplenishmentTask.id == task_id)
    if _is_pg(session):
        stmt = stmt.with_for_update()
    task = session.scalars(stmt).one_or_none()
    if task is None:
        raise ReplenishmentError(CoreErrorCode.not_found, f"no replenishment task {task_id}", 404)
    if task.status != ReplenishmentStatus.open:
        raise ReplenishmentError(CoreErrorCode.invalid_transition, f"task is {task.status.value}")
    return task


def complete_replenishment(
    session: Session, task_id: int, actor: Actor, quantity: int | None = None
) -> ReplenishmentTask:
    """Move stock reserve → pick face (FEFO among the source lots); audited."""
    task = _get_open(session, task_id)
    want = task.quantity if quantity is None else quantity
    if want <= 0:
        raise ReplenishmentError(SiteErrorCode.invalid_quantity, "quantity must be positive", 422)
    moved = 0
    lots = []
    for src in _reserve_rows(session, task.sku_id, task.from_location_id):
        take = min(src.on_hand - src.reserved, want - moved)
        if take <= 0:
            continue
        dest = session.scalars(
            select(Stock).where(
                Stock.location_id == task.to_location_id,
                Stock.sku_id == task.sku_id,
                Stock.lot == src.lot,
            )
        ).one_or_none()
        if dest is None:
            dest = Stock(
                location_id=task.to_location_id,
                sku_id=task.sku_id,
                lot=src.lot,
                expiry=src.expiry,
                on_hand=0,
                reserved=0,
            )
            session.add(dest)
        src.on_hand -= take
        dest.on_hand += take
        moved += take
        lots.append({"lot": src.lot, "quantity": take})
        if moved >= want:
            break
    if moved == 0:
        raise ReplenishmentError(
            SiteErrorCode.nothing_to_move, "the reserve location has no free stock"
        )
    REPLENISHMENT_MACHINE.move(task, ReplenishmentStatus.done)
    task.quantity = moved
    task.done_at = utcnow()
    audit(
        session,
        actor,
        "replenishment.complete",
        entity="replenishment",
        entity_id=task.id,
        details={"moved": moved, "lots": lots},
    )
    session.flush()
    publish(session, "replenishment.done", to_dict(session, task), "dashboard")
    return task


def cancel_replenishment(
    session: Session, task_id: int, actor: Actor, reason: str = ""
) -> ReplenishmentTask:
    task = _get_open(session, task_id)
    REPLENISHMENT_MACHINE.move(task, ReplenishmentStatus.canceled)
    task.done_at = utcnow()
    audit(
        session,
        actor,
        "replenishment.cancel",
        entity="replenishment",
        entity_id=task.id,
        reason=reason,
    )
    publish(session, "replenishment.canceled", to_dict(session, task), "dashboard")
    return task


def list_tasks(session: Session, status: ReplenishmentStatus | None = None) -> list[dict]:
    stmt = select(ReplenishmentTask).order_by(ReplenishmentTask.id.desc()).limit(200)
    if status is not None:
        stmt = stmt.where(ReplenishmentTask.status == status)
    return [to_dict(session, t) for t in session.scalars(stmt)]

"""Reserve stock at locations for order lines.

Rules real sites use: pick faces before reserve, first-expired-first-out among lots, never more
than is on hand. Safe under concurrent intake: on PostgreSQL the candidate stock rows are locked
(``SELECT … FOR UPDATE``, in id order so two transactions cannot deadlock) and every increment is
guarded in SQL (``reserved + q <= on_hand``, also a CHECK constraint); SQLite serialises writers
with ``BEGIN IMMEDIATE``. Works on one order or on a batch (one stock query per batch).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from core.bulk import add_to_column, among
from floor.site.layout import Location, LocationType, Sku
from floor.site.stock import Reservation, Stock

PICKABLE = (LocationType.pick_face, LocationType.reserve)


class OrderLineLike(Protocol):
    """What reservation needs of an order line (``orders.models.OrderLine`` sits above this
    layer, so it is described here, not imported)."""

    id: int
    sku_id: int
    quantity: int
    reserved_qty: int
    short_qty: int


@dataclass
class Allocation:
    """Where each demand is served from: ``picks[i]`` is a list of (stock id, quantity) for
    demand ``i``; ``taken`` is the total per stock row."""

    picks: list[list[tuple[int, int]]]
    taken: dict[int, int]


def _candidates(
    session: Session, sku_ids: Iterable[int], exclude_stock_ids: Iterable[int] = ()
) -> dict[int, list[list[int]]]:
    """Stock rows with something available, per SKU, in picking preference order, as
    ``[stock id, free quantity]`` pairs (stock rows locked on PostgreSQL)."""
    ids = sorted(set(sku_ids))
    if not ids:
        return {}
    # Stock by SKU first (ix_stock_sku_id), then the few locations it is in: joined in one
    # statement, SQLite drives from locations by type and probes every SKU at every location.
    stmt = (
        select(
            Stock.id, Stock.sku_id, Stock.on_hand - Stock.reserved, Stock.location_id, Stock.expiry
        )
        .where(among(session, Stock.sku_id, ids), Stock.on_hand > Stock.reserved)
        .order_by(Stock.id)
    )
    excluded = sorted(set(exclude_stock_ids))
    if excluded:
        stmt = stmt.where(Stock.id.not_in(excluded))
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    stock = session.execute(stmt).all()
    loc_types = dict(
        session.execute(
            select(Location.id, Location.type).where(
                among(session, Location.id, {r[3] for r in stock}),
                Location.active.is_(True),
                Location.type.in_(PICKABLE),
            )
        ).all()
    )
    rows = sorted(
        (
            (sid, sku, free, loc_types[loc], exp)
            for sid, sku, free, loc, exp in stock
            if loc in loc_types
        ),
        key=lambda r: (
            r[1],
            0 if r[3] == LocationType.pick_face else 1,
            r[4] is None,
            r[4] or 0,
            r[0],
        ),
    )
    by_sku: dict[int, list[list[int]]] = defaultdict(list)
    for stock_id, sku_id, free, _type, _expiry in rows:
        by_sku[sku_id].append([stock_id, free])
    return by_sku


def allocate(
    session: Session, demands: Sequence[tuple[int, int]], exclude_stock_ids: Iterable[int] = ()
) -> Allocation:
    """Serve each ``(sku id, quantity)`` demand in the given order, as far as stock goes, with
    one stock query for all of them. Changes nothing; ``apply_allocation`` books it.
    ``exclude_stock_ids``: stock rows not to use (a short pick's location, when re-reserving)."""
    by_sku = _candidates(session, (sku_id for sku_id, qty in demands if qty > 0), exclude_stock_ids)
    taken: dict[int, int] = defaultdict(int)
    picks: list[list[tuple[int, int]]] = []
    for sku_id, need in demands:
        mine: list[tuple[int, int]] = []
        for row in by_sku.get(sku_id, ()):
            if need <= 0:
                break
            if row[1] <= 0:
                continue
            qty = min(row[1], need)
            row[1] -= qty
            taken[row[0]] += qty
            mine.append((row[0], qty))
            need -= qty
        picks.append(mine)
    return Allocation(picks, dict(taken))


def apply_allocation(session: Session, allocation: Allocation) -> None:
    """Add the allocation to ``stock.reserved`` (one statement). The CHECK
    ``reserved <= on_hand`` makes an oversell fail loudly instead of silently."""
    if not allocation.taken:
        return
    add_to_column(session, Stock.__table__, "reserved", allocation.taken)
    # Keep ORM copies in step with the SQL increments.
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Stock) and obj.id in allocation.taken:
            session.expire(obj, ["reserved"])


def reserve_lines(
    session: Session, lines: Sequence[OrderLineLike], *, exclude_stock_ids: Iterable[int] = ()
) -> None:
    """Reserve what is still unreserved on each line (in the given order), as far as stock goes.

    ``exclude_stock_ids``: stock rows not to use (a short pick's location, when re-reserving).
    """
    allocation = allocate(
        session,
        [(line.sku_id, line.quantity - line.reserved_qty - line.short_qty) for line in lines],
        exclude_stock_ids,
    )
    for line, picks in zip(lines, allocation.picks, strict=True):
        for stock_id, qty in picks:
            session.add(Reservation(order_line_id=line.id, stock_id=stock_id, quantity=qty))
            line.reserved_qty += qty
    apply_allocation(session, allocation)


def release_lines(session: Session, lines: Sequence[OrderLineLike]) -> int:
    """Give back every unpicked reserved unit of these order lines (an order canceled).
    Returns the units released."""
    by_id = {line.id: line for line in lines}
    rows = session.scalars(
        select(Reservation)
        .where(Reservation.order_line_id.in_(list(by_id)), Reservation.released.is_(False))
        .order_by(Reservation.stock_id)
    ).all()
    released = 0
    for res in rows:
        qty = res.quantity - res.picked
        if qty > 0:
            session.execute(
                update(Stock)
                .where(Stock.id == res.stock_id)
                .values(reserved=Stock.reserved - qty)
                .execution_options(synchronize_session=False)
            )
            by_id[res.order_line_id].reserved_qty -= qty
            released += qty
        res.released = True
    return released


def available_to_promise(
    session: Session, sku_codes: Sequence[str] | None = None
) -> dict[str, int]:
    """On hand minus reserved, per SKU, over pickable locations (0 for SKUs with no stock)."""
    avail = func.coalesce(
        func.sum(case((Location.type.in_(PICKABLE), Stock.on_hand - Stock.reserved), else_=0)),
        0,
    )
    stmt = (
        select(Sku.code, avail)
        .select_from(Sku)
        .outerjoin(Stock, Stock.sku_id == Sku.id)
        .outerjoin(Location, Location.id == Stock.location_id)
        .group_by(Sku.code)
        .order_by(Sku.code)
    )
    if sku_codes is not None:
        stmt = stmt.where(Sku.code.in_(list(sku_codes)))
    return {code: int(qty) for code, qty in session.execute(stmt).all()}

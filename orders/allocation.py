"""Allocate orders: reserve their lines' stock (``floor.site.reservation``) and move each order
to ``allocated`` or ``short`` through its state machine.

A short order gets a ``short_allocation`` exception listing the missing quantities. Set-based:
one stock query for the batch, one write for the short orders and one for the allocated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.actors import Actor
from core.events import publish
from core.exception_queue import ExceptionReason, FloorException
from floor.site.layout import Sku
from floor.site.reservation import release_lines, reserve_lines
from orders.models import Order
from orders.states import OrderStatus
from orders.transitions import transition_many


@dataclass
class Shortfall:
    line_id: str
    sku: str
    ordered: int
    reserved: int

    @property
    def missing(self) -> int:
        return self.ordered - self.reserved


@dataclass
class ReservationResult:
    order: str
    status: OrderStatus
    shortfalls: list[Shortfall] = field(default_factory=list)


def reserve_orders(
    session: Session, orders: Sequence[Order], actor: Actor
) -> list[ReservationResult]:
    """Reserve every line of each order; move each to ``allocated`` or ``short``.

    A short order gets a ``short_allocation`` exception listing the missing quantities.
    """
    lines = [line for order in orders for line in order.lines]
    reserve_lines(session, lines)
    sku_codes = dict(
        session.execute(
            select(Sku.id, Sku.code).where(Sku.id.in_({line.sku_id for line in lines}))
        ).all()
    )
    results = []
    short: list[tuple[Order, list[Shortfall], list[dict[str, Any]]]] = []
    allocated: list[Order] = []
    for order in orders:
        shortfalls = [
            Shortfall(line.line_id, sku_codes[line.sku_id], line.quantity, line.reserved_qty)
            for line in order.lines
            if line.reserved_qty < line.quantity
        ]
        if shortfalls:
            missing = [
                {
                    "line_id": s.line_id,
                    "sku": s.sku,
                    "ordered": s.ordered,
                    "reserved": s.reserved,
                    "missing": s.missing,
                }
                for s in shortfalls
            ]
            if order.status != OrderStatus.short:
                short.append((order, shortfalls, missing))
            results.append(ReservationResult(order.external_id, OrderStatus.short, shortfalls))
        else:
            allocated.append(order)
            results.append(ReservationResult(order.external_id, OrderStatus.allocated))
    # Set-based: one write for the short orders, one for the allocated ones.
    transition_many(
        session,
        [order for order, _, _ in short],
        OrderStatus.short,
        actor,
        [{"missing": missing} for _, _, missing in short],
    )
    for order, shortfalls, missing in short:
        session.add(
            FloorException(
                reason=ExceptionReason.short_allocation,
                order_id=order.id,
                message=f"order {order.external_id}: "
                + ", ".join(f"{s.sku} missing {s.missing}" for s in shortfalls),
                details={"missing": missing},
            )
        )
        publish(
            session,
            "exception.opened",
            {"reason": "short_allocation", "order": order.external_id},
        )
    transition_many(session, allocated, OrderStatus.allocated, actor)
    return results


def release_order(session: Session, order: Order) -> int:
    """Give back every unpicked reserved unit of ``order`` (cancel). Returns units released."""
    return release_lines(session, order.lines)

"""Hand an order's packages to the carrier and tell the OMS what shipped; later, delivered.

The ``order.shipped`` event carries the shipment confirmation an OMS needs to close the order
(the content of an X12 945 or a Shopify fulfillment with tracking info): shipped quantity per
line, and every package with its SSCC, carrier, service, tracking number, weight and dimensions.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from core.actors import Actor
from core.db import utcnow
from core.errors import FloorError
from floor.fulfilment.errors import FulfilmentErrorCode
from floor.fulfilment.models import Package
from floor.fulfilment.packing.carriers import CarrierAdapter, Label
from floor.fulfilment.states import PACKAGE_MACHINE, PackageStatus
from floor.site import layout_cache
from orders.models import Order, OrderLine
from orders.states import OrderStatus
from orders.transitions import transition

_lines = OrderLine.__table__
_SET_SHIPPED = (
    update(_lines).where(_lines.c.id == bindparam("b_id")).values(shipped_qty=bindparam("b_qty"))
)


class ShipError(FloorError):
    """The order cannot be shipped (409)."""


@dataclass
class ShipResult:
    order: str
    confirmation: dict[str, Any]
    labels: dict[str, Label]  # SSCC → carrier label (for the printer)
    package_ids: dict[str, int] = field(default_factory=dict)  # SSCC → package id


_LIVE_PACKAGES = (
    select(Package)
    .where(Package.order_id == bindparam("lp_order"), Package.status != PackageStatus.voided)
    .order_by(Package.id)
)


def live_packages(session: Session, order: Order) -> list[Package]:
    return list(session.scalars(_LIVE_PACKAGES, {"lp_order": order.id}))


def shipment_confirmation(
    session: Session, order: Order, packages: list[Package], shipped_at: dt.datetime
) -> dict[str, Any]:
    # SKU codes are identity, not state: from the layout cache (the scan loop's), no query.
    skus = {line.sku_id: layout_cache.sku(session, line.sku_id).code for line in order.lines}
    line_by_id = {line.id: line for line in order.lines}
    carriers = sorted({p.carrier for p in packages})
    services = sorted({p.service for p in packages})
    return {
        "shipped_at": shipped_at.isoformat(),
        "carrier": carriers[0] if len(carriers) == 1 else carriers,
        "service": services[0] if len(services) == 1 else services,
        "lines": [
            {
                "line_id": line.line_id,
                "sku": skus[line.sku_id],
                "ordered": line.quantity,
                "shipped": line.shipped_qty,
                "short": line.quantity - line.shipped_qty,
            }
            for line in order.lines
        ],
        "packages": [
            {
                "sscc": p.sscc,
                "carrier": p.carrier,
                "service": p.service,
                "tracking_number": p.tracking_number,
                "weight_g": p.weight_g,
                "length_mm": p.length_mm,
                "width_mm": p.width_mm,
                "height_mm": p.height_mm,
                "items": [
                    {
                        "line_id": line_by_id[i.order_line_id].line_id,
                        "sku": skus[line_by_id[i.order_line_id].sku_id],
                        "quantity": i.quantity,
                    }
                    for i in p.items
                ],
            }
            for p in packages
        ],
    }


def ship_order(
    session: Session,
    order: Order,
    carrier: CarrierAdapter,
    actor: Actor,
    *,
    now: dt.datetime | None = None,
    packages: list[Package] | None = None,
) -> ShipResult:
    """Create a shipment (tracking number, label) per package, mark everything shipped and move
    the order to ``shipped`` with the confirmation payload. CarrierError propagates (and the
    caller's transaction rolls back); carriers de-duplicate a retry by SSCC. ``packages``: the
    order's live packages when the caller knows them all (read from the database otherwise)."""
    if order.status != OrderStatus.packed:
        raise ShipError(
            FulfilmentErrorCode.wrong_status,
            f"order {order.external_id} is {order.status}, not packed",
        )
    if packages is None:
        packages = live_packages(session, order)
    if not packages:
        raise ShipError(
            FulfilmentErrorCode.no_packages, f"order {order.external_id} has no packages"
        )
    now = now or utcnow()
    labels: dict[str, Label] = {}
    labeled, details = [], []
    for pkg in packages:
        if pkg.status == PackageStatus.closed:
            shipment = carrier.create_shipment(pkg, order)
            labeled.append(pkg)
            details.append(
                {
                    "carrier": carrier.name,
                    "service": shipment.service,
                    "tracking_number": shipment.tracking_number,
                }
            )
            labels[pkg.sscc] = shipment.label
    # Written at once (the objects kept as committed state): nothing is left to flush.
    PACKAGE_MACHINE.move_many(session, labeled, PackageStatus.labeled, details)
    PACKAGE_MACHINE.move_many(
        session, packages, PackageStatus.shipped, [{"shipped_at": now}] * len(packages)
    )
    shipped: dict[int, int] = defaultdict(int)
    for pkg in packages:
        for item in pkg.items:
            shipped[item.order_line_id] += item.quantity
    for line in order.lines:
        set_committed_value(line, "shipped_qty", shipped[line.id])
    session.connection().execute(
        _SET_SHIPPED, [{"b_id": line.id, "b_qty": line.shipped_qty} for line in order.lines]
    )
    confirmation = shipment_confirmation(session, order, packages, now)
    transition(session, order, OrderStatus.shipped, actor, payload=confirmation, at_once=True)
    return ShipResult(
        order.external_id, confirmation, labels, {pkg.sscc: pkg.id for pkg in packages}
    )


def mark_delivered(
    session: Session, package: Package, delivered_at: dt.datetime, actor: Actor
) -> bool:
    """Record a delivered package; when the order's last package is delivered, the order moves
    to ``delivered`` (one event for the OMS). Returns True when the order moved."""
    if package.delivered_at is None:
        package.delivered_at = delivered_at
    order = session.get(Order, package.order_id)
    if order is None or order.status != OrderStatus.shipped:
        return False
    packages = live_packages(session, order)
    if any(p.delivered_at is None for p in packages):
        return False
    when = max(p.delivered_at for p in packages if p.delivered_at)
    return transition(
        session,
        order,
        OrderStatus.delivered,
        actor,
        payload={
            "delivered_at": when.isoformat(),
            "packages": [
                {
                    "sscc": p.sscc,
                    "tracking_number": p.tracking_number,
                    "delivered_at": p.delivered_at.isoformat() if p.delivered_at else None,
                }
                for p in packages
            ],
        },
    )

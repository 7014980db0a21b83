"""What only the database can show, read-only, when the simulator's configuration reaches the
server's database (``flask --app app simulate`` in the same checkout as ``make run``).

* reservations left over: units still held (not released, not picked) for orders that are
  shipped, and stock rows whose ``reserved`` differs from the open reservations on them;
* print jobs: more than one label job for one package.

``None`` when the day's orders are not in this database (another server): not checked.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from floor.fulfilment.models import Package
from floor.site.stock import Reservation, Stock
from orders.models import Order, OrderLine
from orders.states import OrderStatus
from printing.models import PrintJob


def check(session: Session, prefix: str, expected: int) -> dict[str, Any] | None:
    ours = select(Order.id).where(Order.external_id.like(prefix + "%"))
    if session.scalar(select(func.count()).select_from(ours.subquery())) != expected:
        return None
    left = session.execute(
        select(Order.external_id, func.sum(Reservation.quantity - Reservation.picked))
        .join(OrderLine, OrderLine.order_id == Order.id)
        .join(Reservation, Reservation.order_line_id == OrderLine.id)
        .where(
            Order.id.in_(ours),
            Order.status.in_([OrderStatus.shipped, OrderStatus.delivered]),
            Reservation.released.is_(False),
            Reservation.picked < Reservation.quantity,
        )
        .group_by(Order.external_id)
    ).all()
    held = (
        select(Reservation.stock_id, func.sum(Reservation.quantity - Reservation.picked).label("q"))
        .where(Reservation.released.is_(False))
        .group_by(Reservation.stock_id)
        .subquery()
    )
    mismatched = session.scalar(
        select(func.count())
        .select_from(Stock)
        .outerjoin(held, held.c.stock_id == Stock.id)
        .where(Stock.reserved != func.coalesce(held.c.q, 0))
    )
    doubled_jobs = session.scalar(
        select(func.count()).select_from(
            select(PrintJob.package_id)
            .join(Package, Package.id == PrintJob.package_id)
            .where(Package.order_id.in_(ours), PrintJob.kind == "shipping_label")
            .group_by(PrintJob.package_id)
            .having(func.count() > 1)
            .subquery()
        )
    )
    jobs = session.scalar(
        select(func.count())
        .select_from(PrintJob)
        .join(Package, Package.id == PrintJob.package_id)
        .where(Package.order_id.in_(ours))
    )
    return {
        "reservations_left_on_shipped_orders": {ext: int(q) for ext, q in left},
        "stock_rows_reserved_mismatch": int(mismatched or 0),
        "print_jobs": int(jobs or 0),
        "packages_with_two_label_jobs": int(doubled_jobs or 0),
    }

"""Units of a canceled order back to stock.

The OMS may cancel an order after some of its units were picked: picking took them off
``on_hand`` at the pick face (``Stock.on_hand`` and ``reserved`` down, ``Reservation.picked``
up), and they now sit in the order's tote(s). ``cancellation.cancel_order`` gives back only the
unpicked reservations, keeps those totes on the order and calls :func:`open_return_exception`:
one ``return_to_stock`` exception naming the order, its totes and what is in them.

A supervisor has the units put back where they came from and confirms with
:func:`return_to_stock`:

* every reservation of the order with ``picked > returned`` gives its difference back to
  ``on_hand`` of its own stock row (location, SKU, lot: where the pick task took it from);
  ``returned`` records it, so the reservation still says what was picked and a second call
  finds nothing left (it answers ``changed: False`` and changes nothing);
* the order's totes go back to the pool (no pick list, no order), as a pack close or a canceled
  wave leaves them;
* each stock row written is audited (``stock.adjust``, reason ``order_canceled:returned``), the
  whole return once (``order.return_to_stock``); the order's open ``return_to_stock``
  exception is resolved through its state machine and ``exception.resolved`` published.

Stock changes write no outbox event in this codebase (the OMS pulls ``/api/v1/inventory``), and
the order's status does not move (it is ``canceled`` already).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core.accounts import has_role
from core.actors import Actor
from core.audit import audit
from core.db import is_postgres, utcnow
from core.errors import CoreErrorCode, FloorError
from core.events import publish
from core.exception_queue import (
    ExceptionReason,
    ExceptionStatus,
    FloorException,
)
from core.users import Role
from floor.fulfilment.errors import FulfilmentErrorCode
from floor.fulfilment.exceptions import close_exception
from floor.fulfilment.models import PickTask, Tote
from floor.site.layout import Location, Sku
from floor.site.stock import Reservation, Stock
from orders.models import Order, OrderLine
from orders.service import load_order
from orders.states import OrderStatus

RESOLUTION = "returned to stock"


class ReturnError(FloorError):
    """A refused return to stock (409 unless the raise says otherwise)."""


def tote_contents(session: Session, order: Order) -> list[dict[str, Any]]:
    """What the order's picks put in each tote: ``[{"tote", "items": [{"sku", "units",
    "location"}]}]``, by tote code (``tote`` is None for units booked without a tote)."""
    rows = session.execute(
        select(Tote.code, Sku.code, Location.code, func.sum(PickTask.picked_qty))
        .select_from(PickTask)
        .join(OrderLine, OrderLine.id == PickTask.order_line_id)
        .join(Sku, Sku.id == PickTask.sku_id)
        .join(Location, Location.id == PickTask.location_id)
        .outerjoin(Tote, Tote.id == PickTask.tote_id)
        .where(OrderLine.order_id == order.id, PickTask.picked_qty > 0)
        .group_by(Tote.code, Sku.code, Location.code)
        .order_by(Tote.code, Sku.code, Location.code)
    ).all()
    by_tote: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    for tote, sku, location, units in rows:
        by_tote[tote].append({"sku": sku, "units": int(units), "location": location})
    return [{"tote": tote, "items": items} for tote, items in by_tote.items()]


def _describe(contents: list[dict[str, Any]]) -> str:
    return "; ".join(
        f"tote {c['tote'] or '(none)'}: "
        + ", ".join(f"{i['units']} × {i['sku']} from {i['location']}" for i in c["items"])
        for c in contents
    )


def open_return_exception(session: Session, order: Order) -> FloorException | None:
    """Open the ``return_to_stock`` exception of a just-canceled order that holds picked units
    (None when nothing of it was picked). Publishes ``exception.opened`` to ``dashboard``."""
    contents = tote_contents(session, order)
    units = sum(i["units"] for c in contents for i in c["items"])
    if not units:
        return None
    totes = [c["tote"] for c in contents if c["tote"]]
    exc = FloorException(
        reason=ExceptionReason.return_to_stock,
        order_id=order.id,
        subject=order.external_id,
        message=f"order {order.external_id} was canceled with {units} unit(s) picked: "
        f"{_describe(contents)}. Put them back and confirm 'returned to stock'",
        details={"totes": contents, "units": units},
    )
    session.add(exc)
    session.flush()
    publish(
        session,
        "exception.opened",
        {
            "id": exc.id,
            "reason": exc.reason.value,
            "order": order.external_id,
            "totes": totes,
            "units": units,
            "message": exc.message,
        },
    )
    return exc


def return_to_stock(session: Session, external_id: str, actor: Actor) -> dict[str, Any]:
    """Put the picked units of canceled order ``external_id`` back on the stock rows they were
    picked from, free its totes, resolve its ``return_to_stock`` exception (module docstring).

    Refusals: ``forbidden`` (403, not a supervisor), ``not_found`` (404), ``order_not_canceled``
    (409), ``nothing_to_return`` (409: nothing of it was ever picked). A repeat answers
    ``changed: False`` and changes nothing.
    """
    if not has_role(actor.role, Role.supervisor):
        raise ReturnError(
            CoreErrorCode.forbidden, "only a supervisor may return units to stock", 403
        )
    order = load_order(session, external_id, lock=True)  # one return at a time per order
    if order.status != OrderStatus.canceled:
        raise ReturnError(
            FulfilmentErrorCode.order_not_canceled,
            f"order {order.external_id} is {order.status.value}, not canceled: its units are "
            "not to be returned",
        )
    line_ids = select(OrderLine.id).where(OrderLine.order_id == order.id)
    reservations = session.scalars(
        select(Reservation)
        .where(Reservation.order_line_id.in_(line_ids), Reservation.picked > 0)
        .order_by(Reservation.stock_id, Reservation.id)
    ).all()
    owed = [r for r in reservations if r.picked > r.returned]
    if not owed:
        if not reservations:
            raise ReturnError(
                FulfilmentErrorCode.nothing_to_return,
                f"nothing of order {order.external_id} was picked: there is nothing to return",
            )
        return {
            "order": order.external_id,
            "changed": False,
            "message": f"order {order.external_id}: its units were already returned to stock",
            "returned": [],
            "units": 0,
            "totes": [],
            "exception_ids": [],
        }
    contents = tote_contents(session, order)
    stock_ids = sorted({r.stock_id for r in owed})
    stmt = select(Stock).where(Stock.id.in_(stock_ids)).order_by(Stock.id)
    if is_postgres(session):
        stmt = stmt.with_for_update()
    stocks = {s.id: s for s in session.scalars(stmt)}
    for stock in stocks.values():
        session.refresh(stock)
    per_stock: dict[int, int] = defaultdict(int)
    for res in owed:
        per_stock[res.stock_id] += res.picked - res.returned
        res.returned = res.picked
    returned: list[dict[str, Any]] = []
    for stock_id, units in sorted(per_stock.items()):
        stock = stocks[stock_id]
        before = stock.on_hand
        stock.on_hand = before + units
        loc, sku = stock.location.code, stock.sku.code
        returned.append({"sku": sku, "location": loc, "lot": stock.lot, "units": units})
        audit(
            session,
            actor,
            "stock.adjust",
            entity="stock",
            entity_id=stock.id,
            reason="order_canceled:returned",
            details={
                "order": order.external_id,
                "location": loc,
                "sku": sku,
                "lot": stock.lot,
                "on_hand_before": before,
                "on_hand_after": stock.on_hand,
                "units": units,
            },
        )
    totes = list(
        session.scalars(select(Tote.code).where(Tote.order_id == order.id).order_by(Tote.code))
    )
    session.execute(
        update(Tote)
        .where(Tote.order_id == order.id)
        .values(pick_list_id=None, order_id=None, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    exception_ids = _resolve_exceptions(session, order, actor)
    units_total = sum(per_stock.values())
    audit(
        session,
        actor,
        "order.return_to_stock",
        entity="order",
        entity_id=order.external_id,
        reason=RESOLUTION,
        details={"returned": returned, "totes": totes, "contents": contents},
    )
    return {
        "order": order.external_id,
        "changed": True,
        "message": f"order {order.external_id}: {units_total} unit(s) returned to stock; "
        f"{len(totes)} tote(s) freed",
        "returned": returned,
        "units": units_total,
        "totes": totes,
        "exception_ids": exception_ids,
    }


def _resolve_exceptions(session: Session, order: Order, actor: Actor) -> list[int]:
    """Resolve the order's open ``return_to_stock`` exceptions (audited, published)."""
    open_ones = session.scalars(
        select(FloorException)
        .where(
            FloorException.order_id == order.id,
            FloorException.reason == ExceptionReason.return_to_stock,
            FloorException.status == ExceptionStatus.open,
        )
        .order_by(FloorException.id)
    ).all()
    for exc in open_ones:
        close_exception(session, exc, actor, RESOLUTION, {"order": order.external_id})
    return [exc.id for exc in open_ones]

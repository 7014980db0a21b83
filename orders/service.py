"""Order intake and the OMS's order actions, as plain functions over a Session.

Intake is set-based: one batch (1 to 1,000 orders; a single POST is a batch of one) is validated
order by order, then the database is asked once for the external ids it already has and once for
the SKUs, stock for every accepted order is allocated with one query, and the orders, lines,
reservations, outbox events and shortage exceptions are written with bulk inserts. Each order is
all-or-nothing on its own: it is only written once every check has passed.

Idempotency: the normalised payload's sha256 is stored with the order. The same external id with
the same hash answers ``unchanged`` (200), with another hash ``conflict`` (409). Intake takes the
feed writers' lock before it reads (PostgreSQL; SQLite serialises writers with BEGIN IMMEDIATE),
so two concurrent posts of one order cannot both insert it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from core.actors import Actor
from core.bulk import among, insert_rows
from core.db import utcnow
from core.events import publish, record
from core.exception_queue import ExceptionReason, FloorException
from core.statemachine import InvalidTransition
from floor.site.layout import Sku
from floor.site.reservation import allocate, apply_allocation
from floor.site.stock import Reservation
from orders.errors import OrderActionError, OrderErrorCode
from orders.intake import CanonicalOrder, FieldError, check_world, storable, validate
from orders.models import Order, OrderLine
from orders.outbox import lock_feed
from orders.states import ORDER_MACHINE, OrderStatus, ShortPolicy
from orders.transitions import receive_many, received_times, transition

MAX_BATCH = 1000
_CHUNK = 500  # IN-list size for lookups
_ID_CHUNK = 1000  # lookups of a whole batch's rows (one array parameter on PostgreSQL)

_ORDER_COLUMNS = (
    "external_id",
    "channel",
    "priority",
    "ship_by",
    "carrier",
    "service",
    "ship_to",
    "notes",
    "status",
    "short_policy",
    "content_hash",
    "status_times",
    "created_at",
    "updated_at",
)
_LINE_COLUMNS = (
    "order_id",
    "line_id",
    "sku_id",
    "quantity",
    "reserved_qty",
    "picked_qty",
    "short_qty",
    "packed_qty",
    "shipped_qty",
)
_RESERVATION_COLUMNS = ("order_line_id", "stock_id", "quantity", "picked", "released", "created_at")

CREATED, UNCHANGED, CONFLICT, INVALID = "created", "unchanged", "conflict", "invalid"
HTTP_STATUS = {CREATED: 201, UNCHANGED: 200, CONFLICT: 409, INVALID: 422}


@dataclass
class IntakeResult:
    index: int
    external_id: str | None
    outcome: str  # created | unchanged | conflict | invalid
    order_id: int | None = None
    order_status: str | None = None  # the order's status (created / unchanged / conflict)
    errors: list[FieldError] = field(default_factory=list)
    missing: list[dict[str, Any]] = field(default_factory=list)  # when created short

    @property
    def http_status(self) -> int:
        return HTTP_STATUS[self.outcome]


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


# --- intake -----------------------------------------------------------------------------------


def create_orders(
    session: Session, payloads: Sequence[Any], actor: Actor, *, now: dt.datetime | None = None
) -> list[IntakeResult]:
    """Validate, dedupe, insert and reserve a batch of order payloads; one result per payload."""
    now = now or utcnow()
    lock_feed(session)
    validated = [validate(p) for p in payloads]
    existing = _existing(session, {v.order.external_id for v in validated if v.order})
    sku_ids = _sku_ids(session, {sku for v in validated for _, sku in v.skus})

    results: list[IntakeResult] = []
    accepted: list[tuple[IntakeResult, CanonicalOrder]] = []
    new_in_batch: dict[str, IntakeResult] = {}
    new_hashes: dict[str, str] = {}
    repeats: list[tuple[IntakeResult, IntakeResult]] = []  # (repeat, first) within the batch
    for i, v in enumerate(validated):
        order = v.order
        if order is None:
            errors = v.errors + check_world(v, sku_ids, now)
            results.append(IntakeResult(i, v.external_id, INVALID, errors=errors))
            continue
        ext = order.external_id
        if ext in existing:
            order_id, stored_hash, status = existing[ext]
            outcome = UNCHANGED if stored_hash == order.content_hash else CONFLICT
            results.append(IntakeResult(i, ext, outcome, order_id, status))
        elif ext in new_in_batch:
            first = new_in_batch[ext]
            outcome = UNCHANGED if new_hashes[ext] == order.content_hash else CONFLICT
            result = IntakeResult(i, ext, outcome)
            repeats.append((result, first))
            results.append(result)
        else:
            errors = check_world(v, sku_ids, now)
            if errors:
                results.append(IntakeResult(i, ext, INVALID, errors=errors))
                continue
            result = IntakeResult(i, ext, CREATED)
            results.append(result)
            accepted.append((result, order))
            new_in_batch[ext] = result
            new_hashes[ext] = order.content_hash
    if accepted:
        _insert(session, accepted, sku_ids, actor, now)
    for result, first in repeats:
        result.order_id, result.order_status = first.order_id, first.order_status
    return results


def create_order(session: Session, payload: Any, actor: Actor) -> IntakeResult:
    [result] = create_orders(session, [payload], actor)
    return result


def _existing(session: Session, external_ids: set[str]) -> dict[str, tuple[int, str, str]]:
    found: dict[str, tuple[int, str, str]] = {}
    for chunk in _chunks(sorted(external_ids)):
        rows = session.execute(
            select(Order.external_id, Order.id, Order.content_hash, Order.status).where(
                among(session, Order.external_id, chunk)
            )
        )
        for ext, oid, content, status in rows:
            found[ext] = (oid, content, OrderStatus(status).value)
    return found


def _ids_by(session: Session, key: Any, value: Any, keys: Sequence[Any]) -> dict[Any, Any]:
    found: dict[Any, Any] = {}
    for chunk in _chunks(list(keys), _ID_CHUNK):
        found.update(session.execute(select(key, value).where(among(session, key, chunk))).all())
    return found


def _sku_ids(session: Session, codes: set[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for chunk in _chunks(sorted(codes)):
        found.update(
            session.execute(
                select(Sku.code, Sku.id).where(among(session, Sku.code, chunk), Sku.active)
            ).all()
        )
    return found


def _insert(
    session: Session,
    accepted: list[tuple[IntakeResult, CanonicalOrder]],
    sku_ids: dict[str, int],
    actor: Actor,
    now: dt.datetime,
) -> None:
    """Write accepted orders set-based: allocate, then orders, lines, reservations, stock,
        then the orders move from ``received`` to allocated/short through ``orders.transitions``
    (outbox events included), and shortage exceptions."""
    demands = [(sku_ids[ln.sku], ln.quantity) for _, o in accepted for ln in o.lines]
    allocation = allocate(session, demands)
    reserved = [sum(q for _, q in picks) for picks in allocation.picks]
    received, times = OrderStatus.received, received_times(now)

    order_rows = []
    finals: list[OrderStatus] = []
    missing_by_order: list[list[dict[str, Any]]] = []
    k = 0
    for _, o in accepted:
        missing = []
        for ln in o.lines:
            got = reserved[k]
            if got < ln.quantity:
                missing.append(
                    {
                        "line_id": ln.line_id,
                        "sku": ln.sku,
                        "ordered": ln.quantity,
                        "reserved": got,
                        "missing": ln.quantity - got,
                    }
                )
            k += 1
        finals.append(OrderStatus.short if missing else OrderStatus.allocated)
        missing_by_order.append(missing)
        order_rows.append(
            (
                o.external_id,
                o.channel,
                o.priority,
                o.ship_by,
                o.carrier,
                o.service,
                o.ship_to,
                o.notes,
                received,
                ShortPolicy.ship_partial,
                o.content_hash,
                times,
                now,
                now,
            )
        )
    # Bulk writes without RETURNING (core.bulk: COPY on PostgreSQL, one executemany on
    # SQLite), then one keyed read-back of the new ids. A duplicate external id still fails
    # with IntegrityError (the caller retries and then answers 200 or 409).
    insert_rows(session, Order.__table__, _ORDER_COLUMNS, order_rows)
    ids_by_ext = _ids_by(session, Order.external_id, Order.id, [o.external_id for _, o in accepted])
    order_ids = [ids_by_ext[o.external_id] for _, o in accepted]

    line_rows = []
    k = 0
    for order_id, (_, o) in zip(order_ids, accepted, strict=True):
        for ln in o.lines:
            line_rows.append(
                (order_id, ln.line_id, sku_ids[ln.sku], ln.quantity, reserved[k], 0, 0, 0, 0)
            )
            k += 1
    insert_rows(session, OrderLine.__table__, _LINE_COLUMNS, line_rows)
    line_key: dict[tuple[int, str], int] = {}
    for chunk in _chunks(order_ids, _ID_CHUNK):
        for order_id, line_id, row_id in session.execute(
            select(OrderLine.order_id, OrderLine.line_id, OrderLine.id).where(
                among(session, OrderLine.order_id, chunk)
            )
        ):
            line_key[(order_id, line_id)] = row_id
    line_ids = [line_key[(row[0], row[1])] for row in line_rows]
    insert_rows(
        session,
        Reservation.__table__,
        _RESERVATION_COLUMNS,
        (
            (line_id, stock_id, qty, 0, False, now)
            for line_id, picks in zip(line_ids, allocation.picks, strict=True)
            for stock_id, qty in picks
        ),
    )
    apply_allocation(session, allocation)

    # Every order was written in ``received``; the transition path moves it on.
    receive_many(
        session,
        [(order_id, o.external_id) for order_id, (_, o) in zip(order_ids, accepted, strict=True)],
        finals,
        actor,
        [{"missing": missing} if missing else None for missing in missing_by_order],
        now=now,
    )
    exceptions = []
    for order_id, (result, o), final, missing in zip(
        order_ids, accepted, finals, missing_by_order, strict=True
    ):
        result.order_id, result.order_status, result.missing = order_id, final.value, missing
        if missing:
            ext = o.external_id
            exceptions.append(
                {
                    "reason": ExceptionReason.short_allocation,
                    "order_id": order_id,
                    "message": f"order {ext}: "
                    + ", ".join(f"{m['sku']} missing {m['missing']}" for m in missing),
                    "details": {"missing": missing},
                    "created_at": now,
                }
            )
            publish(session, "exception.opened", {"reason": "short_allocation", "order": ext})
    if exceptions:
        session.execute(insert(FloorException.__table__), exceptions)


# --- actions ----------------------------------------------------------------------------------


def load_order(session: Session, external_id: str, *, lock: bool = False) -> Order:
    if not storable(external_id):
        raise OrderActionError(OrderErrorCode.not_found, "no such order", 404)
    stmt = select(Order).where(Order.external_id == external_id)
    if lock:
        stmt = stmt.with_for_update()
    order = session.scalar(stmt)
    if order is None:
        raise OrderActionError(OrderErrorCode.not_found, f"no order {external_id!r}", 404)
    return order


_SHIPPED = frozenset({OrderStatus.shipped, OrderStatus.delivered})


def refuse_shipped(order: Order) -> None:
    if order.status in _SHIPPED:
        raise OrderActionError(
            OrderErrorCode.already_shipped,
            f"order {order.external_id} is already {order.status.value}",
        )


def _reason(reason: str) -> dict[str, Any] | None:
    return {"reason": reason} if reason else None


def hold_order(session: Session, external_id: str, actor: Actor, reason: str = "") -> Order:
    """Put an open order on hold (reservations stay); holding a held order changes nothing."""
    lock_feed(session)
    order = load_order(session, external_id, lock=True)
    if order.status == OrderStatus.on_hold:
        return order
    refuse_shipped(order)
    ORDER_MACHINE.check(order.status, OrderStatus.on_hold)
    order.held_from = order.status
    transition(session, order, OrderStatus.on_hold, actor, payload=_reason(reason))
    return order


def release_order_hold(session: Session, external_id: str, actor: Actor, reason: str = "") -> Order:
    """Return a held order to the status it was held from; a not-held order is left as it is
    (a canceled one is refused: there is nothing to release)."""
    lock_feed(session)
    order = load_order(session, external_id, lock=True)
    if order.status == OrderStatus.canceled:
        raise InvalidTransition("order", order.status, OrderStatus.received)
    if order.status != OrderStatus.on_hold:
        return order
    target = order.held_from or OrderStatus.received
    ORDER_MACHINE.check(order.status, target)
    order.held_from = None
    transition(session, order, target, actor, payload=_reason(reason))
    # Picking is the floor's (above this package): what it did while the order was held is
    # caught up by its handler of this event (floor.fulfilment.picking.booking).
    record(session, "order.released", {"order_id": order.id, "actor": actor})
    return order

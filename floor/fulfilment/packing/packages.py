"""Pack an order's picked units into packages, each with a valid SSCC (the service the pack
station uses). When everything picked is packed, the order moves to ``packed``.

SSCC (GS1, 18 digits): extension digit + company prefix + serial reference + mod-10 check digit.
The serial reference is the package's database id, so SSCCs are unique on this server for as
long as the company prefix and extension digit stay the same.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from core.actors import Actor
from core.db import is_postgres, transaction_memo, utcnow
from core.errors import FieldError, Invalid
from core.events import publish
from floor.fulfilment.errors import FulfilmentErrorCode
from floor.fulfilment.models import Package, PackageItem
from floor.fulfilment.states import PackageStatus
from floor.site.gtin import check_digit
from floor.site.layout import Location, LocationType
from orders.models import Order, OrderLine
from orders.states import OrderStatus
from orders.transitions import transition


@dataclass(frozen=True)
class PackSpec:
    """One carton: order line id → quantity, its weight and outer dimensions."""

    items: Mapping[str, int]
    weight_g: int
    length_mm: int = 0
    width_mm: int = 0
    height_mm: int = 0


class PackError(Invalid):
    """The cartons cannot be packed as given: 422, one ``FieldError`` per problem (all of them;
    nothing is written). ``code`` is the first problem's."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(errors, "; ".join(e.message for e in errors))
        self.code = errors[0].code
        self.errors = errors


def make_sscc(serial: int, company_prefix: str = "0614141", extension_digit: int = 0) -> str:
    if not company_prefix.isdigit() or not 7 <= len(company_prefix) <= 10:
        raise ValueError("GS1 company prefix must be 7 to 10 digits")
    if not 0 <= extension_digit <= 9:
        raise ValueError("extension digit must be 0-9")
    width = 16 - len(company_prefix)
    if not 0 <= serial < 10**width:
        raise ValueError(f"serial {serial} does not fit {width} digits")
    body = f"{extension_digit}{company_prefix}{serial:0{width}d}"
    return body + check_digit(body)


def is_valid_sscc(code: str) -> bool:
    return len(code) == 18 and code.isdigit() and check_digit(code[:-1]) == code[-1]


def _validate(order: Order, specs: Sequence[PackSpec]) -> list[FieldError]:
    errors: list[FieldError] = []

    def err(code: FulfilmentErrorCode, fld: str, message: str) -> None:
        errors.append(FieldError(code, fld, message))

    if order.status != OrderStatus.picked:
        err(
            FulfilmentErrorCode.wrong_status,
            "order",
            f"order {order.external_id} is {order.status}, not picked",
        )
    if not specs:
        err(FulfilmentErrorCode.no_packages, "packages", "give at least one package")
    lines = {line.line_id: line for line in order.lines}
    wanted: dict[str, int] = defaultdict(int)
    for i, spec in enumerate(specs):
        where = f"packages[{i}]"
        if not spec.items or not any(q > 0 for q in spec.items.values()):
            err(
                FulfilmentErrorCode.empty_package,
                f"{where}.items",
                "a package holds at least one unit",
            )
        if spec.weight_g <= 0:
            err(
                FulfilmentErrorCode.invalid_weight,
                f"{where}.weight_g",
                "weight must be a positive number of grams",
            )
        if min(spec.length_mm, spec.width_mm, spec.height_mm) < 0:
            err(
                FulfilmentErrorCode.invalid_dimensions,
                where,
                "dimensions are millimetres, not negative",
            )
        for line_id, qty in spec.items.items():
            if line_id not in lines:
                err(
                    FulfilmentErrorCode.unknown_line,
                    f"{where}.items.{line_id}",
                    f"order has no line {line_id}",
                )
            elif qty <= 0:
                err(
                    FulfilmentErrorCode.invalid_quantity,
                    f"{where}.items.{line_id}",
                    "quantity must be positive",
                )
            else:
                wanted[line_id] += qty
    for line_id, qty in wanted.items():
        line = lines[line_id]
        free = line.picked_qty - line.packed_qty
        if qty > free:
            err(
                FulfilmentErrorCode.over_packed,
                f"items.{line_id}",
                f"line {line_id}: {qty} packed but only {free} picked and not yet packed",
            )
    return errors


# Built once (building a statement costs more CPU than running it). The close writes its rows
# with these and keeps the loaded objects in step as committed state, so its transaction has
# nothing left for the ORM's unit of work to flush.
_STATION = select(Location.id).where(
    Location.code == bindparam("po_station"),
    Location.type == LocationType.pack_station,
    Location.active.is_(True),
)


def station_id(session: Session | Connection, station: str) -> int | None:
    """The location id of active pack station ``station``, or None."""
    return session.scalar(_STATION, {"po_station": station})


_KEPT = "floor.kept_until_commit"
_packages = Package.__table__
_items = PackageItem.__table__
_lines = OrderLine.__table__
_INSERT_PACKAGE = insert(_packages).returning(_packages.c.id)
_SET_SSCC = (
    update(_packages).where(_packages.c.id == bindparam("b_id")).values(sscc=bindparam("b_sscc"))
)
_INSERT_ITEMS = insert(_items).returning(_items.c.id, sort_by_parameter_order=True)
_SET_PACKED = (
    update(_lines).where(_lines.c.id == bindparam("b_id")).values(packed_qty=bindparam("b_qty"))
)


_LINES_NOW = (
    select(OrderLine)
    .where(OrderLine.order_id == bindparam("lo_order"))
    .order_by(OrderLine.id)
    .execution_options(populate_existing=True)
)


def lock_order(session: Session, order: Order) -> None:
    """PostgreSQL: lock the order's row for this close and re-read it and its lines.

    The station loaded the order (its tote scan) without a lock, and a close checks it and
    writes from what it loaded. An OMS cancel committed in between was overwritten (``picked →
    packed`` on a canceled order, then shipped); a second station closing the same order at the
    same moment packed it twice. Closes of one order now take turns and check what is committed.
    SQLite needs nothing: every transaction there is the one writer from its first statement
    (``BEGIN IMMEDIATE``). Nothing is read again when this transaction loaded the order with its
    lock already (``station.find_order(..., lock=True)`` marks it with ``order_locked``)."""
    if not is_postgres(session) or order.id in transaction_memo(session).get(_LOCKED, ()):
        return
    session.flush()  # this transaction's own changes first: a refresh would discard them
    session.refresh(order, with_for_update={"key_share": True})  # FOR NO KEY UPDATE
    lines = session.scalars(_LINES_NOW, {"lo_order": order.id}).all()
    set_committed_value(order, "lines", list(lines))


_LOCKED = "floor.orders_locked"


def order_locked(session: Session, order: Order) -> None:
    """This transaction holds ``order``'s row lock (``FOR NO KEY UPDATE``) and read the order
    and its lines after taking it: ``lock_order`` has nothing left to do."""
    transaction_memo(session).setdefault(_LOCKED, set()).add(order.id)


def pack_order(
    session: Session,
    order: Order,
    packages: Sequence[PackSpec],
    station: str,
    actor: Actor,
    *,
    company_prefix: str = "0614141",
    extension_digit: int = 0,
    close_id: str | None = None,
) -> list[Package]:
    """Create the packages (status ``closed``) and count the units as packed. Raises PackError
    with reason-coded errors and changes nothing when anything is wrong."""
    lock_order(session, order)
    errors = _validate(order, packages)
    conn = session.connection()
    station_loc = station_id(conn, station)
    if station_loc is None:
        errors.append(
            FieldError(FulfilmentErrorCode.unknown_station, "station", f"no pack station {station}")
        )
    if errors:
        raise PackError(errors)
    lines = {line.line_id: line for line in order.lines}
    now = utcnow()
    made = []
    # The session holds unmodified objects only weakly: the label handler, just before the
    # commit, reads the order (ship-to, carrier) after the caller may have let go of it.
    _keep_until_commit(session, order)
    for n, spec in enumerate(packages):
        row = {
            "order_id": order.id,
            "status": PackageStatus.closed,
            "station_location_id": station_loc,
            "carrier": order.carrier,
            "service": order.service,
            "tracking_number": None,
            "weight_g": spec.weight_g,
            "length_mm": spec.length_mm,
            "width_mm": spec.width_mm,
            "height_mm": spec.height_mm,
            "manifest_id": None,
            "created_at": now,
            "closed_at": now,
            "shipped_at": None,
            "delivered_at": None,
            "close_id": close_id if n == 0 else None,  # the close's first carton answers a retry
        }
        # The SSCC's serial is the package's id: a unique placeholder until the id exists.
        package_id = conn.scalar(_INSERT_PACKAGE, {**row, "sscc": "t" + uuid.uuid4().hex[:17]})
        sscc = make_sscc(package_id, company_prefix, extension_digit)
        conn.execute(_SET_SSCC, {"b_id": package_id, "b_sscc": sscc})
        contents = [
            {"package_id": package_id, "order_line_id": lines[line_id].id, "quantity": qty}
            for line_id, qty in spec.items.items()
        ]
        item_ids = conn.scalars(_INSERT_ITEMS, contents).all()
        items = [PackageItem(id=i, **c) for i, c in zip(item_ids, contents, strict=True)]
        made.append(_persistent(session, Package(id=package_id, sscc=sscc, items=items, **row)))
        for line_id, qty in spec.items.items():
            line = lines[line_id]
            set_committed_value(line, "packed_qty", line.packed_qty + qty)
        conn.execute(
            _SET_PACKED,
            [{"b_id": lines[i].id, "b_qty": lines[i].packed_qty} for i in spec.items],
        )
    if all(line.packed_qty >= line.picked_qty for line in order.lines):
        transition(
            session,
            order,
            OrderStatus.packed,
            actor,
            payload={"packages": [p.sscc for p in made], "station": station},
            at_once=True,
        )
    publish(
        session,
        "order.packed",
        {"order": order.external_id, "packages": [p.sscc for p in made], "station": station},
        "dashboard",
        f"station:{station}",
    )
    return made


def _persistent(session: Session, package: Package) -> Package:
    """``package`` (built from the rows just written, its items too) in the session as if
    loaded: nothing for the unit of work to insert. The session holds unmodified objects only
    weakly, so the package is also kept until the commit: the label handler, just before it,
    finds it by id without a query."""
    for item in package.items:
        make_transient_to_detached(item)
    make_transient_to_detached(package)
    session.add(package)
    _keep_until_commit(session, package)
    return package


def _keep_until_commit(session: Session, obj: object) -> None:
    transaction_memo(session).setdefault(_KEPT, []).append(obj)

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

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from core.actors import Actor
from core.db import utcnow
from core.errors import FieldError, Invalid
from core.events import publish
from floor.fulfilment.errors import FulfilmentErrorCode
from floor.fulfilment.models import Package, PackageItem
from floor.fulfilment.states import PackageStatus
from floor.site.gtin import check_digit
from floor.site.layout import Location, LocationType
from orders.models import Order
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


_STATION = select(Location).where(
    Location.code == bindparam("po_station"), Location.type == LocationType.pack_station
)


def pack_order(
    session: Session,
    order: Order,
    packages: Sequence[PackSpec],
    station: str,
    actor: Actor,
    *,
    company_prefix: str = "0614141",
    extension_digit: int = 0,
) -> list[Package]:
    """Create the packages (status ``closed``) and count the units as packed. Raises PackError
    with reason-coded errors and changes nothing when anything is wrong."""
    errors = _validate(order, packages)
    loc = session.scalar(_STATION, {"po_station": station})
    if loc is None:
        errors.append(
            FieldError(FulfilmentErrorCode.unknown_station, "station", f"no pack station {station}")
        )
    if errors:
        raise PackError(errors)
    assert loc is not None
    lines = {line.line_id: line for line in order.lines}
    now = utcnow()
    made = []
    for spec in packages:
        pkg = Package(
            order_id=order.id,
            sscc="t" + uuid.uuid4().hex[:17],  # replaced by the SSCC once the id exists
            status=PackageStatus.closed,
            station_location_id=loc.id,
            carrier=order.carrier,
            service=order.service,
            weight_g=spec.weight_g,
            length_mm=spec.length_mm,
            width_mm=spec.width_mm,
            height_mm=spec.height_mm,
            closed_at=now,
            items=[
                PackageItem(order_line_id=lines[line_id].id, quantity=qty)
                for line_id, qty in spec.items.items()
            ],
        )
        session.add(pkg)
        session.flush()
        pkg.sscc = make_sscc(pkg.id, company_prefix, extension_digit)
        for line_id, qty in spec.items.items():
            lines[line_id].packed_qty += qty
        made.append(pkg)
    # The SSCCs and packed quantities go out with the next flush (the caller's next query or
    # its commit): one flush less per close.
    if all(line.packed_qty >= line.picked_qty for line in order.lines):
        transition(
            session,
            order,
            OrderStatus.packed,
            actor,
            payload={"packages": [p.sscc for p in made], "station": station},
        )
    publish(
        session,
        "order.packed",
        {"order": order.external_id, "packages": [p.sscc for p in made], "station": station},
        "dashboard",
        f"station:{station}",
    )
    return made

"""The pack station's flow (Flask-free): open the order in a tote, verify every item by scan,
close the carton (weight, dimensions) → SSCC, carrier shipment with tracking number and label.

A label is made only for a packed package whose items were verified: the station page enables
"Close" only when every picked unit has been scanned, and the server refuses a carton that holds
more than was picked (``packing.packages``). The carrier label is kept as a print job for the
station's printer (job id ``label-<sscc>``, idempotent), and the order's totes are freed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, case, func, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from core.actors import Actor
from core.db import is_postgres, utcnow
from core.errors import FloorError
from core.events import record
from floor.fulfilment.errors import FulfilmentErrorCode
from floor.fulfilment.models import Package, Tote
from floor.fulfilment.packing.carriers import CarrierAdapter, CarrierError
from floor.fulfilment.packing.packages import (
    PackError,
    PackSpec,
    order_locked,
    pack_order,
    station_id,
)
from floor.fulfilment.packing.shipping import ShipError, live_packages, ship_order
from floor.site.items import identify_item
from floor.site.layout import Location, LocationType, Sku, SkuGtin
from orders.models import Order, OrderLine
from orders.states import OrderStatus

CARTON_TARE_G = 150  # an empty demo carton, grams

# Built once (building a statement costs more CPU than running it): a shipped order's totes
# are freed in one UPDATE, without loading them.
_FREE_TOTES = (
    update(Tote)
    .where(Tote.order_id == bindparam("b_order"))
    .values(order_id=None, pick_list_id=None, updated_at=bindparam("b_now"))
)


class StationError(FloorError):
    """A refused pack-station call (409 unless the raise says otherwise). Packing and
    shipping refusals reach the packer as one of these, with their code and status."""


@dataclass(frozen=True)
class PackSettings:
    company_prefix: str = "0614141"
    extension_digit: int = 0


def check_station(session: Session, station: str) -> None:
    """Refuse a station code that is not an active pack station (``unknown_station``)."""
    if station_id(session, station) is None:
        raise StationError(
            FulfilmentErrorCode.unknown_station, f"no pack station {station[:40]!r}", 422
        )


def stations(session: Session) -> list[str]:
    return list(
        session.scalars(
            select(Location.code)
            .where(Location.type == LocationType.pack_station, Location.active.is_(True))
            .order_by(Location.code)
        )
    )


# The order a tote holds, by its scanned code (any letter case).
_TOTE_HOLDER = select(Tote.order_id).where(
    func.upper(Tote.code) == bindparam("fo_tote"), Tote.order_id.is_not(None)
)
_TOTE_ORDER = _TOTE_HOLDER.scalar_subquery()
# The order in the tote and the order of that number, in one statement; the tote's first.
_AIM_ID = re.compile(r"^\][A-Za-z][0-9A-Za-z]")  # an AIM symbology identifier at the start
_ORDER_BY_CODE = (
    select(Order)
    .where(or_(Order.id == _TOTE_ORDER, Order.external_id == bindparam("fo_code")))
    .order_by(case((Order.id == _TOTE_ORDER, 0), else_=1))
    .limit(1)
)
_ORDER_LINES = (
    select(OrderLine).where(OrderLine.order_id == bindparam("fo_order")).order_by(OrderLine.id)
)
# PostgreSQL, for a close: the same, the order's row locked and both read as committed.
_ORDER_BY_CODE_LOCKED = _ORDER_BY_CODE.with_for_update(key_share=True, of=Order).execution_options(
    populate_existing=True
)
_ORDER_LINES_NOW = _ORDER_LINES.execution_options(populate_existing=True)


def without_aim_id(code: str) -> str:
    """``code`` without a leading AIM symbology identifier ("]C0T0001" is "T0001"); "" when
    nothing is left, ``code`` itself when it has none."""
    return _AIM_ID.sub("", code, count=1).strip()


def tote_holder(session: Session, code: str) -> int | None:
    """The order held by the tote ``code`` names, as scanned or without its AIM identifier."""
    code = code.strip()
    holder = session.scalar(_TOTE_HOLDER, {"fo_tote": code.upper()})
    if holder is None and (bare := without_aim_id(code)) not in (code, ""):
        holder = session.scalar(_TOTE_HOLDER, {"fo_tote": bare.upper()})
    return holder


def find_order(session: Session, code: str, *, lock: bool = False) -> Order:
    """The order in a tote (scan the tote) or by its external id. ``lock`` (a close): on
    PostgreSQL its row is locked for this transaction (``FOR NO KEY UPDATE``) as it is read, so
    the close checks and writes what is committed (``packages.lock_order``) without reading the
    order and its lines a second time."""
    code = code.strip()
    if not code:
        raise StationError(
            FulfilmentErrorCode.missing_code, "scan a tote or type an order number", 422
        )
    locking = lock and is_postgres(session)
    if locking:
        session.flush()  # this transaction's own changes first: populate_existing discards them
    by_code = _ORDER_BY_CODE_LOCKED if locking else _ORDER_BY_CODE
    order = session.scalar(by_code, {"fo_tote": code.upper(), "fo_code": code})
    if order is None and (bare := without_aim_id(code)) not in (code, ""):
        # A scanner set to send AIM symbology identifiers (as GS1 labels need: "]C1", "]d2")
        # sends a tote's Code 128 as "]C0T0001": the tote is "T0001".
        order = session.scalar(by_code, {"fo_tote": bare.upper(), "fo_code": bare})
    if order is None:
        raise StationError(
            FulfilmentErrorCode.unknown_code, f"{code!r} is neither a tote in use nor an order", 404
        )
    check_packable(order)
    if locking or "lines" not in order.__dict__:
        # Every caller reads the lines: one prebuilt query instead of the lazy loader's, which
        # builds its statement anew each time.
        lines = session.scalars(
            _ORDER_LINES_NOW if locking else _ORDER_LINES, {"fo_order": order.id}
        ).all()
        set_committed_value(order, "lines", list(lines))
    if locking:
        order_locked(session, order)
    return order


def check_packable(order: Order) -> None:
    """Refuse, with the reason, an order a pack station may not pack (anything but picked)."""
    if order.status == OrderStatus.shipped or order.status == OrderStatus.delivered:
        raise StationError(
            FulfilmentErrorCode.already_shipped, f"order {order.external_id} has already shipped"
        )
    if order.status == OrderStatus.canceled:
        raise StationError(
            FulfilmentErrorCode.order_canceled,
            f"order {order.external_id} was canceled: do not pack it; its picked items go back "
            "to stock (tell a supervisor)",
        )
    if order.status == OrderStatus.on_hold:
        raise StationError(
            FulfilmentErrorCode.not_ready,
            f"order {order.external_id} is on hold: it can be packed once the hold is released",
        )
    if order.status != OrderStatus.picked:
        raise StationError(
            FulfilmentErrorCode.not_ready,
            f"order {order.external_id} is {order.status.value}; it can be packed once picked",
        )


def packing_view(session: Session, order: Order) -> dict[str, Any]:
    skus = {
        s.id: s
        for s in session.scalars(select(Sku).where(Sku.id.in_({ln.sku_id for ln in order.lines})))
    }
    gtins: dict[int, list[str]] = {}
    for sku_id, gtin in session.execute(
        select(SkuGtin.sku_id, SkuGtin.gtin).where(SkuGtin.sku_id.in_(skus)).order_by(SkuGtin.id)
    ):
        gtins.setdefault(sku_id, []).append(gtin)
    lines = []
    weight_g = CARTON_TARE_G
    for ln in order.lines:
        to_pack = ln.picked_qty - ln.packed_qty
        if to_pack <= 0:
            continue
        sku = skus[ln.sku_id]
        weight_g += sku.weight_g * to_pack
        lines.append(
            {
                "line_id": ln.line_id,
                "sku": sku.code,
                "name": sku.name,
                "gtins": gtins.get(sku.id, []),
                "to_pack": to_pack,
                "short": ln.short_qty,
            }
        )
    totes = session.scalars(select(Tote.code).where(Tote.order_id == order.id)).all()
    return {
        "order": order.external_id,
        "status": order.status.value,
        "carrier": order.carrier,
        "service": order.service,
        "ship_to": order.ship_to,
        "totes": list(totes),
        "lines": lines,
        "suggested_weight_g": weight_g,
    }


def verify_item(session: Session, order: Order, code: str) -> dict[str, Any]:
    """Which of the order's lines a scanned item belongs to (the page counts it)."""
    sku_id, units = identify_item(session, code)
    if sku_id is not None:
        for ln in order.lines:
            if ln.sku_id == sku_id and ln.picked_qty > ln.packed_qty:
                return {"ok": True, "result": "ok", "line_id": ln.line_id, "units": units}
    if sku_id is not None:
        reason, message = "other_sku", f"{code} is not in order {order.external_id}"
    elif (holder := tote_holder(session, code)) is None:
        reason, message = "unknown_code", f"{code} is not a known item barcode"
    elif holder == order.id:  # the packer scanned the tote again
        reason, message = "tote", f"{code} is this order's tote: scan the items in it"
    else:
        reason, message = "tote", f"{code} holds another order: close {order.external_id} first"
    return {"ok": True, "result": "wrong_item", "reason": reason, "message": message}


def close_package(
    session: Session,
    order: Order,
    *,
    items: Mapping[str, int],
    weight_g: int,
    station: str,
    carrier: CarrierAdapter,
    actor: Actor,
    dims_mm: tuple[int, int, int] = (0, 0, 0),
    settings: PackSettings = PackSettings(),
    close_id: str | None = None,
) -> dict[str, Any]:
    """Pack the verified items into one carton; once everything picked is packed, ship the
    order (tracking number and label per package) and free its totes. ``close_id``: the
    client's name for this close (``earlier_close`` answers a retry of it)."""
    if weight_g <= 0:
        raise StationError(
            FulfilmentErrorCode.invalid_weight, "weigh the carton: weight must be > 0 g", 422
        )
    try:
        [package] = pack_order(
            session,
            order,
            [
                PackSpec(
                    items=dict(items),
                    weight_g=weight_g,
                    length_mm=dims_mm[0],
                    width_mm=dims_mm[1],
                    height_mm=dims_mm[2],
                )
            ],
            station,
            actor,
            company_prefix=settings.company_prefix,
            extension_digit=settings.extension_digit,
            close_id=close_id,
        )
    except PackError as exc:
        # The packer reads one line: the first problem's code and every message (no fields).
        raise StationError(exc.code, exc.message, 422) from exc
    result: dict[str, Any] = {"order": order.external_id, "sscc": package.sscc, "labels": []}
    if order.status == OrderStatus.packed:
        # Every unit packed so far is in this carton: it is the order's only package (each
        # package holds at least one unit, counted in its lines' packed_qty), no query for them.
        in_carton = sum(item.quantity for item in package.items)
        only = sum(line.packed_qty for line in order.lines) == in_carton
        try:
            # Nothing ship_order reads depends on changes not yet flushed (pack_order flushed
            # the package); its changes go out with the commit's flush, not in three autoflushes.
            with session.no_autoflush:
                shipped = ship_order(
                    session, order, carrier, actor, packages=[package] if only else None
                )
        except (ShipError, CarrierError) as exc:
            raise StationError(exc.code, exc.message, exc.http_status) from exc
        # Package n of m, in the order the confirmation lists the order's live packages.
        numbers = {p["sscc"]: n for n, p in enumerate(shipped.confirmation["packages"], 1)}
        for sscc, label in shipped.labels.items():
            # printing/ subscribes to this (one print job per label, in this transaction).
            record(
                session,
                "package.shipped",
                {
                    "sscc": sscc,
                    "package_id": shipped.package_ids.get(sscc),
                    "package_no": numbers.get(sscc),
                    "package_count": len(numbers),
                    "station": station,
                    "order": order.external_id,
                    "label_format": label.format,
                    "label": label.data.decode() if label.format == "zpl" else "",
                },
            )
            result["labels"].append(sscc)
        for tote in [o for o in session.identity_map.values() if isinstance(o, Tote)]:
            if tote.order_id == order.id:
                session.expire(tote)  # the UPDATE below frees it; reload if read again
        session.connection().execute(_FREE_TOTES, {"b_order": order.id, "b_now": utcnow()})
        result["tracking"] = {
            p["sscc"]: p["tracking_number"] for p in shipped.confirmation["packages"]
        }
    result["status"] = order.status.value
    return result


_BY_CLOSE_ID = select(Package).where(Package.close_id == bindparam("ec_close_id"))


def earlier_close(session: Session, close_id: str, order_code: str) -> dict[str, Any] | None:
    """The answer to a close already made under ``close_id`` (a retried request: nothing is
    packed again), as things stand now; None when the id is new. The same id sent for another
    order is refused (``close_id_reused``)."""
    package = session.scalar(_BY_CLOSE_ID, {"ec_close_id": close_id})
    if package is None:
        return None
    order = session.get(Order, package.order_id)
    assert order is not None
    if order_code.strip() != order.external_id:
        raise StationError(
            FulfilmentErrorCode.close_id_reused,
            f"close_id {close_id!r} closed a carton of order {order.external_id}: "
            "send a new close_id with the order number",
            409,
        )
    result: dict[str, Any] = {
        "order": order.external_id,
        "sscc": package.sscc,
        "labels": [],
        "status": order.status.value,
        "replayed": True,
    }
    if order.status in (OrderStatus.shipped, OrderStatus.delivered):
        live = live_packages(session, order)
        result["labels"] = [p.sscc for p in live]
        result["tracking"] = {p.sscc: p.tracking_number for p in live}
    return result

"""A pack station's state on the server: which order is open and what was verified by scan.

The pack page, a second screen at the same station and a serial scanner on the bench all act
on one row per station (``PackSession``), so a reload keeps the verified scans and a scan from
the serial scanner moves the page without anyone touching the keyboard.

* ``open_at(s, station, code)`` opens the order in a tote (or by order number) at the station.
* ``verify_at(s, station, order, code)`` counts one scanned item (or a GTIN's units) against
  the order's picked lines; a unit more than was picked is ``too_many``, nothing counted.
* ``scan_at(s, station, code)`` is "a scan arrived at this station", the same for a code typed
  into the page and a frame from a serial scanner: with nothing open it opens; with an order
  open it verifies, and a code that is no item of the order but opens another order (the next
  tote) switches to it once the open one is fully verified. It never raises for a refused
  scan: the answer carries ``result`` (``ok`` or a reason code) and ``message``.
* ``state(s, station)`` is what the page draws; every change publishes ``pack.state`` to the
  room ``station:<code>`` (sent after the commit by the web layer).

Stations without a row are idle. Calls without a station (the JSON API before stations were
kept) fall back to the stateless behaviour: nothing is stored.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import Session

from core.actors import Actor
from core.db import utcnow
from core.errors import FloorError
from core.events import publish
from floor.fulfilment.errors import FulfilmentErrorCode
from floor.fulfilment.models import PackSession, Scan
from floor.fulfilment.packing.station import (
    StationError,
    check_packable,
    check_station,
    find_order,
    packing_view,
    verify_item,
)
from orders.models import Order
from orders.states import OrderStatus

# Built once (building a statement costs more CPU than running it).
_FINISH = (
    delete(PackSession)
    .where(PackSession.order_id == bindparam("f_order"))
    .returning(PackSession.station)
)


def room(station: str) -> str:
    return f"station:{station}"


def _session_row(s: Session, station: str) -> PackSession | None:
    return s.get(PackSession, station) if station else None


def state(s: Session, station: str) -> dict[str, Any]:
    """The station's open order (server view), units verified per line, and completeness."""
    row = _session_row(s, station)
    order = s.get(Order, row.order_id) if row is not None else None
    if row is None or order is None:
        return _idle(station)
    view = packing_view(s, order)
    scanned = {str(k): int(v) for k, v in (row.items or {}).items()}
    complete = bool(view["lines"]) and all(
        scanned.get(ln["line_id"], 0) >= ln["to_pack"] for ln in view["lines"]
    )
    return {"station": station, "order": view, "scanned": scanned, "complete": complete}


def _idle(station: str) -> dict[str, Any]:
    return {"station": station, "order": None, "scanned": {}, "complete": False}


def _publish(s: Session, station: str, scan: dict[str, Any] | None = None) -> dict[str, Any]:
    body = state(s, station)
    if station:
        publish(s, "pack.state", {**body, "scan": scan}, room(station))
    return body


def open_at(s: Session, station: str, code: str, actor: Actor | None = None) -> dict[str, Any]:
    """Open the order in tote/number ``code`` at ``station`` (replacing what was open)."""
    order = find_order(s, code)
    view = packing_view(s, order)
    if not station:
        return {**view, "scanned": {}}
    row = _session_row(s, station)
    if row is None:
        check_station(s, station)  # a station's first row: only a pack station gets one
        row = PackSession(station=station, order_id=order.id, items={})
        s.add(row)
    elif row.order_id != order.id:
        row.order_id, row.items, row.opened_at = order.id, {}, utcnow()
    row.opened_by = actor.user_id if actor is not None else None
    s.flush()
    body = _publish(
        s, station, {"code": code, "result": "ok", "message": f"order {order.external_id} opened"}
    )
    return {**view, "scanned": body["scanned"]}


def verify_at(s: Session, station: str, order_code: str, code: str) -> dict[str, Any]:
    """Count one scanned item for the order open at ``station`` (stateless without one)."""
    row = _session_row(s, station)
    if row is None and order_code:  # an older client: find the station holding this order
        order = find_order(s, order_code)
        row = s.scalar(select(PackSession).where(PackSession.order_id == order.id))
        station = row.station if row is not None else ""
    elif row is not None:
        order = s.get(Order, row.order_id)
        assert order is not None
        if order_code and find_order(s, order_code).id != order.id:
            raise StationError(
                FulfilmentErrorCode.not_open, f"{order_code} is not the order open at {station}"
            )
    else:
        raise StationError(FulfilmentErrorCode.nothing_open, "scan a tote first")
    answer = verify_item(s, order, code)
    if row is None or answer["result"] != "ok":
        if row is not None:
            body = _publish(s, station, {"code": code, **answer})
            answer = {**answer, "scanned": body["scanned"], "complete": body["complete"]}
        return answer
    view = packing_view(s, order)
    line = next(ln for ln in view["lines"] if ln["line_id"] == answer["line_id"])
    items = {str(k): int(v) for k, v in (row.items or {}).items()}
    n = items.get(line["line_id"], 0) + answer["units"]
    if n > line["to_pack"]:
        answer = {
            "ok": True,
            "result": "too_many",
            "line_id": line["line_id"],
            "message": f"too many: only {line['to_pack']} of {line['sku']}",
        }
    else:
        items[line["line_id"]] = n
        row.items = items  # a new dict: JSON columns notice assignment, not mutation
        answer = {**answer, "message": f"{line['sku']}: {n} of {line['to_pack']}"}
    s.flush()
    body = _publish(s, station, {"code": code, **answer})
    return {**answer, "scanned": body["scanned"], "complete": body["complete"]}


def scan_at(
    s: Session,
    station: str,
    code: str,
    actor: Actor | None = None,
    *,
    source: str = "page",
    raw: str | None = None,
    device_id: int | None = None,
) -> dict[str, Any]:
    """A scan at ``station`` (typed or serial): open, verify or switch; never raises for a
    refused scan. The scan is kept in ``scans`` with its result."""
    code = code.strip()
    row = _session_row(s, station)
    gone = _unpackable(s, row)
    try:
        with s.begin_nested():
            if row is None or gone is not None:
                # Nothing open, or the open order was canceled or held by the OMS meanwhile (its
                # close is refused): the scan opens a tote or order; an item scan hears why the
                # open one cannot be packed. Before, item scans of a canceled order counted, and
                # the next tote was refused ("close X first") - the station was stuck.
                try:
                    view = open_at(s, station, code, actor)
                except FloorError:
                    if gone is None:
                        raise
                    raise gone from None
                answer: dict[str, Any] = {
                    "ok": True,
                    "result": "ok",
                    "kind": "order",
                    "message": f"order {view['order']} opened",
                }
            else:
                answer = {"kind": "item", **verify_at(s, station, "", code)}
                if answer["result"] == "wrong_item" and state(s, station)["complete"]:
                    answer = _next_tote(s, station, code, actor, answer)
    except FloorError as exc:
        answer = {"ok": True, "result": str(exc.code), "kind": "order", "message": exc.message}
        _publish(s, station, {"code": code, **answer})
    _keep(s, station, code if raw is None else raw, answer, actor, source, device_id)
    return {**answer, "station": station}


def _next_tote(
    s: Session, station: str, code: str, actor: Actor | None, refused: dict[str, Any]
) -> dict[str, Any]:
    """The open order is fully checked and ``code`` is none of its items: it opens the next
    tote or order. A known item that opens nothing stays a wrong item, and the packer hears
    what to do (not that it is "neither a tote nor an order")."""
    try:
        view = open_at(s, station, code, actor)
    except FloorError as exc:
        if exc.code != FulfilmentErrorCode.unknown_code or refused.get("reason") != "other_sku":
            raise
        answer = {
            **refused,
            "message": f"{refused['message']}, which is fully checked: close the package, "
            "or scan the next tote",
        }
        _publish(s, station, {"code": code, **answer})
        return answer
    return {"ok": True, "result": "ok", "kind": "order", "message": f"order {view['order']} opened"}


def _unpackable(s: Session, row: PackSession | None) -> FloorError | None:
    """Why the order open at a station can no longer be packed (None when it can)."""
    order = s.get(Order, row.order_id) if row is not None and row.order_id else None
    if order is None or order.status == OrderStatus.picked:
        return None
    try:
        check_packable(order)
    except FloorError as exc:
        return exc
    return None


def _keep(
    s: Session,
    station: str,
    raw: str,
    answer: dict[str, Any],
    actor: Actor | None,
    source: str,
    device_id: int | None,
) -> None:
    s.add(
        Scan(
            client_scan_id=f"{source}:{station}:{uuid.uuid4().hex}"[:64],
            device_id=device_id,
            user_id=actor.user_id if actor is not None else None,
            raw=raw[:500],
            kind=f"pack_{answer.get('kind', 'item')}"[:20],
            result=str(answer["result"])[:30],
            scanned_at=utcnow(),
        )
    )


def finish(s: Session, station: str, order: Order) -> None:
    """The carton is closed and the order shipped: every station that held it is idle again.
    One DELETE, without loading the rows (its work would otherwise autoflush the close's)."""
    for freed in s.connection().scalars(_FINISH, {"f_order": order.id}):
        publish(s, "pack.state", {**_idle(freed), "scan": None}, room(freed))


def stored_items(s: Session, station: str, order: Order) -> dict[str, int] | None:
    """The units verified at ``station`` for ``order``, or None if the station holds no such
    order."""
    row = _session_row(s, station)
    if row is None or row.order_id != order.id:
        return None
    return {str(k): int(v) for k, v in (row.items or {}).items() if int(v) > 0}

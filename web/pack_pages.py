"""The pack station page and its JSON calls (session auth, role packer, CSRF header). A refused
call answers ``{"error": {"code", "message"}}`` with its status (web/errors.py)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, render_template, request
from sqlalchemy.exc import IntegrityError

from core.errors import CoreErrorCode
from core.events import transaction_events
from core.inputs import MAX_QUANTITY, is_request_id, storable
from core.users import Role
from devices.scale import MAX_WEIGHT_G as SCALE_MAX_WEIGHT_G
from floor.fulfilment.errors import FulfilmentErrorCode
from floor.fulfilment.packing import pack_state
from floor.fulfilment.packing.station import (
    PackSettings,
    StationError,
    close_package,
    earlier_close,
    find_order,
    stations,
)
from printing.labels import label_job_id, label_jobs, label_zpl, site_address
from sync.carriers import carrier_for
from web.auth import current_actor, roles_required
from web.context import ctx, uow
from web.errors import register_json_errors

bp = Blueprint("pack", __name__)
register_json_errors(bp, pages=True)


MAX_WEIGHT_G = SCALE_MAX_WEIGHT_G  # a tonne: more is a typo, not a carton (the scale's bound too)
MAX_DIM_MM = 10_000


def _whole(value: Any, low: int, high: int) -> bool:
    """A JSON whole number (not a bool, not a float) in low..high."""
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise StationError(CoreErrorCode.malformed_json, "send a JSON object", 400)
    return body


MAX_FIELD = 200  # a scanned code, a station or an order number (GS1-128 tops out at 48)


def _text(body: dict[str, Any], name: str) -> str:
    """A text field of the body ("" when absent or null); a number, list or object is refused,
    not turned into text; so is text over ``MAX_FIELD`` characters (``too_long``: before, a
    100,000-character "scan" was stored and echoed whole in the answer) or holding NUL."""
    value = body.get(name)
    if value is None:
        return ""
    if not isinstance(value, str) or not storable(value):
        raise StationError(FulfilmentErrorCode.invalid, f"{name} must be text", 422)
    if len(value) > MAX_FIELD:
        raise StationError(
            FulfilmentErrorCode.too_long, f"{name} is longer than {MAX_FIELD} characters", 422
        )
    return value


@bp.get("/pack")
@roles_required(Role.packer)
def page() -> Any:
    with uow() as s:
        codes = stations(s)
    return render_template("pack.html", stations=codes)


def _scale(station: str) -> dict[str, Any] | None:
    hub = ctx().devices
    return hub.scale_weight(station) if hub is not None and station else None


@bp.get("/pack/state")
@roles_required(Role.packer)
def station_state() -> Any:
    """What the station shows now (the page loads it, so a reload keeps the verified scans)."""
    station = request.args.get("station", "")
    with uow() as s:
        body = pack_state.state(s, station)
    return jsonify({**body, "scale": _scale(station)})


@bp.post("/pack/scan")
@roles_required(Role.packer)
def scan() -> Any:
    """A scan typed at the station: the same service a serial scanner's frames go to."""
    body = _body()
    with uow() as s:
        return jsonify(
            pack_state.scan_at(s, _text(body, "station"), _text(body, "code"), current_actor())
        )


@bp.post("/pack/open")
@roles_required(Role.packer)
def open_order() -> Any:
    body = _body()
    with uow() as s:
        return jsonify(
            pack_state.open_at(s, _text(body, "station"), _text(body, "code"), current_actor())
        )


@bp.post("/pack/verify")
@roles_required(Role.packer)
def verify() -> Any:
    body = _body()
    with uow() as s:
        return jsonify(
            pack_state.verify_at(
                s,
                _text(body, "station"),
                _text(body, "order"),
                _text(body, "code"),
            )
        )


@bp.post("/pack/close")
@roles_required(Role.packer)
def close() -> Any:
    body = _body()
    station = _text(body, "station")
    order_code = _text(body, "order")
    items = body.get("items")
    if items is not None and (
        not isinstance(items, dict) or not all(_whole(q, 0, MAX_QUANTITY) for q in items.values())
    ):
        raise StationError(
            FulfilmentErrorCode.invalid_items,
            f"items must map line ids to whole numbers 0..{MAX_QUANTITY}",
            422,
        )
    dims = body.get("dims_mm") or [0, 0, 0]
    weight = body.get("weight_g")
    if weight is None:
        weight = _scale_grams(station)  # nothing typed: the station's stable scale weight
    if not _whole(weight, 0, MAX_WEIGHT_G):
        raise StationError(
            FulfilmentErrorCode.invalid_weight,
            f"weight_g must be a whole number of grams 0..{MAX_WEIGHT_G}",
            422,
        )
    if not (
        isinstance(dims, list) and len(dims) == 3 and all(_whole(d, 0, MAX_DIM_MM) for d in dims)
    ):
        raise StationError(
            FulfilmentErrorCode.invalid_dimensions,
            f"dims_mm must be [length, width, height], each 0..{MAX_DIM_MM}",
            422,
        )
    close_id = _close_id(body)
    try:
        with uow() as s:
            if close_id is not None and (earlier := _earlier(s, close_id, order_code)):
                return jsonify(earlier), 200  # a retry: answered, nothing packed again
            result, events = _close(s, order_code, station, items, weight, dims, close_id)
    except IntegrityError:
        if close_id is None:
            raise
        with uow() as s:  # a request racing this one committed the same close_id first
            earlier = _earlier(s, close_id, order_code)
        if earlier is None:
            raise
        return jsonify(earlier), 200
    # Committed: the label jobs exist (or not, with no printer at the station). Their views as
    # the transaction published them (the last one per job), not read back.
    wanted = [label_job_id(sscc) for sscc in result["labels"]]
    views = {e.data["job_id"]: e.data for e in events if e.name == "print.job"}
    result["print_jobs"] = [views[job_id] for job_id in wanted if job_id in views]
    return jsonify(result), 201


def _scale_grams(station: str) -> int:
    """The stable weight on the station's scale, for a close that typed none; refused with
    the reason when there is none (no scale, offline, moving, overload, error)."""
    scale = _scale(station)
    if scale is None:
        raise StationError(
            FulfilmentErrorCode.invalid_weight,
            f"no scale at {station or 'this station'}: type the carton's weight (weight_g, "
            f"whole grams 1..{MAX_WEIGHT_G})",
            422,
        )
    if scale["stable_grams"] is not None:
        return int(scale["stable_grams"])
    if not scale["online"]:
        why = "the scale is offline"
    elif scale.get("error"):
        why = f"the scale reports {scale['error']}: {scale.get('error_message') or ''}".rstrip(": ")
    elif scale["grams"] is not None:
        why = "the scale is still moving"
    else:
        why = "the scale has sent no weight yet"
    raise StationError(
        FulfilmentErrorCode.no_stable_weight,
        f"the scale at {station} has no stable weight ({why}): wait for a stable reading "
        "or type the weight",
        422,
    )


def _close_id(body: dict[str, Any]) -> str | None:
    """The client's name for this close (optional): 1-64 characters, letters, digits, ``-``."""
    value = body.get("close_id")
    if value is None:
        return None
    if not is_request_id(value):
        raise StationError(
            FulfilmentErrorCode.invalid, "close_id is 1-64 letters, digits, '-' or '_'", 422
        )
    return value


def _earlier(s: Any, close_id: str, order_code: str) -> dict[str, Any] | None:
    earlier = earlier_close(s, close_id, order_code)
    if earlier is not None:
        earlier["print_jobs"] = label_jobs(s, earlier["labels"])
    return earlier


def _close(
    s: Any,
    order_code: str,
    station: str,
    items: Any,
    weight: int,
    dims: list[int],
    close_id: str | None,
) -> tuple[dict[str, Any], list[Any]]:
    """The close itself, in the request's transaction; its answer and the events it recorded."""
    settings = ctx().settings
    actor = current_actor()
    assert actor is not None
    events = transaction_events(s)
    order = find_order(s, order_code, lock=True)
    if items is None:
        items = pack_state.stored_items(s, station, order)
        if items is None:
            raise StationError(
                FulfilmentErrorCode.invalid_items, f"nothing verified at {station!r}", 422
            )
    result = close_package(
        s,
        order,
        items=items,
        weight_g=weight,
        station=station,
        carrier=carrier_for(order.carrier, settings),
        actor=actor,
        dims_mm=(dims[0], dims[1], dims[2]),
        settings=PackSettings(settings.gs1_company_prefix, settings.sscc_extension_digit),
        close_id=close_id,
    )
    pack_state.finish(s, station, order)
    return result, events


@bp.get("/pack/labels/<sscc>.zpl")
@roles_required(Role.packer)
def label(sscc: str) -> Any:
    with uow() as s:
        zpl = label_zpl(s, sscc, site_address(ctx().settings.site_address))
    if zpl is None:
        raise StationError(CoreErrorCode.not_found, f"no label for {sscc}", 404)
    return Response(
        zpl,
        mimetype="application/zpl",
        headers={"Content-Disposition": f'inline; filename="{sscc}.zpl"'},
    )

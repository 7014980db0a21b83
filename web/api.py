"""The OMS integration API, ``/api/v1`` (documented in docs/api.md; OpenAPI 3.1 document at
``/api/v1/openapi.json``, built in web/openapi.py).

Every route needs ``Authorization: Bearer <key>``; the key is checked and never logged. Every
answer is JSON, errors included (web/errors.py renders every ``FloorError``): 422
``{"errors": [{code, field, message}]}`` for invalid input, ``{"error": {code, message}}`` for
everything else. Routes are thin: the work is in
orders/service.py, orders/csv_import.py and floor/reservation.py.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import gc
import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from flask import Blueprint, current_app, g, jsonify, request
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from core.accounts import find_api_key, touch_api_key
from core.errors import CoreErrorCode, FieldError, FloorError, Invalid
from core.inputs import MAX_ID, InputError, check_text, parse_int
from floor.fulfilment.order_views import list_orders, order_view, order_views
from floor.fulfilment.picking.cancellation import cancel_order
from floor.fulfilment.picking.holds import release_hold
from floor.site.reservation import available_to_promise
from orders import csv_import
from orders.errors import IntakeFieldCode, OrderErrorCode
from orders.intake import parse_datetime, storable
from orders.outbox import OutboxEvent, event_cursor, event_json
from orders.service import (
    CONFLICT,
    CREATED,
    INVALID,
    MAX_BATCH,
    UNCHANGED,
    IntakeResult,
    create_orders,
    hold_order,
    load_order,
)
from orders.states import OrderStatus
from web.context import ctx, reading, uow
from web.errors import WebErrorCode, from_http, json_error, register_json_errors

bp = Blueprint("api", __name__, url_prefix="/api/v1")
CSRF_EXEMPT = True
log = logging.getLogger(__name__)

INTAKE_ATTEMPTS = 3
PUBLIC_ENDPOINTS = frozenset({"api.openapi"})


# --- errors: nothing under /api/v1 answers HTML ---------------------------------------------
# The shared handlers (web/errors.py) answer every FloorError, HTTP error and unexpected error;
# the API overrides two of them for its headers and adds the busy database.

register_json_errors(bp, csrf=False)


@bp.errorhandler(FloorError)
def _floor_error(exc: FloorError) -> Any:
    resp, status = json_error(exc)
    if status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="floor"'
    return resp, status


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Any:
    err = from_http(exc)
    if err.http_status == 413:
        err.message = f"the body is larger than {current_app.config['MAX_CONTENT_LENGTH']} bytes"
    resp, status = json_error(err)
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        resp.headers["Allow"] = ", ".join(sorted(exc.valid_methods))
    return resp, status


@bp.errorhandler(OperationalError)
def _database_busy(exc: OperationalError) -> Any:
    log.warning("database unavailable: %s", type(exc.orig).__name__)
    busy = FloorError(CoreErrorCode.unavailable, "the database is busy or unreachable; retry", 503)
    resp, status = json_error(busy)
    resp.headers["Retry-After"] = "1"
    return resp, status


@bp.route(
    "/<path:_anything>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], endpoint="no_route"
)
def _no_route(_anything: str) -> Any:
    """Unknown paths and methods under /api/v1 answer JSON 404/405, not Flask's HTML."""
    adapter = current_app.url_map.bind_to_environ(request.environ)
    allowed = set()
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        try:
            endpoint, _ = adapter.match(method=method)
        except HTTPException:
            continue
        if endpoint != "api.no_route":
            allowed.add(method)
    if allowed:
        raise MethodNotAllowed(valid_methods=sorted(allowed))
    raise NotFound(f"no such resource: {request.path}")


# --- authentication ---------------------------------------------------------------------------


@bp.before_request
def _authenticate() -> None:
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    key = key.strip()
    actor = None
    if scheme.lower() == "bearer" and key:
        # A read: a flood of wrong keys never queues at SQLite's writer lock with the floor.
        with reading() as s:
            actor, stale = find_api_key(s, key, ctx().settings.oms_api_key or None)
        if stale is not None:  # a stored key's "last used", at most once a minute
            with uow() as s:
                touch_api_key(s, stale)
    if actor is None:
        raise FloorError(
            CoreErrorCode.unauthorized,
            "send a valid API key as 'Authorization: Bearer <key>'",
            401,
        )
    g.actor = actor


# --- request helpers --------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def json_body(*, optional: bool = False) -> Any:
    """The request's JSON (400 malformed_json, 413 too large, 415 not JSON)."""
    raw = request.get_data(cache=True)  # raises 413 above MAX_CONTENT_LENGTH
    if optional and not raw.strip():
        return None
    mimetype = request.mimetype
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise FloorError(
            CoreErrorCode.unsupported_media_type, "send Content-Type: application/json", 415
        )
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise FloorError(
            CoreErrorCode.malformed_json, f"the body is not valid JSON: {exc}", 400
        ) from None


def _int_arg(name: str, default: int, low: int, high: int, errors: list[FieldError]) -> int:
    """A whole-number query parameter in low..high (``invalid_limit``: ``limit`` is the only
    one so far)."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        return parse_int(raw, name, low=low, high=high)
    except InputError:
        errors.append(FieldError(WebErrorCode.invalid_limit, name, f"{name} must be {low}..{high}"))
        return default


def _encode_cursor(at: dt.datetime, order_id: int) -> str:
    raw = json.dumps([at.isoformat(), order_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[dt.datetime, int] | None:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at_text, order_id = json.loads(raw)
        at = parse_datetime(at_text)
        if at is None or not isinstance(order_id, int) or isinstance(order_id, bool):
            return None
        if not 0 <= order_id <= MAX_ID:  # an id we never gave out, and beyond 64 bits
            return None
        return at, order_id
    except (ValueError, TypeError, RecursionError, binascii.Error):
        return None


def _reason_arg() -> str:
    body = json_body(optional=True)
    if body is None:
        return ""
    if not isinstance(body, dict):
        raise Invalid([FieldError(IntakeFieldCode.invalid_type, "", "the body is a JSON object")])
    reason = body.get("reason", "")
    if reason is None:
        return ""
    if not isinstance(reason, str):
        raise Invalid(
            [FieldError(IntakeFieldCode.invalid_type, "reason", "reason must be a string")]
        )
    # 422 invalid_characters (NUL or unpaired surrogates) or too_long, as in intake
    return check_text(reason, "reason", max_len=500).strip()


# --- orders -----------------------------------------------------------------------------------


class _GcPause:
    """Pause the cyclic garbage collector while a batch is processed (re-enabled when the last
    concurrent batch ends). A 1,000-order batch allocates ~100k short-lived containers; full
    collections over them cost ~15-20 % of the batch's CPU (bench/bench_api.py). Reference
    counting still frees everything acyclic; cycles are collected right after."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._was_enabled = True

    def __enter__(self) -> None:
        with self._lock:
            if self._depth == 0:
                self._was_enabled = gc.isenabled()
                gc.disable()
            self._depth += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth == 0 and self._was_enabled:
                gc.enable()


gc_paused = _GcPause()


def with_gc_paused(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        with gc_paused:
            return view(*args, **kwargs)

    return wrapped


def _retrying(work: Callable[[Session], Any]) -> Any:
    """Run ``work`` in one transaction; a unique-key race (another writer inserted the same
    external id first) rolls back and runs it again, which then answers 200 or 409."""
    for attempt in range(1, INTAKE_ATTEMPTS + 1):
        try:
            with uow() as s:
                return work(s)
        except IntegrityError:
            if attempt == INTAKE_ATTEMPTS:
                raise
            log.info("intake raced another writer; retrying (attempt %d)", attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def _conflict_error(external_id: str | None) -> FloorError:
    return FloorError(
        OrderErrorCode.external_id_conflict,
        f"order {external_id} was already received with different content",
    )


@bp.post("/orders")
def create() -> Any:
    payload = json_body()

    def work(s: Session) -> Any:
        [r] = create_orders(s, [payload], g.actor)
        if r.outcome == INVALID:
            raise Invalid(r.errors)
        if r.outcome == CONFLICT:
            return json_error(_conflict_error(r.external_id))
        order = load_order(s, r.external_id or "")
        return jsonify(order_view(s, order)), r.http_status

    return _retrying(work)


def _result_json(r: IntakeResult) -> dict[str, Any]:
    out: dict[str, Any] = {
        "index": r.index,
        "external_id": r.external_id,
        "outcome": r.outcome,
        "http_status": r.http_status,
        "status": r.order_status,
    }
    if r.outcome == INVALID:
        out["errors"] = [e.as_dict() for e in r.errors]
    elif r.outcome == CONFLICT:
        out["error"] = _conflict_error(r.external_id).error_body()
    if r.missing:
        out["missing"] = r.missing
    return out


@bp.post("/orders/batch")
@with_gc_paused
def create_batch() -> Any:
    body = json_body()
    orders = body.get("orders") if isinstance(body, dict) else body
    if not isinstance(orders, list):
        raise Invalid(
            [FieldError(IntakeFieldCode.invalid_type, "orders", 'send {"orders": [order, ...]}')]
        )
    if len(orders) > MAX_BATCH:
        raise Invalid(
            [
                FieldError(
                    IntakeFieldCode.too_many_orders,
                    "orders",
                    f"at most {MAX_BATCH} orders per batch",
                )
            ]
        )

    def work(s: Session) -> Any:
        results = create_orders(s, orders, g.actor)
        summary = {k: 0 for k in (CREATED, UNCHANGED, CONFLICT, INVALID)}
        for r in results:
            summary[r.outcome] += 1
        return jsonify(results=[_result_json(r) for r in results], summary=summary), 200

    return _retrying(work)


@bp.post("/orders/import")
@with_gc_paused
def import_orders() -> Any:
    upload = request.files.get("file") if request.mimetype == "multipart/form-data" else None
    if upload is not None:
        data = upload.read()
    elif request.mimetype in ("text/csv", "text/plain", "application/csv"):
        data = request.get_data()
    else:
        raise FloorError(
            CoreErrorCode.unsupported_media_type,
            "send the CSV as Content-Type: text/csv, or multipart/form-data with a 'file' part",
            415,
        )
    text = csv_import.decode(data)  # CsvFileError: 422 with its row errors
    return _retrying(lambda s: jsonify(csv_import.import_csv(s, text, g.actor).as_dict()))


@bp.get("/orders/<external_id>")
def get_order(external_id: str) -> Any:
    with uow() as s:
        return jsonify(order_view(s, load_order(s, external_id)))


@bp.get("/orders")
def list_all() -> Any:
    errors: list[FieldError] = []
    statuses: list[OrderStatus] = []
    for raw in request.args.getlist("status"):
        for name in filter(None, (part.strip() for part in raw.split(","))):
            if name in OrderStatus.__members__:
                statuses.append(OrderStatus(name))
            else:
                errors.append(
                    FieldError(
                        WebErrorCode.invalid_status, "status", f"unknown order status {name!r}"
                    )
                )
    since = None
    if request.args.get("updated_since"):
        since = parse_datetime(request.args["updated_since"])
        if since is None:
            errors.append(
                FieldError(
                    IntakeFieldCode.invalid_datetime,
                    "updated_since",
                    "updated_since must be ISO 8601 with an offset",
                )
            )
    limit = _int_arg("limit", 100, 1, 500, errors)
    after = None
    if request.args.get("cursor"):
        after = _decode_cursor(request.args["cursor"])
        if after is None:
            errors.append(
                FieldError(WebErrorCode.invalid_cursor, "cursor", "cursor is not one we gave out")
            )
    if errors:
        raise Invalid(errors)
    with uow() as s:
        rows, position = list_orders(
            s, statuses=statuses, updated_since=since, after=after, limit=limit
        )
        views = order_views(s, rows)
    return jsonify(orders=views, next_cursor=_encode_cursor(*position) if position else None)


def _action(fn: Callable[..., Any], external_id: str) -> Any:
    reason = _reason_arg()
    with uow() as s:
        order = fn(s, external_id, g.actor, reason)
        s.flush()
        return jsonify(order_view(s, order))


@bp.post("/orders/<external_id>/cancel")
def cancel(external_id: str) -> Any:
    return _action(cancel_order, external_id)


@bp.post("/orders/<external_id>/hold")
def hold(external_id: str) -> Any:
    return _action(hold_order, external_id)


@bp.post("/orders/<external_id>/release")
def release(external_id: str) -> Any:
    return _action(release_hold, external_id)


# --- events feed and inventory ----------------------------------------------------------------


@bp.get("/events")
def events() -> Any:
    errors: list[FieldError] = []
    try:
        after: int | None = parse_int(request.args.get("after", "") or "0", "after", low=0)
    except InputError:
        after = None
    if after is None:
        errors.append(
            FieldError(WebErrorCode.invalid_cursor, "after", "after must be a cursor we gave out")
        )
    limit = _int_arg("limit", 100, 1, 1000, errors)
    if errors:
        raise Invalid(errors)
    with uow() as s:
        rows = list(
            s.scalars(
                select(OutboxEvent)
                .where(OutboxEvent.id > after)
                .order_by(OutboxEvent.id)
                .limit(limit + 1)
            )
        )
        if not rows and after and after > (s.scalar(select(func.max(OutboxEvent.id))) or 0):
            # Not a cursor we gave out (a restored or rebuilt database, say): echoing it back
            # would skip every event up to it without a word.
            raise Invalid(
                [
                    FieldError(
                        WebErrorCode.invalid_cursor,
                        "after",
                        f"after={after} is beyond the last event of this feed: not a cursor it "
                        "gave out (a restored or rebuilt database?); resync from the start",
                    )
                ]
            )
    more = len(rows) > limit
    rows = rows[:limit]
    return jsonify(
        events=[event_json(ev) for ev in rows],
        next_cursor=event_cursor(rows[-1]) if rows else str(after),
        has_more=more,
    )


@bp.get("/inventory")
def inventory() -> Any:
    wanted = [
        code.strip()
        for raw in request.args.getlist("sku")
        for code in raw.split(",")
        if code.strip()
    ]
    with uow() as s:
        atp = available_to_promise(s, [c for c in wanted if storable(c)] if wanted else None)
    return jsonify(
        inventory=[{"sku": code, "available": qty} for code, qty in atp.items()],
        unknown_skus=[code for code in dict.fromkeys(wanted) if code not in atp],
        as_of=dt.datetime.now(dt.UTC).isoformat(),
    )


@bp.get("/openapi.json")
def openapi() -> Any:
    from web.openapi import spec

    return jsonify(spec())

"""The request side of the input layer (the pure checks are core/inputs.py).

``install(app)`` puts a floor under every request, before any handler runs:

- **Path ids**: the ``int`` URL converter is replaced by ``BoundedIntConverter`` (``1..2**63-1``,
  ASCII digits — Werkzeug's own converter accepts any length and lets ``int()`` read it), so
  ``/waves/99999999999999999999`` is a 404, not an ``OverflowError`` in the database driver.
- **Query parameters and form fields**: no NUL or unpaired surrogate, at most
  ``MAX_ARG``/``MAX_FORM`` characters (the OMS API under ``/api/v1/`` checks its own, with the
  reason codes of its documented contract).
- **JSON bodies** (outside ``/api/v1/``): every string storable, every number within 64 bits,
  nesting bounded (``core.inputs.check_json``). Handlers still check their own fields' ranges.
- **Errors on JSON surfaces**: a 404/405 decided by routing (no blueprint yet) answers JSON when
  the caller wants JSON (``web.errors.wants_json``), never an HTML page.

A refusal answers 400 with ``{"errors": [{"code", "field", "message"}]}`` to callers that want
JSON and Flask's 400 page to a browser form. ``arg_int``/``arg_id`` read one query parameter.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, abort, request, session
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter, Map

from core.errors import FloorError
from core.inputs import MAX_ID, InputError, InputErrorCode, check_json, check_text, parse_int
from web.errors import from_http, json_error, wants_json

MAX_ARG = 2_000  # one query-parameter value
MAX_FORM = 20_000  # one form field (a resolution note, a reason)
SELF_CHECKED = "/api/v1/"  # the OMS API validates its own input (docs/api.md)


class BoundedIntConverter(IntegerConverter):
    """``<int:...>`` limited to ``1..2**63-1`` and at most 19 ASCII digits."""

    regex = r"[0-9]{1,19}"

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min", 1)
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def arg_int(name: str, default: int | None, *, low: int, high: int) -> int | None:
    """A whole-number query parameter in ``low..high``; ``default`` when absent or empty."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    return parse_int(raw, name, low=low, high=high, status=400)


def arg_text(name: str, default: str = "", *, max_len: int = 200) -> str:
    """A text query parameter: storable, at most ``max_len`` characters."""
    raw = request.args.get(name)
    if raw is None:
        return default
    return check_text(raw, name, max_len=max_len, status=400)


def _refuse(exc: InputError) -> Any:
    if wants_json():
        return json_error(exc)
    abort(400, description=exc.message)


def _check_request() -> Any:
    if request.path.startswith(SELF_CHECKED):
        return None
    try:
        for source, limit in ((request.args, MAX_ARG), (request.form, MAX_FORM)):
            for key, values in source.lists():
                check_text(key, "parameter name", max_len=200, status=400)
                for value in values:
                    check_text(value, key, max_len=limit, status=400)
        if request.is_json:
            try:
                body = request.get_json(silent=True)
            except RecursionError:  # the decoder's own limit, before check_json's
                raise InputError(
                    InputErrorCode.too_deep, "body", "the JSON is nested too deeply", 400
                ) from None
            if body is not None:
                check_json(body, status=400)
    except InputError as exc:
        return _refuse(exc)
    return None


def _routing_error(exc: HTTPException) -> Any:
    """404/405 decided before any blueprint: JSON to callers that want JSON."""
    if wants_json():
        return json_error(from_http(exc))
    return exc


def _floor_error(exc: FloorError) -> Any:
    """A refusal raised where no blueprint handler answers (a page's query parameter): JSON to
    callers that want JSON, else a plain page with the same status."""
    if wants_json():
        return json_error(exc)
    return Response(exc.message, exc.http_status, mimetype="text/plain")


MAX_FLASH = 300  # characters of one on-screen message kept in the session cookie


def _short_flashes(response: Response) -> Response:
    """Messages for the next page travel in the signed session cookie, and many quote what was
    typed: a 15,000-character carrier name made a 15 KB cookie, which browsers drop (the
    packer or supervisor is then logged out). Each message is cut to ``MAX_FLASH``."""
    flashes = session.get("_flashes") if session else None
    if flashes and any(len(message) > MAX_FLASH for _, message in flashes):
        session["_flashes"] = [
            (category, m if len(m) <= MAX_FLASH else m[: MAX_FLASH - 3] + "...")
            for category, m in flashes
        ]
    return response


def install(app: Flask) -> None:
    """Call before the blueprints are registered (their rules pick the converter up then)."""
    app.url_map.converters["int"] = BoundedIntConverter
    app.before_request(_check_request)
    app.after_request(_short_flashes)
    app.register_error_handler(HTTPException, _routing_error)
    app.register_error_handler(FloorError, _floor_error)

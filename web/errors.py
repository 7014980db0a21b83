"""Errors on the wire: one JSON answer for every surface, one error ack for every socket handler.

The domain raises ``core.errors.FloorError`` (code, HTTP status, message, optional fields); this
module is the only place that turns a raise into an answer:

- ``register_json_errors(bp)``: the JSON error handlers of a blueprint. Used by the OMS API
  (web/api.py, which adds its 401 header and the 503 for a busy database), the supervisor JSON
  API (web/waves_api.py), the pack station (web/pack_pages.py) and the JSON routes of the sync
  pages (web/sync_pages.py). Every refusal answers ``FloorError.to_json()`` with its status:
  ``{"error": {"code", "message"}}``, or ``{"errors": [{"code", "field", "message"}, ...]}`` when
  fields are named (the OMS API contract, docs/api.md). A Werkzeug HTTP error answers the same
  shape with a generic code (``not_found``, ``method_not_allowed`` ...). Anything unexpected is
  logged with its traceback and answers 500 ``internal_error`` (HTML pages keep Flask's page).
- ``socket_ack(handler)``: wraps a Socket.IO handler so that a ``FloorError`` becomes the ack
  ``{"ok": false, "error": {"code", "message"}}`` and an unexpected exception is logged and
  becomes ``internal_error``: a handheld is never left waiting for an answer.
"""

from __future__ import annotations

import enum
import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, Response, jsonify, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from core.errors import CoreErrorCode, FloorError

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])


class WebErrorCode(enum.StrEnum):
    """Codes for what the web layer itself checks (query parameters, request payloads)."""

    csrf_failed = "csrf_failed"
    invalid_api_key = "invalid_api_key"
    invalid_value = "invalid_value"
    invalid_body = "invalid_body"
    invalid_status = "invalid_status"
    invalid_limit = "invalid_limit"
    invalid_cursor = "invalid_cursor"
    # office documents
    invalid_prefix = "invalid_prefix"
    no_users = "no_users"
    # the handheld's socket payloads (docs/picking.md)
    invalid_payload = "invalid_payload"
    invalid_code = "invalid_code"
    invalid_scanned_at = "invalid_scanned_at"


HTTP_CODES: dict[int, CoreErrorCode] = {
    400: CoreErrorCode.bad_request,
    401: CoreErrorCode.unauthorized,
    403: CoreErrorCode.forbidden,
    404: CoreErrorCode.not_found,
    405: CoreErrorCode.method_not_allowed,
    409: CoreErrorCode.conflict,
    413: CoreErrorCode.payload_too_large,
    415: CoreErrorCode.unsupported_media_type,
    422: CoreErrorCode.invalid,
    503: CoreErrorCode.unavailable,
}
UNEXPECTED_MESSAGE = "unexpected error; it has been logged"


def json_error(exc: FloorError) -> tuple[Response, int]:
    """The one JSON rendering of a refusal: ``exc.to_json()`` with ``exc.http_status``."""
    return jsonify(exc.to_json()), exc.http_status


def from_http(exc: HTTPException) -> FloorError:
    """A Werkzeug HTTP error (404, 405, 413 ...) as a FloorError with a generic code. A status
    without a code of its own keeps ``http_<status>`` (a str: Werkzeug's vocabulary)."""
    status = exc.code or 500
    code = HTTP_CODES.get(status)
    message = exc.description or exc.name
    err = FloorError(code, message, status)
    if code is None:
        err.code = f"http_{status}"  # type: ignore[assignment]
    return err


def wants_json() -> bool:
    """True for calls made by code (JSON body or Accept, or under /api/), false for pages."""
    return (
        request.is_json
        or request.accept_mimetypes.best == "application/json"
        or request.path.startswith("/api/")
    )


def _floor_error(exc: FloorError) -> Any:
    return json_error(exc)


def _csrf(exc: CSRFError) -> Any:
    message = exc.description or "CSRF token missing or invalid"
    return json_error(FloorError(WebErrorCode.csrf_failed, message, 400))


def _csrf_on_a_page(exc: CSRFError) -> Any:
    """A browser form gets Flask's 400 page (a CSRFError is a BadRequest); code gets JSON."""
    return _csrf(exc) if wants_json() else exc


def _http_error(exc: HTTPException) -> Any:
    return json_error(from_http(exc))


def _internal_error(exc: Exception) -> Any:
    log.exception("unexpected error on %s %s", request.method, request.path)
    return json_error(FloorError(CoreErrorCode.internal_error, UNEXPECTED_MESSAGE, 500))


def _unexpected_on_a_page(exc: Exception) -> Any:
    if isinstance(exc, HTTPException):  # Werkzeug's own page for 404, 405 ... to a browser
        return _http_error(exc) if wants_json() else exc
    if not wants_json():
        log.exception("unexpected error on %s %s", request.method, request.path)
        return InternalServerError(original_exception=exc)
    return _internal_error(exc)


def register_json_errors(bp: Blueprint, *, pages: bool = False, csrf: bool = True) -> None:
    """The JSON error handlers of one surface. ``pages=True`` for a blueprint that also serves
    HTML pages and forms: HTTP errors, crashes and a form without its CSRF token keep Flask's
    HTML answers, only calls made by code (``wants_json``) get JSON. ``csrf=False`` leaves a
    missing CSRF token to Flask's 400 page (the OMS API is CSRF-exempt; HTML forms)."""
    bp.register_error_handler(FloorError, _floor_error)
    if csrf:
        bp.register_error_handler(CSRFError, _csrf_on_a_page if pages else _csrf)
    if pages:
        bp.register_error_handler(Exception, _unexpected_on_a_page)
    else:
        bp.register_error_handler(HTTPException, _http_error)
        bp.register_error_handler(Exception, _internal_error)


def error_ack(exc: FloorError) -> dict[str, Any]:
    """A refused Socket.IO call's ack."""
    return {"ok": False, "error": exc.error_body()}


def socket_ack(handler: F) -> F:
    """Every Socket.IO handler answers: a FloorError (raised by the handler, a service it calls,
    or the role guard) becomes an error ack; anything else is logged and becomes
    ``internal_error``. Transactions opened inside the handler have rolled back by then."""

    @functools.wraps(handler)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return handler(*args, **kwargs)
        except FloorError as exc:
            return error_ack(exc)
        except Exception:
            log.exception("unexpected error in socket handler %s", handler.__name__)
            return error_ack(FloorError(CoreErrorCode.internal_error, UNEXPECTED_MESSAGE, 500))

    return wrapped  # type: ignore[return-value]

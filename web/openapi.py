"""The OpenAPI 3.1 document of ``/api/v1``, as data kept next to the routes (web/api.py).

tests/api/test_openapi.py checks that every route of the blueprint is here, that the document is
valid OpenAPI, and validates the contract tests' real responses against these schemas. Response
schemas are closed (``additionalProperties: false``) so that a field added to a response without
being documented fails those tests.
"""

from __future__ import annotations

from typing import Any

from core import __version__
from core.errors import CoreErrorCode
from orders import carriers
from orders.errors import CSV_FILE_CODES, IntakeFieldCode, OrderErrorCode
from orders.intake import MAX_LINES, MAX_QUANTITY
from orders.service import MAX_BATCH
from orders.states import OrderStatus
from web.errors import WebErrorCode

# Reason codes of a 422 (docs/api.md "Reason codes"): the enums the code raises, so the document
# cannot drift from them.
REASON_CODES = [c.value for c in IntakeFieldCode if c not in CSV_FILE_CODES] + [
    WebErrorCode.invalid_status.value,
    WebErrorCode.invalid_limit.value,
    WebErrorCode.invalid_cursor.value,
]
CSV_CODES = [c.value for c in IntakeFieldCode if c in CSV_FILE_CODES]
ERROR_CODES = [
    c.value
    for c in (
        CoreErrorCode.malformed_json,
        CoreErrorCode.unauthorized,
        CoreErrorCode.not_found,
        CoreErrorCode.method_not_allowed,
        OrderErrorCode.external_id_conflict,
        OrderErrorCode.already_shipped,
        CoreErrorCode.invalid_transition,
        CoreErrorCode.payload_too_large,
        CoreErrorCode.unsupported_media_type,
        CoreErrorCode.unavailable,
        CoreErrorCode.internal_error,
    )
]
STATUSES = [s.value for s in OrderStatus]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(props: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": props,
        "required": list(props) if required is None else required,
        "additionalProperties": False,
    }


STR = {"type": "string"}
NSTR = {"type": ["string", "null"]}
INT0 = {"type": "integer", "minimum": 0}
TIME = {"type": "string", "format": "date-time"}
NTIME = {"type": ["string", "null"], "format": "date-time"}


def _schemas() -> dict[str, Any]:
    ship_to_in = {
        "type": "object",
        "required": ["name", "address1", "city", "postal_code", "country"],
        "properties": {
            "name": {"type": "string", "maxLength": 200},
            "company": {"type": "string", "maxLength": 200},
            "address1": {"type": "string", "maxLength": 200},
            "address2": {"type": "string", "maxLength": 200},
            "city": {"type": "string", "maxLength": 100},
            "region": {"type": "string", "maxLength": 100},
            "postal_code": {
                "type": "string",
                "maxLength": 20,
                "description": "optional for countries without postal codes (e.g. HK, AE)",
            },
            "country": {
                "type": "string",
                "description": "ISO 3166-1 alpha-2 (any case)",
                "example": "US",
            },
            "phone": {"type": "string", "maxLength": 40},
            "email": {"type": "string", "maxLength": 254},
        },
    }
    return {
        "OrderInput": {
            "type": "object",
            "description": "One canonical order. Unknown fields are ignored. Strings are "
            "trimmed; carrier, service, priority and country are case-insensitive.",
            "required": ["external_id", "ship_by", "carrier", "ship_to", "lines"],
            "properties": {
                "external_id": {
                    "type": ["string", "integer"],
                    "maxLength": 100,
                    "description": "the OMS's id; no '/' or control characters",
                },
                "channel": {"type": "string", "maxLength": 60},
                "priority": {"type": "string", "enum": ["standard", "express"]},
                "ship_by": {
                    "type": "string",
                    "format": "date-time",
                    "description": "ISO 8601 with an offset; must not be in the past",
                },
                "carrier": {"type": "string", "enum": list(carriers.CARRIERS)},
                "service": {
                    "type": "string",
                    "description": "a service of the carrier (default: its first): "
                    + "; ".join(f"{c}: {', '.join(s)}" for c, s in carriers.CARRIERS.items()),
                },
                "ship_to": ship_to_in,
                "lines": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": MAX_LINES,
                    "items": {
                        "type": "object",
                        "required": ["line_id", "sku", "quantity"],
                        "properties": {
                            "line_id": {"type": ["string", "integer"], "maxLength": 60},
                            "sku": {"type": "string", "maxLength": 64},
                            "quantity": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": MAX_QUANTITY,
                            },
                        },
                    },
                },
                "notes": {"type": "string", "maxLength": 4000},
            },
        },
        "ShipTo": _obj({name: STR for name in ship_to_in["properties"]}),
        "OrderLine": _obj(
            {
                "line_id": STR,
                "sku": STR,
                "ordered": INT0,
                "reserved": INT0,
                "picked": INT0,
                "short": INT0,
                "packed": INT0,
                "shipped": INT0,
            }
        ),
        "Missing": _obj(
            {"line_id": STR, "sku": STR, "ordered": INT0, "reserved": INT0, "missing": INT0}
        ),
        "Package": _obj(
            {
                "sscc": STR,
                "status": STR,
                "carrier": STR,
                "service": STR,
                "tracking_number": NSTR,
                "weight_g": INT0,
                "shipped_at": NTIME,
            }
        ),
        "Order": _obj(
            {
                "external_id": STR,
                "status": {"type": "string", "enum": STATUSES},
                "held_from": {"type": ["string", "null"], "enum": [*STATUSES, None]},
                "channel": STR,
                "priority": {"type": "string", "enum": ["standard", "express"]},
                "ship_by": TIME,
                "carrier": STR,
                "service": STR,
                "ship_to": _ref("ShipTo"),
                "notes": STR,
                "lines": {"type": "array", "items": _ref("OrderLine")},
                "missing": {
                    "type": "array",
                    "items": _ref("Missing"),
                    "description": "what could not be reserved, while the order is short",
                },
                "packages": {"type": "array", "items": _ref("Package")},
                "status_times": {
                    "type": "object",
                    "description": "when the order last entered each status",
                    "propertyNames": {"enum": STATUSES},
                    "additionalProperties": TIME,
                },
                "created_at": TIME,
                "updated_at": TIME,
            }
        ),
        "OrderPage": _obj(
            {"orders": {"type": "array", "items": _ref("Order")}, "next_cursor": NSTR}
        ),
        "FieldError": _obj({"code": STR, "field": STR, "message": STR}),
        "Invalid": _obj({"errors": {"type": "array", "items": _ref("FieldError"), "minItems": 1}}),
        "ErrorBody": _obj({"code": {"type": "string", "examples": ERROR_CODES}, "message": STR}),
        "Error": _obj({"error": _ref("ErrorBody")}),
        "BatchRequest": {
            "oneOf": [
                _obj(
                    {
                        "orders": {
                            "type": "array",
                            "maxItems": MAX_BATCH,
                            "items": _ref("OrderInput"),
                        }
                    }
                ),
                {"type": "array", "maxItems": MAX_BATCH, "items": _ref("OrderInput")},
            ]
        },
        "BatchResult": _obj(
            {
                "index": INT0,
                "external_id": NSTR,
                "outcome": {
                    "type": "string",
                    "enum": ["created", "unchanged", "conflict", "invalid"],
                },
                "http_status": {"type": "integer", "enum": [200, 201, 409, 422]},
                "status": {"type": ["string", "null"], "enum": [*STATUSES, None]},
                "errors": {"type": "array", "items": _ref("FieldError")},
                "error": _ref("ErrorBody"),
                "missing": {"type": "array", "items": _ref("Missing")},
            },
            required=["index", "external_id", "outcome", "http_status", "status"],
        ),
        "BatchResponse": _obj(
            {
                "results": {"type": "array", "items": _ref("BatchResult")},
                "summary": _obj(
                    {"created": INT0, "unchanged": INT0, "conflict": INT0, "invalid": INT0}
                ),
            }
        ),
        "ActionRequest": {
            "type": "object",
            "properties": {"reason": {"type": "string", "maxLength": 500}},
        },
        "Event": _obj(
            {
                "cursor": {
                    "type": "string",
                    "description": "the event's position in the feed, opaque: store it and "
                    "send it back as `after`",
                    "examples": ["1043"],
                },
                "event_id": {"type": "string", "format": "uuid"},
                "type": {"type": "string", "examples": ["order.received", "order.allocated"]},
                "order": STR,
                "from": NSTR,
                "to": NSTR,
                "at": TIME,
                "payload": {"type": "object"},
            }
        ),
        "EventPage": _obj(
            {
                "events": {"type": "array", "items": _ref("Event")},
                "next_cursor": STR,
                "has_more": {"type": "boolean"},
            }
        ),
        "Inventory": _obj(
            {
                "inventory": {
                    "type": "array",
                    "items": _obj({"sku": STR, "available": INT0}),
                },
                "unknown_skus": {"type": "array", "items": STR},
                "as_of": TIME,
            }
        ),
        "RowError": _obj(
            {
                "row": {"type": "integer", "minimum": 0},
                "code": {"type": "string", "examples": REASON_CODES + CSV_CODES},
                "field": STR,
                "message": STR,
            }
        ),
        "ImportResult": _obj(
            {
                "summary": _obj(
                    {
                        "rows": INT0,
                        "orders": INT0,
                        "created": INT0,
                        "unchanged": INT0,
                        "conflict": INT0,
                        "invalid": INT0,
                    }
                ),
                "orders": {
                    "type": "array",
                    "items": _obj(
                        {
                            "external_id": NSTR,
                            "rows": {"type": "array", "items": {"type": "integer"}},
                            "outcome": {
                                "type": "string",
                                "enum": ["created", "unchanged", "conflict", "invalid"],
                            },
                            "status": {"type": ["string", "null"]},
                        }
                    ),
                },
                "errors": {"type": "array", "items": _ref("RowError")},
            }
        ),
        "ImportFileErrors": _obj({"errors": {"type": "array", "items": _ref("RowError")}}),
    }


def _json(schema: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}


def _err(description: str) -> dict[str, Any]:
    return _json("Error", description)


COMMON = {
    "401": _err("no valid API key (`unauthorized`)"),
    "503": _err("database busy or unreachable (`unavailable`); retry"),
}
EXT_ID = {
    "name": "external_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "the order's external id (URL-encoded)",
}


def _action(name: str, summary: str, description: str, extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "post": {
            "operationId": f"{name}Order",
            "summary": summary,
            "description": description,
            "parameters": [EXT_ID],
            "requestBody": {
                "required": False,
                "content": {"application/json": {"schema": _ref("ActionRequest")}},
            },
            "responses": {
                "200": _json("Order", "the order after the action (also when nothing changed)"),
                "400": _err("malformed JSON body (`malformed_json`)"),
                "404": _err("no such order (`not_found`)"),
                "415": _err("body is not JSON (`unsupported_media_type`)"),
                "422": _json("Invalid", "reason is not a string or is too long"),
                **extra,
                **COMMON,
            },
        }
    }


def _paths() -> dict[str, Any]:
    intake_errors = {
        "400": _err("the body is not valid JSON (`malformed_json`)"),
        "413": _err("the body is over the size limit (`payload_too_large`)"),
        "415": _err("Content-Type is not application/json (`unsupported_media_type`)"),
    }
    limit = {
        "name": "limit",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 100},
    }
    return {
        "/orders": {
            "post": {
                "operationId": "createOrder",
                "summary": "Receive one order (idempotent by external_id)",
                "description": "Validates every field (all problems in one 422), then reserves "
                "stock at locations: status `allocated`, or `short` with `missing` quantities. "
                "The same external_id with the same content answers 200 with the order; with "
                "other content 409 `external_id_conflict`. A rejected order changes nothing.",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("OrderInput")}},
                },
                "responses": {
                    "201": _json("Order", "created and reserved"),
                    "200": _json("Order", "already received with the same content"),
                    "409": _err("already received with other content (`external_id_conflict`)"),
                    "422": _json("Invalid", "invalid order; every problem listed"),
                    **intake_errors,
                    **COMMON,
                },
            },
            "get": {
                "operationId": "listOrders",
                "summary": "Page through orders by (updated_at, id)",
                "parameters": [
                    {
                        "name": "status",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "one status or a comma-separated list: "
                        + ", ".join(STATUSES),
                    },
                    {
                        "name": "updated_since",
                        "in": "query",
                        "schema": {"type": "string", "format": "date-time"},
                        "description": "ISO 8601 with offset (URL-encode '+' as %2B)",
                    },
                    limit,
                    {
                        "name": "cursor",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "next_cursor of the previous page",
                    },
                ],
                "responses": {
                    "200": _json("OrderPage", "a page; next_cursor is null on the last one"),
                    "422": _json("Invalid", "invalid status, updated_since, limit or cursor"),
                    **COMMON,
                },
            },
        },
        "/orders/batch": {
            "post": {
                "operationId": "createOrders",
                "summary": f"Receive up to {MAX_BATCH} orders; one result per order",
                "description": "Each order is all-or-nothing on its own; results are in request "
                "order with the HTTP status the order would have had alone.",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("BatchRequest")}},
                },
                "responses": {
                    "200": _json("BatchResponse", "one result per order"),
                    "422": _json("Invalid", "not a list of orders, or too many"),
                    **intake_errors,
                    **COMMON,
                },
            }
        },
        "/orders/import": {
            "post": {
                "operationId": "importOrders",
                "summary": "Import orders from CSV (one row per line)",
                "requestBody": {
                    "required": True,
                    "content": {
                        "text/csv": {"schema": {"type": "string"}},
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "properties": {"file": {"type": "string", "format": "binary"}},
                            }
                        },
                    },
                },
                "responses": {
                    "200": _json("ImportResult", "row-level errors; valid orders accepted"),
                    "413": intake_errors["413"],
                    "415": _err("not text/csv nor multipart (`unsupported_media_type`)"),
                    "422": _json("ImportFileErrors", "the file cannot be read at all"),
                    **COMMON,
                },
            }
        },
        "/orders/{external_id}": {
            "get": {
                "operationId": "getOrder",
                "summary": "An order: status, per-line quantities, packages, status times",
                "parameters": [EXT_ID],
                "responses": {
                    "200": _json("Order", "the order"),
                    "404": _err("no such order (`not_found`)"),
                    **COMMON,
                },
            }
        },
        "/orders/{external_id}/cancel": _action(
            "cancel",
            "Cancel an order",
            "Releases its reservations and cancels its open pick tasks (the picker is told at "
            "once). Canceling a canceled order answers 200.",
            {"409": _err("shipped or delivered (`already_shipped`)")},
        ),
        "/orders/{external_id}/hold": _action(
            "hold",
            "Put an order on hold",
            "Reservations stay; release returns the order to the status it was held from. "
            "Holding a held order answers 200.",
            {"409": _err("canceled (`invalid_transition`) or shipped (`already_shipped`)")},
        ),
        "/orders/{external_id}/release": _action(
            "release",
            "Release a held order",
            "Returns the order to the status it was held from; an order that is not held is "
            "answered 200 unchanged.",
            {"409": _err("canceled (`invalid_transition`)")},
        ),
        "/events": {
            "get": {
                "operationId": "listEvents",
                "summary": "The ordered feed of order state changes, resumable from a cursor",
                "parameters": [
                    {
                        "name": "after",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "cursor of the last event you processed (omit to start)",
                    },
                    {**limit, "schema": {**limit["schema"], "maximum": 1000}},
                ],
                "responses": {
                    "200": _json("EventPage", "events after the cursor, oldest first"),
                    "422": _json("Invalid", "invalid cursor or limit"),
                    **COMMON,
                },
            }
        },
        "/inventory": {
            "get": {
                "operationId": "getInventory",
                "summary": "Available-to-promise per SKU (on hand minus reserved)",
                "parameters": [
                    {
                        "name": "sku",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "SKU code(s): repeat or comma-separate; omit for all",
                    }
                ],
                "responses": {"200": _json("Inventory", "ATP per SKU"), **COMMON},
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "getOpenApi",
                "summary": "This document (no key needed)",
                "security": [],
                "responses": {
                    "200": {
                        "description": "OpenAPI 3.1",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
    }


def _webhooks() -> dict[str, Any]:
    """The push side of the feed: each order event is POSTed to ``FLOOR_OMS_WEBHOOK_URL`` with
    the same body as an item of ``GET /events`` (one serialiser, orders/outbox.py)."""
    return {
        "orderEvent": {
            "post": {
                "operationId": "receiveOrderEvent",
                "summary": "One order event pushed to the OMS (signed; at least once)",
                "description": "Headers `X-Floor-Event-Id`, `X-Floor-Timestamp` and "
                "`X-Floor-Signature` (`sha256=` + hex HMAC-SHA256 of `<timestamp>.<body>`). "
                "Any 2xx acknowledges; 408, 429 and 5xx are retried; other answers make the "
                "event a dead letter. De-duplicate by `event_id`.",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("Event")}},
                },
                "responses": {"2XX": {"description": "received; the next event may go"}},
            }
        }
    }


def spec() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Floor server OMS API",
            "version": __version__,
            "description": "Idempotent order intake, cancellations, status, event feed and "
            'inventory for the central OMS. Errors: 422 `{"errors": [{code, field, '
            'message}]}`; otherwise `{"error": {code, message}}`. Reason codes: '
            + ", ".join(REASON_CODES),
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "paths": _paths(),
        "webhooks": _webhooks(),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": _schemas(),
        },
    }

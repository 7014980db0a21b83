"""The orders package's error codes and its refusal.

``OrderErrorCode``: why an order action (hold, release, cancel, a second intake of the same id)
was refused. ``IntakeFieldCode``: why one field of an order (JSON or a CSV row) is invalid; the
OMS API lists these in 422 answers, so they are part of the contract (docs/api.md "Reason
codes", ``REASON_CODES`` and ``CSV_CODES`` in web/openapi.py, kept equal by a test).
"""

from __future__ import annotations

import enum

from core.errors import CoreErrorCode, FloorError


class OrderErrorCode(enum.StrEnum):
    not_found = CoreErrorCode.not_found.value
    already_shipped = "already_shipped"
    external_id_conflict = "external_id_conflict"


class IntakeFieldCode(enum.StrEnum):
    # one order (JSON or a CSV group of rows)
    invalid_type = "invalid_type"
    invalid_characters = "invalid_characters"
    missing_field = "missing_field"
    too_long = "too_long"
    invalid_external_id = "invalid_external_id"
    invalid_priority = "invalid_priority"
    invalid_datetime = "invalid_datetime"
    ship_by_in_past = "ship_by_in_past"
    unsupported_carrier = "unsupported_carrier"
    unsupported_service = "unsupported_service"
    invalid_country = "invalid_country"
    invalid_email = "invalid_email"
    invalid_lines = "invalid_lines"
    too_many_lines = "too_many_lines"
    invalid_quantity = "invalid_quantity"
    duplicate_line = "duplicate_line"
    unknown_sku = "unknown_sku"
    # a batch
    too_many_orders = "too_many_orders"
    # a CSV file
    invalid_encoding = "invalid_encoding"
    malformed_csv = "malformed_csv"
    empty_file = "empty_file"
    missing_column = "missing_column"
    duplicate_column = "duplicate_column"
    too_many_rows = "too_many_rows"
    inconsistent_order = "inconsistent_order"
    external_id_conflict = OrderErrorCode.external_id_conflict.value


CSV_FILE_CODES = frozenset(
    {
        IntakeFieldCode.invalid_encoding,
        IntakeFieldCode.malformed_csv,
        IntakeFieldCode.empty_file,
        IntakeFieldCode.missing_column,
        IntakeFieldCode.duplicate_column,
        IntakeFieldCode.too_many_rows,
        IntakeFieldCode.inconsistent_order,
        IntakeFieldCode.external_id_conflict,
    }
)


class OrderActionError(FloorError):
    """A refused order action: 404 ``not_found``, 409 ``already_shipped`` (or the machine's
    409 ``invalid_transition``, raised as ``InvalidTransition``)."""

    code = OrderErrorCode.already_shipped
    http_status = 409

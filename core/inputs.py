"""Bounded input: the pure checks every surface runs on what a client sends.

Every number, text and time a client sends (query parameters, path ids, JSON bodies, form
fields, Socket.IO payloads, CSV cells) passes one of these functions before it reaches the
domain or the database. Each refuses with an ``InputError`` carrying a reason code
(``InputErrorCode``) and the field it concerns, so every surface answers a 4xx with a reason —
never a 500 from an ``OverflowError`` in the driver or a NUL byte PostgreSQL cannot store.

Why not ``int(text)`` or ``text.isdigit()``:

- ``"²".isdigit()`` and ``"٣".isdigit()`` are True (Unicode digits), and ``int("٣")`` is 3;
  ``int("1_0")`` is 10 and ``int(" +3 ")`` is 3. Only ASCII ``0-9`` are digits here.
- Python integers are unbounded; PostgreSQL ``bigint`` ends at 2**63 - 1 and an id past it
  raised in the driver. Every number has a range (ids ``1..MAX_ID``, quantities
  ``1..MAX_QUANTITY``, or the caller's own).
- A length is checked *before* converting: ``int("9" * 5000)`` is itself an error (and slow).

The web layer (web/inputs.py) applies these to requests and renders ``InputError`` like any
``FloorError``: ``{"errors": [{"code", "field", "message"}]}`` with 400 or 422.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
import re
from collections.abc import Mapping
from typing import Any

from core.errors import FieldError, FloorError

MAX_ID = 2**63 - 1  # PostgreSQL bigint; SQLite INTEGER
MAX_QUANTITY = 100_000
MAX_TEXT = 1_000  # a free-text field unless the caller says otherwise
MAX_JSON_DEPTH = 32
_ASCII_INT = re.compile(r"-?[0-9]{1,19}")
# NUL cannot be stored in PostgreSQL text; lone surrogates cannot be encoded as UTF-8.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_EPOCH_MS_FROM = 10**11  # a number above this is epoch milliseconds, below it seconds


class InputErrorCode(enum.StrEnum):
    """Why an input value was refused (the ``code`` of each field error)."""

    not_an_integer = "not_an_integer"
    out_of_range = "out_of_range"
    invalid_characters = "invalid_characters"  # NUL or unpaired surrogates
    too_long = "too_long"
    not_text = "not_text"
    invalid_datetime = "invalid_datetime"
    too_deep = "too_deep"


class InputError(FloorError):
    """A refused input value: 422 by default, with one ``FieldError`` per value."""

    code = InputErrorCode.out_of_range
    http_status = 422

    def __init__(self, code: InputErrorCode, field: str, message: str, status: int = 422):
        super().__init__(code, message, status, fields=[FieldError(code, field, message)])


def parse_int(raw: Any, field: str, *, low: int = 1, high: int = MAX_ID, status: int = 422) -> int:
    """A whole number in ``low..high`` from JSON (an ``int``, not a bool or float) or text
    (ASCII digits with an optional leading ``-``; no ``+``, ``_``, spaces or Unicode digits)."""
    if isinstance(raw, bool):
        raise InputError(InputErrorCode.not_an_integer, field, f"{field} must be a whole number")
    if isinstance(raw, str):
        if not _ASCII_INT.fullmatch(raw):
            raise InputError(
                InputErrorCode.not_an_integer, field, f"{field} must be a whole number", status
            )
        raw = int(raw)
    if not isinstance(raw, int):
        raise InputError(
            InputErrorCode.not_an_integer, field, f"{field} must be a whole number", status
        )
    if not low <= raw <= high:
        raise InputError(
            InputErrorCode.out_of_range, field, f"{field} must be {low}..{high}", status
        )
    return raw


def parse_id(raw: Any, field: str, status: int = 422) -> int:
    """A database id: ``1..MAX_ID``."""
    return parse_int(raw, field, low=1, high=MAX_ID, status=status)


def parse_quantity(raw: Any, field: str, *, low: int = 1, status: int = 422) -> int:
    """A quantity of units: ``low..MAX_QUANTITY`` (``low=0`` where none is a value)."""
    return parse_int(raw, field, low=low, high=MAX_QUANTITY, status=status)


_REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def is_request_id(value: Any) -> bool:
    """A client's name for one request, replayed on retry (``close_id``, ``override_id``):
    1-64 letters, digits, ``-`` or ``_``."""
    return isinstance(value, str) and _REQUEST_ID.fullmatch(value) is not None


def storable(text: str) -> bool:
    """False for strings no database here can store (NUL, unpaired surrogates)."""
    return _UNSTORABLE.search(text) is None


def check_text(raw: Any, field: str, *, max_len: int = MAX_TEXT, status: int = 422) -> str:
    """A string without NUL or unpaired surrogates, at most ``max_len`` characters."""
    if not isinstance(raw, str):
        raise InputError(InputErrorCode.not_text, field, f"{field} must be text", status)
    if len(raw) > max_len:
        raise InputError(
            InputErrorCode.too_long, field, f"{field} is longer than {max_len} characters", status
        )
    if not storable(raw):
        raise InputError(
            InputErrorCode.invalid_characters,
            field,
            f"{field} contains NUL or unpaired surrogates",
            status,
        )
    return raw


def parse_timestamp(
    raw: Any,
    field: str,
    *,
    now: dt.datetime,
    past: dt.timedelta = dt.timedelta(days=366),
    future: dt.timedelta = dt.timedelta(minutes=10),
    status: int = 422,
) -> dt.datetime:
    """A moment as UTC from ISO 8601 text (no offset means UTC) or epoch seconds/milliseconds,
    within ``now - past .. now + future`` (a handheld's clock may run a little ahead; a
    far-future ``scanned_at`` would sort a scan after every later one)."""
    bad = InputError(
        InputErrorCode.invalid_datetime, field, f"{field} must be ISO 8601 or epoch ms", status
    )
    when: dt.datetime
    if isinstance(raw, bool):
        raise bad
    if isinstance(raw, int | float):
        if not math.isfinite(raw) or abs(raw) > 10**15:
            raise bad
        seconds = raw / 1000 if raw > _EPOCH_MS_FROM else raw
        try:
            when = dt.datetime.fromtimestamp(seconds, dt.UTC)
        except (ValueError, OSError, OverflowError):
            raise bad from None
    elif isinstance(raw, str) and len(raw) <= 64 and storable(raw):
        try:
            when = dt.datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
            when = when.astimezone(dt.UTC) if when.tzinfo else when.replace(tzinfo=dt.UTC)
        except (ValueError, OverflowError):
            raise bad from None
    else:
        raise bad
    if not now - past <= when <= now + future:
        raise InputError(
            InputErrorCode.out_of_range,
            field,
            f"{field} must be within {past} before and {future} after the server's clock",
            status,
        )
    return when


def check_json(value: Any, field: str = "", *, depth: int = 0, status: int = 422) -> None:
    """Walk a decoded JSON value: every string storable and at most 100,000 characters, every
    number finite and within a signed 64-bit range, nesting at most ``MAX_JSON_DEPTH``.
    The generic floor under every JSON body; each handler still checks its own fields."""
    if depth > MAX_JSON_DEPTH:
        raise InputError(InputErrorCode.too_deep, field, "the JSON is nested too deeply", status)
    if isinstance(value, str):
        check_text(value, field or "body", max_len=100_000, status=status)
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int):
        if not -MAX_ID <= value <= MAX_ID:
            raise InputError(
                InputErrorCode.out_of_range,
                field or "body",
                f"{field or 'a number'} is outside the 64-bit range",
                status,
            )
    elif isinstance(value, float):
        if not math.isfinite(value) or abs(value) > MAX_ID:
            raise InputError(
                InputErrorCode.out_of_range, field or "body", "a number is out of range", status
            )
    elif isinstance(value, Mapping):
        for key, item in value.items():
            check_text(key, f"{field}.key" if field else "key", max_len=200, status=status)
            path = f"{field}.{key}" if field else str(key)
            check_json(item, path, depth=depth + 1, status=status)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            check_json(item, f"{field}[{i}]", depth=depth + 1, status=status)

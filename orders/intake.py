"""The canonical order: validate an OMS payload, collecting every problem with a stable reason
code, normalise it, and fingerprint it for idempotent intake.

``validate(payload)`` needs neither the database nor the clock: it checks shape, types, lengths,
enums, countries and carriers, and returns the normalised order with its content hash. The checks
that depend on the world (``unknown_sku``, ``ship_by_in_past``) are ``check_world(...)``; intake
runs them only for orders it has not seen, so a retry of an accepted order whose ship-by time has
since passed still answers 200.

Reason codes (stable; the OMS may switch on them):

``invalid_type`` ``invalid_characters`` ``missing_field`` ``too_long`` ``invalid_external_id``
``invalid_priority``
``invalid_datetime`` ``ship_by_in_past`` ``unsupported_carrier`` ``unsupported_service``
``invalid_country`` ``invalid_email`` ``invalid_lines`` ``too_many_lines`` ``invalid_quantity``
``duplicate_line`` ``unknown_sku``
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pycountry

from core.errors import FieldError
from orders import carriers
from orders.errors import IntakeFieldCode
from orders.states import Priority

F = IntakeFieldCode

MAX_LINES = 1000
MAX_QUANTITY = 1_000_000
COUNTRIES = frozenset(c.alpha_2 for c in pycountry.countries)
# ISO 3166-1 countries whose addresses carry no postal code (the list checkout forms use).
_NO_POSTAL = (
    "AE AG AO AW BF BI BJ BO BS BW BZ CD CF CG CI CK CM DJ DM ER FJ GA GD GH GM GQ GY HK IE "
    "KI KM KN KP LY ML MO MR MW NR NU QA RW SB SC SL SR SS ST SY TD TF TG TK TL TO TV UG VU YE ZW"
)
NO_POSTAL_CODE = frozenset(_NO_POSTAL.split())
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# NUL cannot be stored in PostgreSQL text; lone surrogates cannot be encoded as UTF-8.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

# (field, required, max length) of the ship-to address, in the order errors are reported.
SHIP_TO_FIELDS: tuple[tuple[str, bool, int], ...] = (
    ("name", True, 200),
    ("company", False, 200),
    ("address1", True, 200),
    ("address2", False, 200),
    ("city", True, 100),
    ("region", False, 100),
    ("postal_code", True, 20),
    ("country", True, 2),
    ("phone", False, 40),
    ("email", False, 254),
)


@dataclass(frozen=True)
class CanonicalLine:
    line_id: str
    sku: str
    quantity: int


@dataclass
class CanonicalOrder:
    external_id: str
    channel: str
    priority: Priority
    ship_by: dt.datetime
    carrier: str
    service: str
    ship_to: dict[str, str]
    lines: list[CanonicalLine]
    notes: str
    content_hash: str = ""

    def canonical(self) -> dict[str, Any]:
        """The normalised payload the content hash is taken over (lines in line_id order)."""
        return {
            "external_id": self.external_id,
            "channel": self.channel,
            "priority": self.priority.value,
            "ship_by": self.ship_by.isoformat(),
            "carrier": self.carrier,
            "service": self.service,
            "ship_to": self.ship_to,
            "lines": [
                {"line_id": ln.line_id, "sku": ln.sku, "quantity": ln.quantity}
                for ln in sorted(self.lines, key=lambda ln: ln.line_id)
            ],
            "notes": self.notes,
        }


_CANONICAL_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(canonical: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON (sorted keys, no spaces, UTF-8) of the normalised order."""
    return hashlib.sha256(_CANONICAL_JSON.encode(canonical).encode("utf-8")).hexdigest()


@dataclass
class Validated:
    order: CanonicalOrder | None
    errors: list[FieldError] = field(default_factory=list)
    external_id: str | None = None  # best effort, for reporting even when invalid
    # What parsed, even when something else did not: the world checks look at these too, so
    # an invalid order's answer lists its unknown SKUs and past ship-by as well.
    ship_by: dt.datetime | None = None
    skus: list[tuple[str, str]] = field(default_factory=list)  # (field path, sku)


class _Checker:
    def __init__(self) -> None:
        self.errors: list[FieldError] = []
        self.skus: list[tuple[str, str]] = []

    def add(self, code: IntakeFieldCode, field_name: str, message: str) -> None:
        self.errors.append(FieldError(code, field_name, message))

    def text(
        self,
        obj: Mapping[str, Any],
        key: str,
        path: str,
        *,
        required: bool,
        max_len: int,
        allow_int: bool = False,
    ) -> str | None:
        """A stripped string ('' when optional and absent); None after recording an error."""
        value = obj.get(key)
        if value is None:
            if required:
                self.add(F.missing_field, path, f"{path} is required")
                return None
            return ""
        if allow_int and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            self.add(F.invalid_type, path, f"{path} must be a string")
            return None
        value = value.strip()
        if _UNSTORABLE.search(value):
            self.add(F.invalid_characters, path, f"{path} contains NUL or unpaired surrogates")
            return None
        if not value and required:
            self.add(F.missing_field, path, f"{path} is required")
            return None
        if len(value) > max_len:
            self.add(F.too_long, path, f"{path} is longer than {max_len} characters")
            return None
        return value


# Path segments under /api/v1/orders/ that are routes of their own: an order with one of these
# ids could be created but never read, cancelled or held. "." and ".." are normalised away by
# every HTTP client and proxy before the request reaches the server.
RESERVED_IDS = frozenset({"batch", "import"})


def openable(external_id: str) -> bool:
    """False for an external id ``/api/v1/orders/<external_id>`` cannot reach."""
    return external_id.strip(".") != "" and external_id not in RESERVED_IDS


def storable(text: str) -> bool:
    """False for strings no database here can store (NUL, unpaired surrogates)."""
    return _UNSTORABLE.search(text) is None


def parse_datetime(value: Any) -> dt.datetime | None:
    """An ISO 8601 date-time with an offset, as UTC; None if it is not one."""
    if not isinstance(value, str) or len(value) > 64 or "T" not in value.upper():
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
        if parsed.tzinfo is None or parsed.utcoffset() is None:
            return None
        return parsed.astimezone(dt.UTC)
    except (ValueError, OverflowError):
        return None


def _quantity(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and 1 <= value <= MAX_QUANTITY:
        return value
    return None


def validate(payload: Any) -> Validated:
    """Check and normalise one order payload (no database, no clock)."""
    if not isinstance(payload, dict):
        return Validated(None, [FieldError(F.invalid_type, "", "an order is a JSON object")])
    c = _Checker()
    external_id = c.text(
        payload, "external_id", "external_id", required=True, max_len=100, allow_int=True
    )
    if external_id and ("/" in external_id or _CONTROL.search(external_id)):
        c.add(
            F.invalid_external_id,
            "external_id",
            "external_id must not contain '/' or control characters",
        )
        external_id = None
    elif external_id and not openable(external_id):
        c.add(
            F.invalid_external_id,
            "external_id",
            f"external_id {external_id!r} cannot be opened at /api/v1/orders/<external_id>"
            " (only dots, or a word the API uses: " + ", ".join(sorted(RESERVED_IDS)) + ")",
        )
        external_id = None
    channel = c.text(payload, "channel", "channel", required=False, max_len=60)

    priority: Priority | None = Priority.standard
    raw_priority = payload.get("priority")
    if raw_priority is not None:
        value = raw_priority.strip().lower() if isinstance(raw_priority, str) else None
        if value in Priority.__members__:
            priority = Priority(value)
        else:
            c.add(F.invalid_priority, "priority", "priority must be 'standard' or 'express'")
            priority = None

    ship_by: dt.datetime | None = None
    if payload.get("ship_by") is None:
        c.add(F.missing_field, "ship_by", "ship_by is required")
    else:
        ship_by = parse_datetime(payload["ship_by"])
        if ship_by is None:
            c.add(
                F.invalid_datetime,
                "ship_by",
                "ship_by must be an ISO 8601 date-time with an offset, "
                "e.g. 2026-11-24T17:00:00+01:00",
            )

    carrier = c.text(payload, "carrier", "carrier", required=True, max_len=40)
    service = c.text(payload, "service", "service", required=False, max_len=40)
    if carrier:
        carrier = carrier.lower()
        if not carriers.is_supported(carrier):
            c.add(
                F.unsupported_carrier,
                "carrier",
                f"carrier must be one of {', '.join(carriers.CARRIERS)}",
            )
            carrier = None
        elif service is not None:
            service = service.lower() or carriers.default_service(carrier)
            if service not in carriers.services(carrier):
                c.add(
                    F.unsupported_service,
                    "service",
                    f"{carrier} services are {', '.join(carriers.services(carrier))}",
                )
                service = None

    ship_to = _ship_to(c, payload.get("ship_to"))
    lines = _lines(c, payload.get("lines"))
    notes = c.text(payload, "notes", "notes", required=False, max_len=4000)

    if c.errors:
        return Validated(None, c.errors, external_id, ship_by, c.skus)
    assert external_id and priority and ship_by and carrier and service is not None
    assert channel is not None and notes is not None and ship_to is not None and lines
    order = CanonicalOrder(
        external_id=external_id,
        channel=channel,
        priority=priority,
        ship_by=ship_by,
        carrier=carrier,
        service=service,
        ship_to=ship_to,
        lines=lines,
        notes=notes,
    )
    order.content_hash = content_hash(order.canonical())
    return Validated(order, [], external_id, ship_by, c.skus)


def _ship_to(c: _Checker, raw: Any) -> dict[str, str] | None:
    if raw is None:
        c.add(F.missing_field, "ship_to", "ship_to is required")
        return None
    if not isinstance(raw, dict):
        c.add(F.invalid_type, "ship_to", "ship_to must be an object")
        return None
    before = len(c.errors)
    out: dict[str, str] = {}
    country = raw.get("country")
    country = country.strip().upper() if isinstance(country, str) else None
    for name, required, max_len in SHIP_TO_FIELDS:
        path = f"ship_to.{name}"
        if name == "postal_code" and country in NO_POSTAL_CODE:
            required = False
        value = c.text(
            raw, name, path, required=required, max_len=max_len if name != "country" else 64
        )
        if value is None:
            continue
        if name == "country":
            value = value.upper()
            if value not in COUNTRIES:
                c.add(
                    F.invalid_country,
                    path,
                    "country must be an ISO 3166-1 alpha-2 code, e.g. US, DE",
                )
                continue
        elif name == "email" and value and not _EMAIL.match(value):
            c.add(F.invalid_email, path, "email is not an e-mail address")
            continue
        out[name] = value
    return out if len(c.errors) == before else None


def _lines(c: _Checker, raw: Any) -> list[CanonicalLine] | None:
    if raw is None:
        c.add(F.missing_field, "lines", "lines is required")
        return None
    if not isinstance(raw, list):
        c.add(F.invalid_type, "lines", "lines must be a list")
        return None
    if not raw:
        c.add(F.invalid_lines, "lines", "an order needs at least one line")
        return None
    if len(raw) > MAX_LINES:
        c.add(F.too_many_lines, "lines", f"an order has at most {MAX_LINES} lines")
        return None
    before = len(c.errors)
    out: list[CanonicalLine] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        path = f"lines[{i}]"
        if not isinstance(item, dict):
            c.add(F.invalid_type, path, f"{path} must be an object")
            continue
        line_id = c.text(
            item, "line_id", f"{path}.line_id", required=True, max_len=60, allow_int=True
        )
        if line_id is not None:
            if line_id in seen:
                c.add(
                    F.duplicate_line,
                    f"{path}.line_id",
                    f"line_id {line_id!r} appears more than once",
                )
            seen.add(line_id)
        sku = c.text(item, "sku", f"{path}.sku", required=True, max_len=64)
        if sku is not None:
            c.skus.append((f"{path}.sku", sku))
        qty: int | None = None
        if item.get("quantity") is None:
            c.add(F.missing_field, f"{path}.quantity", f"{path}.quantity is required")
        else:
            qty = _quantity(item["quantity"])
            if qty is None:
                c.add(
                    F.invalid_quantity,
                    f"{path}.quantity",
                    f"quantity must be a whole number from 1 to {MAX_QUANTITY}",
                )
        if line_id is not None and sku is not None and qty is not None:
            out.append(CanonicalLine(line_id, sku, qty))
    return out if len(c.errors) == before else None


def check_world(
    validated: Validated, sku_ids: Mapping[str, int], now: dt.datetime
) -> list[FieldError]:
    """The checks that depend on the database and the clock, for an order not yet accepted."""
    errors = []
    if validated.ship_by is not None and validated.ship_by < now:
        errors.append(FieldError(F.ship_by_in_past, "ship_by", "ship_by is in the past"))
    for path, sku in validated.skus:
        if sku not in sku_ids:
            errors.append(FieldError(F.unknown_sku, path, f"SKU {sku!r} is not known here"))
    return errors

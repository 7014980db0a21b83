"""What the office-printer documents show: plain frozen dataclasses, no database.

The app fills these from its own rows (pick lists, locations, users, orders) and hands them to the
``*_pdf`` functions of this package; nothing here knows where the data came from.  Each
dataclass checks itself when made (``__post_init__``), so a document is never half-built from bad
data: the caller gets a :class:`DocumentError` whose ``code`` (a :class:`DocumentErrorCode`) says
what is wrong.

Codes that are printed as Code 128 (pick list, location, badge codes) obey
:func:`printing.barcode_images.check_code128_data`: printable ASCII, at most 48 characters.
Quantities are whole units; a pick stop of 0 units is refused (there is nothing to pick), a packing
slip line may ship 0 of what was ordered (that line is then marked short).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from reportlab.lib.pagesizes import A4, LETTER

from core.errors import FloorError
from printing.barcode_images import BarcodeError, check_code128_data


class PageSize(enum.StrEnum):
    """The office printer's paper."""

    a4 = "a4"
    letter = "letter"

    @property
    def points(self) -> tuple[float, float]:
        """(width, height) in PDF points (1/72 in)."""
        return A4 if self is PageSize.a4 else LETTER


class DocumentErrorCode(enum.StrEnum):
    empty_document = "empty_document"  # nothing to print
    bad_barcode_data = "bad_barcode_data"  # a code that cannot be drawn as Code 128
    bad_check_code = "bad_check_code"  # a location's check digits are not 2..4 digits
    bad_quantity = "bad_quantity"  # a quantity out of range
    duplicate_sequence = "duplicate_sequence"  # two pick stops claim the same place in the route
    unknown_tote = "unknown_tote"  # a stop's tote is not on the cart
    bad_sscc = "bad_sscc"  # not 18 digits with a valid GS1 check digit
    missing_field = "missing_field"  # a required text is empty


class DocumentError(FloorError, ValueError):
    """Data a document cannot be made from; ``code`` says why, ``message`` says where."""

    http_status = 422

    def __init__(self, code: DocumentErrorCode, message: str) -> None:
        super().__init__(code, message)


def _barcode_text(what: str, value: str) -> None:
    try:
        check_code128_data(value)
    except BarcodeError as exc:
        raise DocumentError(
            DocumentErrorCode.bad_barcode_data, f"{what} {value!r}: {exc.message}"
        ) from exc


def _required(what: str, value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise DocumentError(DocumentErrorCode.missing_field, f"{what} is empty")


def gs1_check_digit(body: str) -> str:
    """GS1 mod-10 check digit of a digit string (weights 3,1,3,... from the right)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return str((10 - total % 10) % 10)


# --- pick-list sheet -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PickStop:
    """One stop on the cart's route: go to ``location_code``, put ``quantity`` of ``sku`` in
    ``tote``.  ``sequence`` is the stop's place in the route (1 = first)."""

    sequence: int
    location_code: str
    sku: str
    description: str
    quantity: int
    tote: str

    def __post_init__(self) -> None:
        _required("stop location", self.location_code)
        _required(f"SKU of stop {self.sequence}", self.sku)
        if self.quantity < 1:
            raise DocumentError(
                DocumentErrorCode.bad_quantity,
                f"stop {self.sequence} ({self.location_code}) picks {self.quantity} units",
            )


@dataclass(frozen=True)
class PickListSheet:
    """A pick list for one cart: its code (printed as Code 128 to start it by scan), the wave it
    belongs to, the picker it is assigned to (``""`` when not yet assigned), the totes on the cart
    and the stops.  Stops are printed by ``sequence``, whatever order they are given in."""

    pick_list_code: str
    wave_code: str
    picker: str
    cart_totes: tuple[str, ...]
    stops: tuple[PickStop, ...]

    def __post_init__(self) -> None:
        _barcode_text("pick list code", self.pick_list_code)
        if not self.stops:
            raise DocumentError(
                DocumentErrorCode.empty_document, f"pick list {self.pick_list_code} has no stops"
            )
        seen: set[int] = set()
        for stop in self.stops:
            if stop.sequence in seen:
                raise DocumentError(
                    DocumentErrorCode.duplicate_sequence,
                    f"pick list {self.pick_list_code}: two stops are number {stop.sequence}",
                )
            seen.add(stop.sequence)
            if self.cart_totes and stop.tote not in self.cart_totes:
                raise DocumentError(
                    DocumentErrorCode.unknown_tote,
                    f"stop {stop.sequence} goes to tote {stop.tote!r}, not on this cart",
                )

    @property
    def stops_in_route_order(self) -> tuple[PickStop, ...]:
        return tuple(sorted(self.stops, key=lambda s: s.sequence))

    @property
    def total_units(self) -> int:
        return sum(s.quantity for s in self.stops)


# --- location labels -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LocationLabel:
    """A shelf label: the location code (also as Code 128) and its check digits, which a picker
    types or speaks to prove arrival.  ``caption`` is an optional small line (zone, type)."""

    location_code: str
    check_code: str
    caption: str = ""

    def __post_init__(self) -> None:
        _barcode_text("location code", self.location_code)
        if not (self.check_code.isascii() and self.check_code.isdigit()):
            raise DocumentError(
                DocumentErrorCode.bad_check_code,
                f"location {self.location_code}: check code {self.check_code!r} is not digits",
            )
        if not 2 <= len(self.check_code) <= 4:
            raise DocumentError(
                DocumentErrorCode.bad_check_code,
                f"location {self.location_code}: check code must be 2 to 4 digits",
            )


# --- badges --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BadgeCard:
    """One user's login badge.  ``badge_code`` is a credential: whoever scans it is logged in as
    this user, so the badge sheet says so on every page and never prints the code as text."""

    name: str
    role: str
    badge_code: str

    def __post_init__(self) -> None:
        _required("badge holder's name", self.name)
        _required(f"role of {self.name}", self.role)
        _barcode_text(f"badge code of {self.name}", self.badge_code)


# --- packing slip --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Address:
    name: str
    lines: tuple[str, ...]  # street, city and postcode, ... as printed
    country: str = ""

    def __post_init__(self) -> None:
        _required("address name", self.name)


@dataclass(frozen=True)
class SlipLine:
    """One order line: ordered and shipped (on a slip that is not ``final``: packed so far, and
    ``qty_picked`` picked so far)."""

    sku: str
    description: str
    qty_ordered: int
    qty_shipped: int
    qty_picked: int | None = None

    def __post_init__(self) -> None:
        _required("slip line SKU", self.sku)
        if self.qty_ordered < 0 or self.qty_shipped < 0 or (self.qty_picked or 0) < 0:
            raise DocumentError(DocumentErrorCode.bad_quantity, f"{self.sku}: negative quantity")
        if self.qty_shipped > self.qty_ordered:
            raise DocumentError(
                DocumentErrorCode.bad_quantity,
                f"{self.sku}: ships {self.qty_shipped}, more than the {self.qty_ordered} ordered",
            )

    @property
    def short_by(self) -> int:
        return self.qty_ordered - self.qty_shipped


@dataclass(frozen=True)
class SlipPackage:
    """A carton of the shipment: its SSCC (18 digits, GS1 check digit), carrier and service as
    the customer reads them (``"UPS Ground"``), and the tracking number (``""`` when none)."""

    sscc: str
    carrier: str
    tracking_number: str
    weight_g: int

    def __post_init__(self) -> None:
        if not (
            len(self.sscc) == 18
            and self.sscc.isascii()
            and self.sscc.isdigit()
            and gs1_check_digit(self.sscc[:-1]) == self.sscc[-1]
        ):
            raise DocumentError(DocumentErrorCode.bad_sscc, f"SSCC {self.sscc!r} is not valid")
        if self.weight_g < 0:
            raise DocumentError(DocumentErrorCode.bad_quantity, f"SSCC {self.sscc}: weight < 0")


@dataclass(frozen=True)
class PackingSlip:
    """The paper that travels in the first carton: who it is for, what was ordered and shipped,
    and the cartons.  ``qr_data`` is what the QR code says (the order reference when ``None``),
    e.g. a returns URL on the customer's site.  ``final``: the order is packed, so what is not
    shipped is short; a slip printed before that (``final=False``) shows what is picked and
    packed so far, says it is not packed yet (or ``warning``, e.g. that the order is canceled),
    and marks nothing short."""

    order_ref: str
    ship_from: Address
    ship_to: Address
    lines: tuple[SlipLine, ...]
    packages: tuple[SlipPackage, ...]
    order_date: str = ""  # as printed, e.g. "2025-03-14"
    customer_ref: str = ""  # the customer's PO or order number
    qr_data: str | None = None
    note: str = ""  # printed at the foot, e.g. returns instructions
    final: bool = True
    warning: str = ""  # under the title in red instead of "NOT YET PACKED" (``final=False``)

    def __post_init__(self) -> None:
        _required("order reference", self.order_ref)
        if not self.lines:
            raise DocumentError(
                DocumentErrorCode.empty_document, f"order {self.order_ref} has no lines"
            )

    @property
    def qr_payload(self) -> str:
        return self.order_ref if self.qr_data is None else self.qr_data


def non_empty(what: str, items: Sequence[object]) -> None:
    if not items:
        raise DocumentError(DocumentErrorCode.empty_document, f"no {what} to print")

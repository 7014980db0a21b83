"""Decode one scanned code: a GTIN, an SSCC, a GS1 element string with lot and expiry, or
plain text (a tote, a location, an order number).

The GS1 grammar (application identifiers, fixed and variable lengths, check digits, dates)
is PyPI ``biip``'s job; this module decides what the floor should make of its answer:

* A scan is *GS1-marked* when it starts with a GS1 symbology identifier (``]C1`` GS1-128,
  ``]d2`` GS1 DataMatrix, ``]Q3`` GS1 QR, ``]e0`` GS1 DataBar, ...), holds a group
  separator (GS, ``"\\x1d"``), or starts with an identification key - ``01`` or ``02`` and
  14 digits, or ``00`` and 18 digits.  A marked scan that is not valid GS1 is refused
  (:class:`Gs1Error`): a product label that reads wrong must not pass as a plain code.
* A GS1 element string counts only if it carries a key (AI 00, 01 or 02).  Without that
  rule an internal code such as ``21000123`` would read as "serial number 000123".
* An unmarked string of 8, 12, 13 or 14 digits with a valid check digit is a GTIN;
  anything else unmarked is ``plain`` and returned as typed (minus surrounding blanks).

Kinds: ``sscc`` (only an SSCC), ``gtin`` (only a GTIN), ``gs1`` (a key plus more data, e.g.
lot 10 and expiry 17), ``plain``.  ``gtin`` is always normalised to 14 digits so one
product compares equal whether it was scanned from an EAN-13 or a GS1-128 label.  An
expiry day of ``00`` means the last day of that month (GS1 General Specifications).

Scanners that cannot transmit GS are programmed to send a substitute; the serial frame
decoder replaces it, and ``parse_scan(code, separators=("~",))`` does the same for text
typed or wedged in.  Without any separator a variable-length lot runs to the end of the
scan, so lot (10) must come last - that is the label's problem, not the parser's.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass

import biip
from biip.gtin import Gtin
from biip.symbology import GS1Symbology

from core.errors import FloorError

GS = "\x1d"
_KEY_START = re.compile(r"(0[12]\d{14}|00\d{18})")
_GTIN_LENGTHS = frozenset({8, 12, 13, 14})


class ScanKind(enum.StrEnum):
    gtin = "gtin"
    sscc = "sscc"
    gs1 = "gs1"
    plain = "plain"


class Gs1ErrorCode(enum.StrEnum):
    empty = "empty"
    bad_check_digit = "bad_check_digit"
    bad_date = "bad_date"
    no_key = "no_key"
    malformed = "malformed"


class Gs1Error(FloorError, ValueError):
    """A scan that claims to be GS1 but is not valid; ``code`` says what is wrong."""

    http_status = 422

    def __init__(self, code: Gs1ErrorCode, message: str) -> None:
        super().__init__(code, message)


@dataclass(frozen=True)
class ScanCode:
    """What a scan means.  ``code`` is the scan without symbology identifier and blanks."""

    kind: ScanKind
    code: str
    symbology: str | None = None  # e.g. "]C1" when the scanner sent one
    gtin: str | None = None  # 14 digits
    sscc: str | None = None  # 18 digits
    lot: str | None = None  # AI 10
    expiry: dt.date | None = None  # AI 17
    serial: str | None = None  # AI 21


def parse_scan(code: str, *, separators: Iterable[str] = (GS,)) -> ScanCode:
    """Parse one scan; raises :class:`Gs1Error` for an empty or malformed GS1 scan."""
    separators = tuple(s for s in separators if s)
    text = code.strip()
    if not text:
        raise Gs1Error(Gs1ErrorCode.empty, "empty scan")
    for sep in separators:
        if sep != GS:
            text = text.replace(sep, GS)
    try:
        result = biip.parse(text, config=biip.ParseConfig(separator_chars=(GS,)))
    except (biip.ParseError, ValueError, IndexError) as exc:  # a "]" that is no symbology id
        if text.startswith("]"):
            return ScanCode(ScanKind.plain, text)
        raise Gs1Error(Gs1ErrorCode.malformed, f"cannot read {text!r}: {exc}") from None
    symbology = result.symbology_identifier
    body = text[len(symbology.value) :] if symbology else text
    if not body.strip():
        raise Gs1Error(Gs1ErrorCode.empty, f"only a symbology identifier: {text!r}")
    gs1_symbology = symbology.gs1_symbology if symbology else None
    marked = (
        gs1_symbology in GS1Symbology.with_gs1_messages()
        or GS in body
        or _KEY_START.match(body) is not None
    )
    message = result.gs1_message
    keyed = message is not None and any(
        e.ai.ai in ("00", "01", "02") for e in message.element_strings
    )
    if marked or keyed:
        return _gs1(result, body, symbology.value if symbology else None)
    if gs1_symbology in GS1Symbology.with_gtin() or (
        body.isascii() and body.isdigit() and len(body) in _GTIN_LENGTHS
    ):
        if result.gtin is not None:
            return ScanCode(
                ScanKind.gtin,
                body,
                symbology.value if symbology else None,
                gtin=result.gtin.as_gtin_14(),
            )
        if gs1_symbology is not None:  # an EAN/UPC symbol that does not check: misread
            raise Gs1Error(Gs1ErrorCode.bad_check_digit, result.gtin_error or "bad GTIN")
    return ScanCode(ScanKind.plain, body, symbology.value if symbology else None)


def _gs1(result: biip.ParseResult, body: str, symbology: str | None) -> ScanCode:
    message = result.gs1_message
    if message is None or not message.element_strings:
        error = result.gs1_message_error or "not a GS1 element string"
        if "check digit" in error:
            raise Gs1Error(Gs1ErrorCode.bad_check_digit, error)
        if re.search(r"\((1[1-7])\)", error):  # AIs 11-17 are dates
            raise Gs1Error(Gs1ErrorCode.bad_date, f"invalid date in {body!r}: {error}")
        raise Gs1Error(Gs1ErrorCode.malformed, f"not valid GS1: {error}")
    values: dict[str, str] = {}
    expiry: dt.date | None = None
    for element in message.element_strings:
        ai = element.ai.ai
        if ai in values:
            raise Gs1Error(Gs1ErrorCode.malformed, f"AI ({ai}) appears twice in {body!r}")
        values[ai] = element.value
        if ai in ("01", "02") and element.gtin is None:
            raise Gs1Error(
                Gs1ErrorCode.bad_check_digit, element.gtin_error or f"bad GTIN in ({ai})"
            )
        if ai == "00" and element.sscc is None:
            raise Gs1Error(Gs1ErrorCode.bad_check_digit, element.sscc_error or "bad SSCC")
        if ai == "17":
            if element.date is None:
                raise Gs1Error(Gs1ErrorCode.bad_date, f"invalid expiry {element.value!r}")
            expiry = element.date
    if not values.keys() & {"00", "01", "02"}:
        raise Gs1Error(Gs1ErrorCode.no_key, f"no GTIN or SSCC (AI 00/01/02) in {body!r}")
    gtin_text = values.get("01") or values.get("02")
    gtin = Gtin.parse(gtin_text).as_gtin_14() if gtin_text else None
    sscc = values.get("00")
    if set(values) == {"00"}:
        kind = ScanKind.sscc
    elif set(values) in ({"01"}, {"02"}):
        kind = ScanKind.gtin
    else:
        kind = ScanKind.gs1
    return ScanCode(
        kind,
        body,
        symbology,
        gtin=gtin,
        sscc=sscc,
        lot=values.get("10"),
        expiry=expiry,
        serial=values.get("21"),
    )

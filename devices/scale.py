"""Read the ASCII weight frames that serial scales send, continuously or on demand.

Most bench and floor scales speak one of a few line formats (each line ends with CR LF;
the frame decoder has already cut the line and removed the terminator):

Mettler Toledo MT-SICS (reply to ``S``/``SI``, or continuous ``SIR``)::

    S S     1.234 kg      stable         S D     1.230 kg     dynamic (not stable)
    S I                   not ready      S +  /  S -          over / under the range
    ES / ET / EL          syntax, transmission, logic error

A&D "standard format" (A&D FX/GX/EK/GF and the many indicators that copy it)::

    ST,+00123.45  g       stable         US,+00123.40  g      unstable
    OL,+9999999   g       overload       QT,+000000010 PC     counting (not a weight)

CAS / T-Scale style, with a gross/net field::

    ST,GS,+  1.234kg      stable gross   US,NT,-  0.020kg     unstable net
    ST,+001.25,kg         (a comma before the unit also occurs)

Plain print-on-demand lines from simple indicators::

    "   1.234 kg"  "12.5 lb G"  "0.750 kg N"  "1.2 kg ?"   ("?" or "M" = motion)

A plain line has no stability field; indicators print it when the operator presses PRINT
(most refuse while in motion), so it counts as stable unless it carries a motion mark.

The weight is converted to whole grams (kg, g, mg, lb, oz; 1 lb = 453.59237 g and
1 oz = 28.349523125 g exactly), rounding half up; a negative weight is kept (it means
something was taken off after taring).  Everything else raises :class:`ScaleError` with
a :class:`ScaleErrorCode`: the scale's own error states (``overload``, ``underload``,
``not_ready``, ``scale_error``), a weight in a unit that is not a mass (``bad_unit``,
e.g. pieces), or a line that matches no format (``unrecognised``).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from core.errors import FloorError

MAX_WEIGHT_G = 1_000_000  # a tonne: the most a carton can weigh (web/pack_pages.py uses it too)

_GRAMS_PER_UNIT = {
    "kg": Decimal(1000),
    "g": Decimal(1),
    "mg": Decimal("0.001"),
    "lb": Decimal("453.59237"),
    "lbs": Decimal("453.59237"),
    "oz": Decimal("28.349523125"),
}
_NUMBER = r"(?P<sign>[-+])?\s*(?P<num>\d{1,9}(?:\.\d{0,6})?|\.\d{1,6})"
_UNIT = r"(?P<unit>[A-Za-z]{1,4})"

_SICS = re.compile(r"S\s+(?P<status>[SD])\s+" + _NUMBER + r"\s*" + _UNIT)
_SICS_STATE = re.compile(r"S\s+(?P<state>[I+\-])")
_HEADER = re.compile(
    r"(?P<header>ST|US|OL|QT|WT|NT|GS)\s*,(?:\s*(?P<mode>GS|NT|GW|NW|TR)\s*,)?\s*"
    + _NUMBER
    + r"\s*,?\s*"
    + _UNIT
)
_OVERLOAD = re.compile(r"(?P<header>OL)\s*,.*")
_PLAIN = re.compile(
    _NUMBER + r"\s*" + _UNIT + r"(?P<tail>(?:\s+(?:G|N|GS|NT|GROSS|NET|\?|M))*)\s*\??",
    re.IGNORECASE,
)


class ScaleErrorCode(enum.StrEnum):
    empty = "empty"
    unrecognised = "unrecognised"
    bad_unit = "bad_unit"
    overload = "overload"
    underload = "underload"
    not_ready = "not_ready"
    scale_error = "scale_error"
    tare_frame = "tare_frame"
    out_of_range = "out_of_range"  # negative, or above MAX_WEIGHT_G: no carton weight


class ScaleError(FloorError, ValueError):
    """A scale line that is no usable weight; ``code`` says why."""

    http_status = 422

    def __init__(self, code: ScaleErrorCode, message: str) -> None:
        super().__init__(code, message)


@dataclass(frozen=True)
class ScaleReading:
    """One weight: whole grams, whether the scale called it stable, and the line it came from."""

    weight_g: int
    stable: bool
    raw: str


def to_grams(number: str, unit: str, sign: str | None = None) -> int:
    """``to_grams("1.2345", "kg") == 1235``; raises ScaleError for a non-mass unit."""
    factor = _GRAMS_PER_UNIT.get(unit.lower())
    if factor is None:
        raise ScaleError(ScaleErrorCode.bad_unit, f"unit {unit!r} is not a mass")
    grams = (Decimal(number) * factor).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return -int(grams) if sign == "-" else int(grams)


def check_range(reading: ScaleReading) -> ScaleReading:
    """The reading if it can be a carton's weight (0..MAX_WEIGHT_G g); ScaleError otherwise.

    The parser keeps a negative weight (the scale was tared with something on it), but
    neither that nor a reading above the maximum (a garbled or mis-configured scale) is a
    weight to close a carton with."""
    if reading.weight_g < 0:
        raise ScaleError(
            ScaleErrorCode.out_of_range,
            f"negative weight ({reading.weight_g} g): clear the pan and tare the scale",
        )
    if reading.weight_g > MAX_WEIGHT_G:
        raise ScaleError(
            ScaleErrorCode.out_of_range,
            f"{reading.weight_g} g is above the maximum of {MAX_WEIGHT_G} g",
        )
    return reading


def parse_scale_frame(text: str) -> ScaleReading:
    """Parse one line from a scale (terminator already removed)."""
    line = text.strip()
    if not line:
        raise ScaleError(ScaleErrorCode.empty, "empty line")
    if line in ("ES", "ET", "EL"):
        meaning = {"ES": "syntax", "ET": "transmission", "EL": "logical"}[line]
        raise ScaleError(ScaleErrorCode.scale_error, f"scale reports a {meaning} error ({line})")
    if m := _SICS.fullmatch(line):
        grams = to_grams(m["num"], m["unit"], m["sign"])
        return ScaleReading(grams, m["status"] == "S", text)
    if m := _SICS_STATE.fullmatch(line):
        code, meaning = {
            "I": (ScaleErrorCode.not_ready, "scale not ready"),
            "+": (ScaleErrorCode.overload, "over the weighing range"),
            "-": (ScaleErrorCode.underload, "under the weighing range (pan off?)"),
        }[m["state"]]
        raise ScaleError(code, meaning)
    if m := _HEADER.fullmatch(line):
        return _header_reading(m, text)
    if _OVERLOAD.fullmatch(line):
        raise ScaleError(ScaleErrorCode.overload, "over the weighing range")
    if m := _PLAIN.fullmatch(line):
        tail = m["tail"].upper().split()
        motion = "?" in tail or "M" in tail or line.endswith("?")
        return ScaleReading(to_grams(m["num"], m["unit"], m["sign"]), not motion, text)
    raise ScaleError(ScaleErrorCode.unrecognised, f"not a weight line: {line[:40]!r}")


def _header_reading(m: re.Match[str], text: str) -> ScaleReading:
    header, mode = m["header"], m["mode"]
    if header == "OL":
        raise ScaleError(ScaleErrorCode.overload, "over the weighing range")
    if header == "QT":
        raise ScaleError(ScaleErrorCode.bad_unit, "a piece count, not a weight")
    if mode == "TR":
        raise ScaleError(ScaleErrorCode.tare_frame, "a tare value, not the weight")
    stable = header != "US"
    return ScaleReading(to_grams(m["num"], m["unit"], m["sign"]), stable, text)

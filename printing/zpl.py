"""GS1 shipping labels in ZPL for 4x6 in labels at 203 dpi, with field data that cannot inject ZPL.

Layout (812 x 1218 dots, origin top left, 30-dot margins)::

    y    0 +--------------------------------------------------+
           | FROM  name / line1 / line2 / postcode city / cc   |  small text
       170 +--------------------------------------------------+
           | SHIP TO                                           |
           |   NAME                                            |  large text
           |   line1 / line2 / postcode city region / country  |
       430 +--------------------------------------------------+
           | UPS GROUND · demo                       +-------+ |  carrier, service
           | ORDER  SO-1042                          |  QR   | |  of the ORDER
           | PACKAGE 1 OF 2    WEIGHT 1.25 kg        +-------+ |
       640 +--------------------------------------------------+
           | TRACKING  ||||| Code 128 ||||||                   |
           |           1Z999AA10123456784                      |
       835 +--------------------------------------------------+
           | SSCC      ||||| GS1-128 (00) |||||               |  bars 254 dots (31.75 mm)
           |           (00) 0 0614141 123456789 0              |
      1218 +--------------------------------------------------+

The SSCC is encoded as GS1-128: ``^BC`` with the data ``>;>800<18 digits>``, where ``>;`` starts
Code 128 subset C and ``>8`` is FNC1 in first position, which is what makes the symbol GS1-128. A
scanner reports it as ``]C1`` + ``00...`` (or ``(00)...`` in human-readable form). The tracking
number is a plain Code 128 (``^BC`` with its own interpretation line). The 2D code is a QR code
(``^BQ``, error correction Q, automatic data mode); DataMatrix is not used because ``^BX`` gives
``~`` a meaning of its own inside its data.

Escaping rule. A Zebra reads ``^`` (format prefix) and ``~`` (control prefix) anywhere in the
stream, also inside ``^FD`` field data: ``~JR`` in a name resets the printer the moment it arrives
and ``^XZ^XA`` ends the label and starts another. Every variable field is therefore written as
``^FH_^FD<escaped>^FS``: ``^FH_`` makes ``_`` the hex indicator, and ``escape_field`` writes as
``_XX`` every byte of the UTF-8 text that is not in a short whitelist (letters, digits, space and
``.,-/#&()'+:;*@!?%=``). So ``^``, ``~``, ``_``, ``\\``, ``>``, NUL, CR, LF and every non-ASCII
byte appear only as hex, and the bytes of field data on the wire can never form a command.
``^CI28`` tells the printer that the bytes the hex escapes decode to are UTF-8.

Printable text. The resident bitmap fonts print ISO 8859-1 (Latin-1); font 0 is used for text that
is plain ASCII and bitmap font D for the rest (the renderer's capture of font 0 has ASCII only). A
character outside Latin-1 is first reduced to its Latin-1 base letters (``č`` -> ``c``), and if none
remain, printed as ``?``: a printer without a downloaded Unicode font cannot print ``山田`` at all,
and carriers want Latin script on labels. The 2D code carries the caller's payload unchanged.
Control characters become spaces. Over-long lines are cut with ``...``.

Carrier labels: ``passthrough`` accepts ZPL from a carrier adapter unchanged once it has checked,
with zplkit's ZPL tokenizer (the printer's own view of the stream), that it is exactly one
``^XA``..``^XZ`` block with no printer-control or configuration command except graphic and font
downloads.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from dataclasses import dataclass

from biip import ParseError as BiipParseError
from biip.sscc import Sscc
from zplkit.parse import ParseError, parse

from core.errors import FloorError

LABEL_WIDTH_DOTS = 812  # 4 in at 203 dpi
LABEL_HEIGHT_DOTS = 1218  # 6 in at 203 dpi
MARGIN_DOTS = 30
HEX_INDICATOR = "_"
SAFE_FIELD_CHARS = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 .,-/#&()'+:;*@!?%="
)
MAX_QR_PAYLOAD_BYTES = 300
_TRACKING_RE = re.compile(r"[A-Za-z0-9]{1,40}")

# Downloads a carrier label may carry before its format (logos, fonts); nothing else with "~".
_PASSTHROUGH_CONTROL_OK = frozenset({"DG", "DY", "DB", "DU", "DT"})
# Format commands that change or save printer configuration rather than draw a label.
_PASSTHROUGH_FORMAT_REFUSED = frozenset({"JU", "JZ", "KP", "KN", "NC", "NI", "NS", "ND", "DF"})


class LabelErrorCode(enum.StrEnum):
    bad_sscc = "bad_sscc"
    bad_tracking_number = "bad_tracking_number"
    bad_package_count = "bad_package_count"
    bad_weight = "bad_weight"
    qr_payload_too_long = "qr_payload_too_long"
    empty_field = "empty_field"
    not_one_label = "not_one_label"
    unparsable_zpl = "unparsable_zpl"
    control_command = "control_command"
    config_command = "config_command"


class LabelError(FloorError, ValueError):
    """A label that cannot be built or passed through; ``code`` says why."""

    http_status = 422

    def __init__(self, code: LabelErrorCode, message: str) -> None:
        super().__init__(code, message)

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


@dataclass(frozen=True)
class Address:
    name: str
    line1: str
    line2: str
    city: str
    region: str
    postcode: str
    country: str


@dataclass(frozen=True)
class ShippingLabel:
    ship_from: Address
    ship_to: Address
    carrier: str  # of the order, e.g. "ups"
    service: str  # of the order, e.g. "ground"
    carrier_is_demo: bool  # the demo carrier stands in for `carrier` and the label says so
    tracking_number: str
    sscc: str  # 18 digits, valid GS1 check digit
    order_ref: str
    package_no: int  # 1-based
    package_count: int
    weight_g: int
    qr_payload: str


# --- field data ---------------------------------------------------------------------------------


def escape_field(text: str) -> str:
    """Field data for ``^FH_^FD...^FS``: every byte outside ``SAFE_FIELD_CHARS`` becomes ``_XX``."""
    if SAFE_FIELD_CHARS.issuperset(text):
        return text  # most fields: nothing to escape
    out: list[str] = []
    for ch in text:
        if ch in SAFE_FIELD_CHARS:
            out.append(ch)
        else:
            out.extend(f"{HEX_INDICATOR}{b:02X}" for b in ch.encode("utf-8"))
    return "".join(out)


def printable_text(text: str, max_chars: int | None = None) -> str:
    """What the resident fonts can print: Latin-1 only, control characters as spaces, cut at
    ``max_chars`` with ``...``."""
    if text.isascii() and text.isprintable():  # no control characters, nothing to fold
        clean = " ".join(text.split())
        if max_chars is not None and len(clean) > max_chars:
            clean = clean[: max(max_chars - 3, 0)].rstrip() + "..."
        return clean
    out: list[str] = []
    for ch in text:
        if unicodedata.category(ch)[0] == "C":  # Cc, Cf, Cs, Co, Cn: NUL, CR, LF, BOM...
            out.append(" ")
        elif ord(ch) <= 0xFF:
            out.append(ch)
        else:
            base = "".join(
                c for c in unicodedata.normalize("NFKD", ch) if ord(c) <= 0xFF and c.isprintable()
            )
            out.append(base if base else "?")
    clean = " ".join("".join(out).split())
    if max_chars is not None and len(clean) > max_chars:
        clean = clean[: max(max_chars - 3, 0)].rstrip() + "..."
    return clean


def field(x: int, y: int, text: str, *, font: str = "0", height: int = 30, width: int = 0) -> str:
    """One text field at (x, y) dots, escaped. Font 0 for ASCII text; text with other Latin-1
    letters goes to bitmap font D at the nearest whole magnification of its 18x10 cell."""
    if font == "0" and not text.isascii():
        mag = max(1, round(height / 18))
        font, height, width = "D", 18 * mag, 10 * mag
    return f"^FO{x},{y}^A{font}N,{height},{width}^FH{HEX_INDICATOR}^FD{escape_field(text)}^FS"


def _box(x: int, y: int, w: int, h: int, thickness: int = 3) -> str:
    return f"^FO{x},{y}^GB{w},{h},{thickness}^FS"


# --- validation ---------------------------------------------------------------------------------


def sscc_hri(sscc: str) -> str:
    """Human-readable SSCC with its AI, grouped as GS1 prints it: ``(00) 0 0614141 123456789 0``
    (company prefix and serial reference grouped where the prefix length is known)."""
    return "(00) " + _parse_sscc(sscc).as_hri()


def _parse_sscc(sscc: str) -> Sscc:
    if not (len(sscc) == 18 and sscc.isascii() and sscc.isdigit()):
        raise LabelError(LabelErrorCode.bad_sscc, f"an SSCC is 18 digits, got {sscc!r}")
    try:
        return Sscc.parse(sscc)
    except BiipParseError as exc:
        raise LabelError(LabelErrorCode.bad_sscc, str(exc)) from exc


def _validate(label: ShippingLabel) -> None:
    _parse_sscc(label.sscc)
    if not _TRACKING_RE.fullmatch(label.tracking_number):
        raise LabelError(
            LabelErrorCode.bad_tracking_number,
            f"tracking numbers are 1-40 letters and digits, got {label.tracking_number!r}",
        )
    if not (1 <= label.package_no <= label.package_count <= 999):
        raise LabelError(
            LabelErrorCode.bad_package_count,
            f"package {label.package_no} of {label.package_count}",
        )
    if not (0 <= label.weight_g <= 1_000_000):
        raise LabelError(LabelErrorCode.bad_weight, f"weight {label.weight_g} g")
    if len(label.qr_payload.encode("utf-8")) > MAX_QR_PAYLOAD_BYTES:
        raise LabelError(
            LabelErrorCode.qr_payload_too_long, f"more than {MAX_QR_PAYLOAD_BYTES} bytes"
        )
    if not label.qr_payload:
        raise LabelError(LabelErrorCode.empty_field, "the 2D code needs a payload")
    for what, value in (("ship-to name", label.ship_to.name), ("order ref", label.order_ref)):
        if not printable_text(value):
            raise LabelError(LabelErrorCode.empty_field, f"{what} is empty")


# --- the label ----------------------------------------------------------------------------------


def format_weight(weight_g: int) -> str:
    """Grams as kilograms with two decimals, rounded half up: 1254 -> ``1.25 kg``."""
    centi_kg = (weight_g + 5) // 10
    return f"{centi_kg // 100}.{centi_kg % 100:02d} kg"


def carrier_line(label: ShippingLabel) -> str:
    """Carrier and service of the order: ``UPS GROUND · demo`` when the demo carrier ships it."""
    text = f"{label.carrier} {label.service}".replace("_", " ").upper()
    return f"{text} · demo" if label.carrier_is_demo else text


def _address_lines(a: Address) -> list[str]:
    city_line = " ".join(part for part in (a.postcode, a.city, a.region) if part.strip())
    return [line for line in (a.line1, a.line2, city_line, a.country) if line.strip()]


def _barcode_module_dots(data_chars: int, max_dots: int) -> int:
    """Widest ``^BY`` module (3, 2 or 1 dots) whose Code 128 (subset B) still fits ``max_dots``."""
    modules = 11 * (data_chars + 3) + 2  # start, data, check, stop (13 modules) + quiet none
    for module in (3, 2):
        if modules * module <= max_dots:
            return module
    return 1


def build_shipping_label(label: ShippingLabel) -> str:
    """The ZPL of one 4x6 in GS1 shipping label (see the module docstring for layout and escaping).

    Raises ``LabelError`` for an invalid SSCC, tracking number, package count, weight or payload.
    """
    _validate(label)
    m, w = MARGIN_DOTS, LABEL_WIDTH_DOTS
    inner = w - 2 * m
    parts = [f"^XA^CI28^PW{w}^LL{LABEL_HEIGHT_DOTS}^LH0,0^PON"]

    # Ship from: small text.
    parts.append(field(m, 30, "FROM", height=22))
    y = 56
    for line in [label.ship_from.name, *_address_lines(label.ship_from)]:
        parts.append(field(m, y, printable_text(line, 70), font="D", height=18, width=10))
        y += 22
    parts.append(_box(m, 170, inner, 0))

    # Ship to: large text.
    parts.append(field(m, 182, "SHIP TO", height=26))
    y = 215
    for line in [label.ship_to.name, *_address_lines(label.ship_to)][:5]:
        parts.append(field(m + 20, y, printable_text(line, 34), font="D", height=36, width=20))
        y += 42
    parts.append(_box(m, 430, inner, 0))

    # Carrier and service of the order, order, package n of m, weight; QR on the right.
    parts.append(field(m, 450, printable_text(carrier_line(label), 26), height=44))
    parts.append(field(m, 515, "ORDER " + printable_text(label.order_ref, 26), height=34))
    parts.append(field(m, 560, f"PACKAGE {label.package_no} OF {label.package_count}", height=34))
    parts.append(field(m, 600, "WEIGHT " + format_weight(label.weight_g), height=34))
    qr_mag = 4 if len(label.qr_payload.encode("utf-8")) <= 80 else 3
    parts.append(
        f"^FO{w - m - 180},445^BQN,2,{qr_mag}^FH{HEX_INDICATOR}"
        f"^FDQA,{escape_field(label.qr_payload)}^FS"
    )
    parts.append(_box(m, 640, inner, 0))

    # Tracking number: Code 128 with its interpretation line.
    parts.append(field(m, 652, "TRACKING", height=24))
    module = _barcode_module_dots(len(label.tracking_number), inner)
    parts.append(
        f"^FO{m},685^BY{module},3^BCN,110,Y,N,N^FH{HEX_INDICATOR}"
        f"^FD{escape_field(label.tracking_number)}^FS"
    )
    parts.append(_box(m, 835, inner, 0))

    # SSCC: GS1-128, AI (00), subset C after FNC1; 0.5 mm modules, 31.75 mm bars.
    parts.append(field(m, 845, "SSCC", height=24))
    parts.append(f"^FO{m + 40},872^BY4,3^BCN,254,N,N,N^FD>;>800{label.sscc}^FS")
    parts.append(field(m + 40, 1140, sscc_hri(label.sscc), height=44))

    parts.append("^XZ")  # quantity defaults to one label
    return "\n".join(parts) + "\n"


# --- carrier labels -----------------------------------------------------------------------------


def passthrough(zpl: str) -> str:
    """A carrier's own label, returned unchanged once checked to be one ``^XA``..``^XZ`` block.

    Graphic and font downloads (``~DG``, ``~DY``...) may stand before ``^XA``; any other control
    command (``~JR`` reset, ``~HS``...), a second label or a configuration command (``^JU`` save,
    ``^NC`` network...) is refused with a ``LabelError``.
    """
    if not zpl.strip():
        raise LabelError(LabelErrorCode.not_one_label, "empty label")
    try:
        elements = parse(zpl).elements
    except ParseError as exc:
        raise LabelError(LabelErrorCode.unparsable_zpl, str(exc)) from exc
    starts = ends = 0
    for element in elements:
        data = element.data
        name = data[1:3].decode("ascii", "replace").upper()
        if element.kind == "before_first_command":
            if data.strip():
                raise LabelError(LabelErrorCode.not_one_label, "text before the first command")
        elif element.kind in ("control_command", "control_character"):
            if element.kind == "control_character" or name not in _PASSTHROUGH_CONTROL_OK:
                raise LabelError(
                    LabelErrorCode.control_command,
                    f"control command {data[:4]!r} at byte {element.offset}",
                )
            if starts:
                raise LabelError(LabelErrorCode.control_command, "download inside the label")
        elif name == "XA":
            starts += 1
            if starts > 1 or ends:
                raise LabelError(LabelErrorCode.not_one_label, "more than one ^XA")
        elif name == "XZ":
            ends += 1
            if ends > 1 or not starts:
                raise LabelError(LabelErrorCode.not_one_label, "^XZ without its ^XA")
        elif not starts or ends:
            if data.strip():
                raise LabelError(LabelErrorCode.not_one_label, "command outside ^XA..^XZ")
        elif name in _PASSTHROUGH_FORMAT_REFUSED:
            raise LabelError(LabelErrorCode.config_command, f"configuration command ^{name}")
    if starts != 1 or ends != 1:
        raise LabelError(LabelErrorCode.not_one_label, f"{starts} ^XA and {ends} ^XZ")
    return zpl

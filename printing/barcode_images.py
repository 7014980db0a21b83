"""Barcode pictures for web pages: Code 128 as SVG, QR codes as PNG or SVG.

The supervisor's pages show a location's, a pick list's or a package's code as a picture that a
handheld can scan straight off the monitor, and that a browser can print.  Two libraries draw them:

* ``python-barcode`` draws Code 128 (its ``SVGWriter`` writes a standalone SVG document with the
  human-readable line under the bars).  Code 128 switches between its code sets by itself, so digit
  runs are packed two per symbol.
* ``qrcode`` draws QR codes (PNG through Pillow, SVG as one ``<path>``), error correction level M
  (15 % of the symbol can be damaged), which survives a smudged print or a glare on a screen.

What may be encoded is checked first, so bad data gives a reason-coded :class:`BarcodeError`
instead of a library's own exception:

* Code 128 data must be 1..:data:`CODE128_MAX_CHARS` *printable ASCII* characters (space to ``~``).
  Code 128 can carry control characters too, but a keyboard-wedge scanner turns those into key
  presses (Tab, Enter) that would end a scan field early, so they are refused here.
* QR data is any non-empty text (UTF-8 in the symbol) up to what a version-40 symbol holds at level
  M; longer text is refused as ``too_long``.

:func:`check_code128_data` is the same rule for other drawers (the PDFs in
``printing.documents`` draw Code 128 with reportlab, and refuse what this module refuses).
"""

from __future__ import annotations

import enum
import io

import barcode
import qrcode
import qrcode.constants
import qrcode.exceptions
import qrcode.image.pil
import qrcode.image.svg
from barcode.writer import SVGWriter

from core.errors import FloorError

#: Longest Code 128 data accepted: a longer symbol no longer fits a label or a handheld's window.
CODE128_MAX_CHARS = 48


class BarcodeErrorCode(enum.StrEnum):
    empty = "empty"  # nothing to encode
    not_printable_ascii = "not_printable_ascii"  # Code 128 here takes space..~ only
    too_long = "too_long"  # more than the symbol (or a label) can hold


class BarcodeError(FloorError, ValueError):
    """Data that cannot be drawn as the asked barcode; ``code`` says why."""

    http_status = 422

    def __init__(self, code: BarcodeErrorCode, message: str) -> None:
        super().__init__(code, message)


def check_code128_data(data: str) -> str:
    """Return ``data`` when it can be drawn as Code 128 here, else raise :class:`BarcodeError`."""
    if not isinstance(data, str) or data == "":
        raise BarcodeError(BarcodeErrorCode.empty, "nothing to encode as Code 128")
    bad = sorted({ch for ch in data if not " " <= ch <= "~"})
    if bad:
        raise BarcodeError(
            BarcodeErrorCode.not_printable_ascii,
            f"Code 128 takes printable ASCII only; refused characters: {''.join(bad)!r}",
        )
    if len(data) > CODE128_MAX_CHARS:
        raise BarcodeError(
            BarcodeErrorCode.too_long,
            f"Code 128 data is {len(data)} characters; at most {CODE128_MAX_CHARS}",
        )
    return data


def code128_svg(data: str, *, module_width_mm: float = 0.33, bar_height_mm: float = 15.0) -> str:
    """A standalone SVG document of ``data`` as Code 128, with its human-readable line.

    ``module_width_mm`` is the narrowest bar (0.33 mm scans well off paper and off a screen at
    100 %); ``bar_height_mm`` the height of the bars.
    """
    check_code128_data(data)
    symbol = barcode.Code128(data, writer=SVGWriter())
    svg = symbol.render(
        {
            "module_width": module_width_mm,
            "module_height": bar_height_mm,
            "quiet_zone": 6.5,  # at least 10 modules either side, as the standard asks
            "font_size": 10,
            "text_distance": 4.5,
            "compress": False,
        }
    )
    return svg.decode("utf-8")


def _qr(data: str, box_size: int) -> qrcode.QRCode:
    if not isinstance(data, str) or data == "":
        raise BarcodeError(BarcodeErrorCode.empty, "nothing to encode as a QR code")
    qr = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        box_size=box_size,
        border=4,  # the quiet zone the standard asks for
    )
    qr.add_data(data.encode("utf-8"))
    try:
        qr.make(fit=True)
    except (qrcode.exceptions.DataOverflowError, ValueError) as exc:
        raise BarcodeError(
            BarcodeErrorCode.too_long,
            f"{len(data.encode('utf-8'))} bytes do not fit a QR code at error correction M",
        ) from exc
    return qr


def qr_matrix(data: str) -> list[list[bool]]:
    """The QR symbol of ``data`` as rows of modules (True = dark), quiet zone included, for
    drawers that make their own picture (the PDFs draw it as vector squares)."""
    return _qr(data, box_size=1).get_matrix()


def qr_png(data: str, *, box_size: int = 8) -> bytes:
    """``data`` as a QR code in a PNG (black on white, ``box_size`` pixels per module)."""
    qr = _qr(data, box_size)
    out = io.BytesIO()
    qr.make_image(image_factory=qrcode.image.pil.PilImage).save(out, format="PNG")
    return out.getvalue()


def qr_svg(data: str) -> str:
    """``data`` as a QR code in a standalone SVG document (one path; scales without blur)."""
    qr = _qr(data, box_size=10)
    out = io.BytesIO()
    qr.make_image(image_factory=qrcode.image.svg.SvgPathImage).save(out)
    return out.getvalue().decode("utf-8")

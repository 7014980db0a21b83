"""What every document shares: the font, the paragraph styles, Code 128 sized to fit, and the
"page n of m" footer.

Fonts
    reportlab's 14 built-in fonts (Helvetica, ...) know only Latin-1-ish letters; a customer named
    "Łukasz Żółć" or "山田" would print as blanks.  So the documents embed a TrueType font: DejaVu
    Sans from Debian's ``fonts-dejavu-core`` (directory ``/usr/share/fonts/truetype/dejavu``, or
    ``FLOOR_DOC_FONT_DIR``).  Where it is missing, they fall back to Helvetica, log a warning
    once, and replace what Helvetica cannot show by ``?`` (so the text stays readable instead of
    crashing or silently dropping letters); :func:`document_fonts` says which is in use.

Code 128
    Drawn by ``reportlab.graphics.barcode.code128`` (vector bars, sharp at any printer resolution)
    with a quiet zone of 10 modules either side.  :func:`code128_fitting` picks the widest narrow
    bar, up to the asked one, whose symbol fits the space - a long code gets thinner bars rather
    than running off a label.  Thinner than :data:`MIN_MODULE_PT` would not scan off a laser
    print, so a code that needs that is refused (the data checks keep codes short enough).

Page n of m
    reportlab learns the page count only at the end, so :func:`numbered_canvas` keeps each page's
    drawing until ``save`` and then writes the footers.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.graphics.barcode.code128 import Code128
from reportlab.lib import colors
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, Frame
from reportlab.platypus.doctemplate import BaseDocTemplate

from printing.barcode_images import BarcodeError, qr_matrix
from printing.documents.model import DocumentError, DocumentErrorCode

log = logging.getLogger(__name__)

DEFAULT_FONT_DIR = "/usr/share/fonts/truetype/dejavu"
FONT_DIR_ENV = "FLOOR_DOC_FONT_DIR"

#: Narrowest Code 128 bar drawn: 0.19 mm (about 1.5 dots at 203 dpi, 4.5 at 600 dpi).
MIN_MODULE_PT = 0.19 * mm
#: The narrow bar asked for by default: 0.33 mm, comfortable for any handheld at arm's length.
DEFAULT_MODULE_PT = 0.33 * mm

INK = colors.HexColor("#1a1a1a")
MUTED = colors.HexColor("#5f6368")
RULE = colors.HexColor("#c8ccd0")
BAND = colors.HexColor("#eef1f4")
ACCENT = colors.HexColor("#1f4e79")
WARN = colors.HexColor("#b3261e")


@dataclass(frozen=True)
class Fonts:
    regular: str
    bold: str
    mono: str
    embedded: bool  # True: a TrueType font with non-Latin letters; False: Helvetica fallback
    note: str  # one line saying which font is used and why

    def clean(self, text: str) -> str:
        """``text`` as this font can draw it (unchanged with the TrueType font)."""
        if self.embedded:
            return text
        return text.encode("cp1252", "replace").decode("cp1252")

    def para(self, text: str) -> str:
        """``text`` made safe for a reportlab Paragraph (which parses ``<b>``-style markup)."""
        return escape(self.clean(text))


@lru_cache(maxsize=8)
def _fonts_from(font_dir: str) -> Fonts:
    files = {
        "regular": Path(font_dir, "DejaVuSans.ttf"),
        "bold": Path(font_dir, "DejaVuSans-Bold.ttf"),
        "mono": Path(font_dir, "DejaVuSansMono-Bold.ttf"),
    }
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        note = (
            f"DejaVu Sans not found ({', '.join(missing)}): documents use Helvetica and print "
            "letters outside Latin-1 as '?'. Install Debian's fonts-dejavu-core or set "
            f"{FONT_DIR_ENV}."
        )
        log.warning(note)
        return Fonts("Helvetica", "Helvetica-Bold", "Courier-Bold", False, note)
    tag = hashlib.sha1(font_dir.encode()).hexdigest()[:6]
    names = {role: f"DocSans-{role}-{tag}" for role in files}
    for role, path in files.items():
        if names[role] not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(TTFont(names[role], str(path)))
    pdfmetrics.registerFontFamily(
        names["regular"],
        normal=names["regular"],
        bold=names["bold"],
        italic=names["regular"],
        boldItalic=names["bold"],
    )
    return Fonts(
        names["regular"],
        names["bold"],
        names["mono"],
        True,
        f"DejaVu Sans from {font_dir} (embedded, covers Latin, Greek, Cyrillic and more)",
    )


def document_fonts() -> Fonts:
    """The fonts documents use now (``FLOOR_DOC_FONT_DIR`` or Debian's DejaVu directory)."""
    return _fonts_from(os.environ.get(FONT_DIR_ENV, DEFAULT_FONT_DIR))


def styles(fonts: Fonts) -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("base", fontName=fonts.regular, fontSize=9.5, leading=12, textColor=INK)
    return {
        "body": base,
        "small": ParagraphStyle("small", base, fontSize=8, leading=10, textColor=MUTED),
        "cell": ParagraphStyle("cell", base, fontSize=9, leading=11),
        "cell_bold": ParagraphStyle(
            "cell_bold", base, fontName=fonts.bold, fontSize=10, leading=12
        ),
        "head": ParagraphStyle(
            "head", base, fontName=fonts.bold, fontSize=8, leading=10, textColor=MUTED
        ),
        "title": ParagraphStyle("title", base, fontName=fonts.bold, fontSize=18, leading=22),
        "h2": ParagraphStyle(
            "h2",
            base,
            fontName=fonts.bold,
            fontSize=11,
            leading=14,
            spaceBefore=8,
            spaceAfter=4,
            textColor=ACCENT,
        ),
    }


class _Code128(Code128):
    """Code 128 bars always black (reportlab draws them in the canvas's current fill colour)."""

    def draw(self) -> None:
        self.canv.saveState()
        self.canv.setFillColor(colors.black)
        super().draw()
        self.canv.restoreState()


def code128_fitting(
    value: str, max_width_pt: float, bar_height_pt: float, module_pt: float = DEFAULT_MODULE_PT
) -> Code128:
    """A Code 128 flowable of ``value`` (bars only) no wider than ``max_width_pt``, quiet zones
    included, with the narrow bar as close to ``module_pt`` as fits."""
    probe = Code128(
        value,
        barWidth=1.0,
        barHeight=bar_height_pt,
        humanReadable=False,
        quiet=True,
        lquiet=10.0,
        rquiet=10.0,
    )
    modules = probe.width  # with barWidth 1 the width is the module count
    bar = min(module_pt, max_width_pt / modules)
    if bar < MIN_MODULE_PT:
        raise DocumentError(
            DocumentErrorCode.bad_barcode_data,
            f"{value!r} is too long for a Code 128 of {max_width_pt / mm:.0f} mm",
        )
    return _Code128(
        value,
        barWidth=bar,
        barHeight=bar_height_pt,
        humanReadable=False,
        quiet=True,
        lquiet=10 * bar,
        rquiet=10 * bar,
    )


def fit_text(
    text: str, font: str, max_size: float, min_size: float, width_pt: float
) -> tuple[str, float]:
    """``text`` and a font size that fit ``width_pt``: the largest size up to ``max_size``; below
    ``min_size`` the text is cut and ends with an ellipsis instead (never overprinting)."""
    size = min(max_size, width_pt / (stringWidth(text, font, 1) or 1))
    if size >= min_size:
        return text, size
    while text and stringWidth(text + "…", font, min_size) > width_pt:
        text = text[:-1]
    return text.rstrip() + "…", min_size


class TickBox(Flowable):
    """An empty square to tick by hand."""

    def __init__(self, size_pt: float) -> None:
        super().__init__()
        self.width = self.height = size_pt

    def draw(self) -> None:
        self.canv.setStrokeColor(INK)
        self.canv.setLineWidth(0.8)
        self.canv.rect(0, 0, self.width, self.height, stroke=1, fill=0)


class QrCode(Flowable):
    """``data`` as a QR code of ``size_pt`` square (drawn by ``qrcode``'s matrix as vector
    squares, so it prints sharp; same encoding as :func:`printing.barcode_images.qr_png`)."""

    def __init__(self, data: str, size_pt: float) -> None:
        super().__init__()
        try:
            self.matrix = qr_matrix(data)
        except BarcodeError as exc:
            raise DocumentError(
                DocumentErrorCode.bad_barcode_data, f"QR code: {exc.message}"
            ) from exc
        self.width = self.height = size_pt

    def draw(self) -> None:
        n = len(self.matrix)
        cell = self.width / n
        self.canv.setFillColor(colors.black)
        for r, row in enumerate(self.matrix):
            for col, dark in enumerate(row):
                if dark:
                    # a hair of overlap so neighbouring squares print without seams
                    self.canv.rect(
                        col * cell,
                        self.height - (r + 1) * cell,
                        cell + 0.05,
                        cell + 0.05,
                        stroke=0,
                        fill=1,
                    )


FooterFn = Callable[[Canvas, int, int], None]


def numbered_canvas(footer: FooterFn) -> type[Canvas]:
    """A Canvas class that calls ``footer(canvas, page_number, page_count)`` on every page once
    the page count is known (pass it to ``doc.build(..., canvasmaker=...)``)."""

    class NumberedCanvas(Canvas):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)
            self._saved_pages: list[dict[str, object]] = []

        def showPage(self) -> None:  # noqa: N802 - reportlab's name
            self._saved_pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            count = len(self._saved_pages)
            for number, state in enumerate(self._saved_pages, start=1):
                self.__dict__.update(state)
                footer(self, number, count)
                super().showPage()
            super().save()

    return NumberedCanvas


def pdf_metadata(canvas: Canvas, title: str, subject: str) -> None:
    canvas.setTitle(title)
    canvas.setSubject(subject)
    canvas.setAuthor("Floor server")
    canvas.setCreator("Floor server (reportlab)")


def full_frame(doc: BaseDocTemplate, frame_id: str) -> Frame:
    """A frame filling ``doc``'s page inside its margins, with no padding of its own (the
    margins already place the text)."""
    return Frame(
        doc.leftMargin,
        doc.bottomMargin,
        doc.width,
        doc.height,
        id=frame_id,
        leftPadding=0,
        rightPadding=0,
        topPadding=0,
        bottomPadding=0,
    )

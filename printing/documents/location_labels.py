"""Location label sheets: shelf labels in a grid, cut out and stuck on the racking.

Each label (93 x 35 mm, two columns; 14 a sheet on A4, 12 on US Letter) shows

* the location code as text (shrunk to fit when long) and as Code 128 - a picker scans it to
  prove arrival;
* the location's check digits, LARGE, in a box on the right - a picker whose scanner cannot reach
  a top shelf reads them from the floor and types or speaks them instead;
* an optional small caption (zone, location type).

Labels are drawn straight on the canvas (a fixed grid, not flowing text) in the order given,
left to right, top to bottom; dashed lines mark where to cut.  A footer on each sheet says
"sheet n of m" and the first and last location on it, so a stack of sheets can be checked.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from printing.documents._common import (
    ACCENT,
    INK,
    MUTED,
    RULE,
    Fonts,
    code128_fitting,
    document_fonts,
    fit_text,
    pdf_metadata,
)
from printing.documents.model import LocationLabel, PageSize, non_empty

LABEL_W = 93 * mm
LABEL_H = 35 * mm
GAP = 3 * mm
MARGIN_X = 10 * mm
MARGIN_TOP = 12 * mm
MARGIN_BOTTOM = 16 * mm  # room for the sheet's footer
PAD = 3.5 * mm
CHECK_W = 27 * mm  # the check-digit box at the right of a label


def grid(page_size: PageSize) -> tuple[int, int]:
    """(columns, rows) of labels that fit a sheet of ``page_size``."""
    page_w, page_h = page_size.points
    cols = int((page_w - 2 * MARGIN_X + GAP) // (LABEL_W + GAP))
    rows = int((page_h - MARGIN_TOP - MARGIN_BOTTOM + GAP) // (LABEL_H + GAP))
    return cols, rows


def _draw_label(c: Canvas, fonts: Fonts, label: LocationLabel, x: float, y: float) -> None:
    # cut line
    c.setStrokeColor(RULE)
    c.setLineWidth(0.5)
    c.setDash(3, 2)
    c.roundRect(x, y, LABEL_W, LABEL_H, 2 * mm, stroke=1, fill=0)
    c.setDash()

    left_w = LABEL_W - CHECK_W - 3 * PAD
    code = fonts.clean(label.location_code)
    top = y + LABEL_H - PAD
    if label.caption:
        c.setFont(fonts.regular, 7.5)
        c.setFillColor(MUTED)
        caption, csize = fit_text(fonts.clean(label.caption), fonts.regular, 7.5, 6, left_w)
        c.setFont(fonts.regular, csize)
        c.drawString(x + PAD, top - 7, caption)
        top -= 9
    code, size = fit_text(code, fonts.bold, 19, 6, left_w)
    c.setFont(fonts.bold, size)
    c.setFillColor(INK)
    c.drawString(x + PAD, top - size * 0.85, code)

    bar = code128_fitting(label.location_code, left_w + 2 * PAD, 12.5 * mm)
    bar.drawOn(c, x + PAD + (left_w - bar.width) / 2, y + PAD)

    # the check digits, large, in a box
    bx = x + LABEL_W - PAD - CHECK_W
    by = y + PAD
    bh = LABEL_H - 2 * PAD
    c.setStrokeColor(INK)
    c.setLineWidth(1.2)
    c.roundRect(bx, by, CHECK_W, bh, 1.5 * mm, stroke=1, fill=0)
    c.setFillColor(ACCENT)
    c.setFont(fonts.bold, 6.5)
    c.drawCentredString(bx + CHECK_W / 2, by + bh - 9, "CHECK")
    digits = label.check_code
    _, dsize = fit_text(digits, fonts.bold, 44, 20, CHECK_W - 4 * mm)
    c.setFillColor(INK)
    c.setFont(fonts.bold, dsize)
    c.drawCentredString(bx + CHECK_W / 2, by + (bh - 9) / 2 - dsize * 0.33, digits)


def location_labels_pdf(
    labels: Sequence[LocationLabel], page_size: PageSize = PageSize.a4
) -> bytes:
    """Sheets of location labels, in the order given, as a PDF."""
    non_empty("location labels", labels)
    fonts = document_fonts()
    page_w, page_h = page_size.points
    cols, rows = grid(page_size)
    per_sheet = cols * rows
    sheets = [labels[i : i + per_sheet] for i in range(0, len(labels), per_sheet)]
    out = io.BytesIO()
    c = Canvas(out, pagesize=(page_w, page_h), invariant=True)
    pdf_metadata(
        c,
        f"Location labels ({len(labels)})",
        f"{labels[0].location_code} to {labels[-1].location_code}",
    )
    used_w = cols * LABEL_W + (cols - 1) * GAP
    x0 = (page_w - used_w) / 2
    for number, sheet in enumerate(sheets, start=1):
        for i, label in enumerate(sheet):
            col, row = i % cols, i // cols
            x = x0 + col * (LABEL_W + GAP)
            y = page_h - MARGIN_TOP - (row + 1) * LABEL_H - row * GAP
            _draw_label(c, fonts, label, x, y)
        c.setFont(fonts.regular, 8)
        c.setFillColor(MUTED)
        first, last = fonts.clean(sheet[0].location_code), fonts.clean(sheet[-1].location_code)
        c.drawString(
            x0,
            MARGIN_BOTTOM / 2,
            f"Location labels  ·  {first} to {last}  ·  cut along the dashed lines",
        )
        c.drawRightString(x0 + used_w, MARGIN_BOTTOM / 2, f"Sheet {number} of {len(sheets)}")
        c.showPage()
    c.save()
    return out.getvalue()

"""Badge sheets: one login card per user, to cut out and laminate (or slip into a card holder).

A badge's Code 128 *is* the user's login: whoever scans it at a handheld or a station is logged in
as that user.  So the sheet is treated as a credential document:

* every page carries a warning band ("CONFIDENTIAL - LOGIN CREDENTIALS - keep safe") saying what
  to do with spoiled sheets;
* every card says "personal login credential - keep safe - report a lost badge";
* the badge code is **never printed as text** (nor put in the PDF's text layer or metadata): a
  glance at the card, a photo of a desk or a copy-paste from the PDF does not reveal it.  Only the
  bars carry it.

Cards are ID-1 size (85.6 x 54 mm, the size of a bank card), two columns, four rows a page on A4 and
US Letter, in the order given.
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
    WARN,
    Fonts,
    code128_fitting,
    document_fonts,
    fit_text,
    pdf_metadata,
)
from printing.documents.model import BadgeCard, PageSize, non_empty

CARD_W = 85.6 * mm
CARD_H = 54 * mm
GAP = 5 * mm
MARGIN_X = 12 * mm
BAND_H = 22 * mm  # the warning band at the top of each page
MARGIN_TOP = 12 * mm
MARGIN_BOTTOM = 14 * mm
PAD = 4 * mm

WARNING_TITLE = "CONFIDENTIAL - LOGIN CREDENTIALS - KEEP SAFE"
WARNING_TEXT = (
    "Each barcode below logs its holder in. Hand each card to its owner only,",
    "shred spoiled or spare sheets, and never leave this page on a printer.",
)
CARD_NOTE = "Personal login credential · keep safe · report a lost badge"


def grid(page_size: PageSize) -> tuple[int, int]:
    """(columns, rows) of cards that fit a page of ``page_size``."""
    page_w, page_h = page_size.points
    cols = int((page_w - 2 * MARGIN_X + GAP) // (CARD_W + GAP))
    rows = int((page_h - MARGIN_TOP - BAND_H - MARGIN_BOTTOM + GAP) // (CARD_H + GAP))
    return cols, rows


def _draw_card(c: Canvas, fonts: Fonts, card: BadgeCard, site: str, x: float, y: float) -> None:
    c.setStrokeColor(RULE)
    c.setLineWidth(0.6)
    c.setDash(3, 2)
    c.roundRect(x, y, CARD_W, CARD_H, 3 * mm, stroke=1, fill=0)
    c.setDash()
    # band with the site's name
    band_h = 9 * mm
    c.saveState()
    path = c.beginPath()
    path.roundRect(x, y, CARD_W, CARD_H, 3 * mm)
    c.clipPath(path, stroke=0, fill=0)
    c.setFillColor(ACCENT)
    c.rect(x, y + CARD_H - band_h, CARD_W, band_h, stroke=0, fill=1)
    c.restoreState()
    c.setFillColorRGB(1, 1, 1)
    site_text, site_size = fit_text(fonts.clean(site), fonts.bold, 9, 6, CARD_W - 2 * PAD - 24 * mm)
    c.setFont(fonts.bold, site_size)
    c.drawString(x + PAD, y + CARD_H - band_h + 3.2 * mm, site_text)
    c.setFont(fonts.regular, 7.5)
    c.drawRightString(x + CARD_W - PAD, y + CARD_H - band_h + 3.2 * mm, "LOGIN BADGE")

    name, size = fit_text(fonts.clean(card.name), fonts.bold, 15, 7, CARD_W - 2 * PAD)
    c.setFillColor(INK)
    c.setFont(fonts.bold, size)
    c.drawString(x + PAD, y + CARD_H - band_h - 6.5 * mm, name)
    c.setFillColor(MUTED)
    c.setFont(fonts.regular, 9)
    c.drawString(x + PAD, y + CARD_H - band_h - 11 * mm, fonts.clean(card.role).capitalize())

    bar = code128_fitting(card.badge_code, CARD_W - 2 * PAD, 17 * mm)
    bar.drawOn(c, x + (CARD_W - bar.width) / 2, y + 6.5 * mm)
    c.setFillColor(WARN)
    c.setFont(fonts.regular, 6.5)
    c.drawCentredString(
        x + CARD_W / 2, y + 2.6 * mm, CARD_NOTE if fonts.embedded else fonts.clean(CARD_NOTE)
    )


def badge_sheet_pdf(
    cards: Sequence[BadgeCard], page_size: PageSize = PageSize.a4, *, site_name: str = "Warehouse"
) -> bytes:
    """Login badge cards, one per user, as a PDF (a credential document: see the module doc)."""
    non_empty("badges", cards)
    fonts = document_fonts()
    page_w, page_h = page_size.points
    cols, rows = grid(page_size)
    per_page = cols * rows
    pages = [cards[i : i + per_page] for i in range(0, len(cards), per_page)]
    out = io.BytesIO()
    c = Canvas(out, pagesize=(page_w, page_h), invariant=True)
    pdf_metadata(c, "Login badges - confidential", f"{len(cards)} login badges - keep safe")
    used_w = cols * CARD_W + (cols - 1) * GAP
    x0 = (page_w - used_w) / 2
    for number, page in enumerate(pages, start=1):
        # warning band
        top = page_h - MARGIN_TOP
        c.setFillColor(WARN)
        c.roundRect(x0, top - BAND_H + 4 * mm, used_w, BAND_H - 4 * mm, 2 * mm, stroke=0, fill=1)
        c.setFillColorRGB(1, 1, 1)
        c.setFont(fonts.bold, 12)
        c.drawString(x0 + PAD, top - 6.5 * mm, WARNING_TITLE)
        c.setFont(fonts.regular, 8)
        for n, text in enumerate(WARNING_TEXT):
            c.drawString(x0 + PAD, top - 10.5 * mm - n * 3.4 * mm, text)
        for i, card in enumerate(page):
            col, row = i % cols, i // cols
            x = x0 + col * (CARD_W + GAP)
            y = top - BAND_H - (row + 1) * CARD_H - row * GAP
            _draw_card(c, fonts, card, site_name, x, y)
        c.setFont(fonts.regular, 8)
        c.setFillColor(MUTED)
        c.drawString(
            x0, MARGIN_BOTTOM / 2, "Login badges  ·  confidential  ·  cut along the dashed lines"
        )
        c.drawRightString(x0 + used_w, MARGIN_BOTTOM / 2, f"Page {number} of {len(pages)}")
        c.showPage()
    c.save()
    return out.getvalue()

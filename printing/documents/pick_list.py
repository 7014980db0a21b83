"""The pick-list sheet: one cart's route on paper, for pickers without a handheld (or as a backup).

Layout (A4 or US Letter, portrait), built with reportlab's platypus:

* a header on **every** page - "PICK LIST", the list code large, wave, picker, the cart's totes and
  the totals, and at the right the list code as Code 128 ("scan to start"), so any page picked up
  from the floor says which list it belongs to and can start it;
* the stops in route order (by ``sequence``) as a table: stop number, location, SKU, description,
  quantity, tote, and an empty box to tick.  The column titles repeat at the top of each page
  (``repeatRows``) and a stop never splits across pages;
* a footer: the list code and "page n of m", so a dropped sheet can be put back in order.
"""

from __future__ import annotations

import io

from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import BaseDocTemplate, PageTemplate, Paragraph, Table, TableStyle

from printing.documents._common import (
    ACCENT,
    BAND,
    INK,
    MUTED,
    RULE,
    TickBox,
    code128_fitting,
    document_fonts,
    full_frame,
    numbered_canvas,
    styles,
)
from printing.documents.model import PageSize, PickListSheet

MARGIN = 14 * mm
HEADER_H = 36 * mm
FOOTER_H = 10 * mm


def pick_list_pdf(sheet: PickListSheet, page_size: PageSize = PageSize.a4) -> bytes:
    """The pick-list sheet of one cart as a PDF."""
    fonts = document_fonts()
    st = styles(fonts)
    page_w, page_h = page_size.points
    stops = sheet.stops_in_route_order
    totes = ", ".join(sheet.cart_totes) if sheet.cart_totes else "-"
    picker = sheet.picker if sheet.picker.strip() else "unassigned"
    summary = f"{len(stops)} stops · {sheet.total_units} units"
    barcode = code128_fitting(sheet.pick_list_code, 85 * mm, 15 * mm)

    def header(canvas: Canvas, doc: BaseDocTemplate) -> None:
        canvas.saveState()
        top = page_h - MARGIN
        canvas.setFillColor(MUTED)
        canvas.setFont(fonts.bold, 8.5)
        label = "PICK LIST" if doc.page == 1 else "PICK LIST (continued)"
        canvas.drawString(MARGIN, top - 8, label)
        canvas.setFillColor(INK)
        canvas.setFont(fonts.bold, 22)
        canvas.drawString(MARGIN, top - 31, fonts.clean(sheet.pick_list_code))
        rows = [("Wave", sheet.wave_code), ("Picker", picker), ("Totes", totes)]
        y = top - 47
        for name, value in rows:
            canvas.setFont(fonts.regular, 8.5)
            canvas.setFillColor(MUTED)
            canvas.drawString(MARGIN, y, name)
            canvas.setFont(fonts.bold, 10)
            canvas.setFillColor(INK)
            canvas.drawString(MARGIN + 38, y, fonts.clean(value))
            y -= 13
        canvas.setFont(fonts.bold, 10)
        canvas.setFillColor(ACCENT)
        canvas.drawString(MARGIN + 230, top - 47, summary)
        # the list code as Code 128, right-aligned, with its caption
        bx = page_w - MARGIN - barcode.width
        barcode.drawOn(canvas, bx, top - 62)
        canvas.setFillColor(MUTED)
        canvas.setFont(fonts.regular, 8)
        canvas.drawCentredString(
            bx + barcode.width / 2,
            top - 72,
            f"scan to start  ·  {fonts.clean(sheet.pick_list_code)}",
        )
        canvas.setStrokeColor(RULE)
        canvas.setLineWidth(0.8)
        canvas.line(
            MARGIN, page_h - MARGIN - HEADER_H + 4, page_w - MARGIN, page_h - MARGIN - HEADER_H + 4
        )
        canvas.restoreState()

    def footer(canvas: Canvas, number: int, count: int) -> None:
        canvas.saveState()
        canvas.setFont(fonts.regular, 8)
        canvas.setFillColor(MUTED)
        canvas.drawString(
            MARGIN,
            MARGIN - 2,
            f"Pick list {fonts.clean(sheet.pick_list_code)}  ·  wave "
            f"{fonts.clean(sheet.wave_code)}",
        )
        canvas.drawRightString(page_w - MARGIN, MARGIN - 2, f"Page {number} of {count}")
        canvas.restoreState()

    out = io.BytesIO()
    doc = BaseDocTemplate(
        out,
        pagesize=(page_w, page_h),
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN + HEADER_H,
        bottomMargin=MARGIN + FOOTER_H,
        invariant=True,
        title=f"Pick list {sheet.pick_list_code}",
        author="Floor server",
        subject=f"Wave {sheet.wave_code}, {summary}",
    )
    frame = full_frame(doc, "stops")
    doc.addPageTemplates([PageTemplate(id="sheet", frames=[frame], onPage=header)])

    head = ["#", "Location", "SKU", "Description", "Qty", "Tote", "Done"]
    data: list[list[object]] = [[Paragraph(h, st["head"]) for h in head]]
    for stop in stops:
        data.append(
            [
                str(stop.sequence),
                Paragraph(fonts.para(stop.location_code), st["cell_bold"]),
                Paragraph(fonts.para(stop.sku), st["cell"]),
                Paragraph(fonts.para(stop.description), st["cell"]),
                str(stop.quantity),
                Paragraph(fonts.para(stop.tote), st["cell"]),
                TickBox(4.5 * mm),
            ]
        )
    widths = [10 * mm, 34 * mm, 30 * mm, None, 14 * mm, 22 * mm, 14 * mm]
    fixed = sum(w for w in widths if w is not None)
    widths[3] = doc.width - fixed
    table = Table(data, colWidths=widths, repeatRows=1)
    style = [
        ("FONT", (0, 1), (-1, -1), fonts.regular, 9.5),
        ("FONT", (4, 1), (4, -1), fonts.bold, 12),
        ("ALIGN", (0, 0), (0, -1), "RIGHT"),
        ("ALIGN", (4, 0), (4, -1), "RIGHT"),
        ("ALIGN", (6, 0), (6, -1), "CENTER"),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TEXTCOLOR", (0, 1), (0, -1), MUTED),
        ("LINEBELOW", (0, 0), (-1, 0), 0.9, INK),
        ("LINEBELOW", (0, 1), (-1, -1), 0.4, RULE),
        ("TOPPADDING", (0, 0), (-1, -1), 5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 5),
    ]
    for row in range(2, len(data), 2):
        style.append(("BACKGROUND", (0, row), (-2, row), BAND))
    table.setStyle(TableStyle(style))

    canvasmaker = numbered_canvas(footer)
    doc.build([table], canvasmaker=canvasmaker)
    return out.getvalue()

"""The packing slip of an order: the paper that travels in the first carton.

Layout (A4 or US Letter, portrait, platypus):

* top: the sender's address at the left; "PACKING SLIP", the order reference, order date and the
  customer's reference at the right, with a QR code (the order reference, or ``qr_data``) that a
  returns desk scans to find the order;
* "Ship to" in a box;
* the lines: SKU, description, quantity ordered and shipped.  A line shipped short is marked
  "short n" in red, so the customer sees at once what is missing rather than adding it up.  A
  slip printed before the order is packed (``final=False``) says so under the title in red and
  shows ordered, picked and packed so far: nothing is short yet, so nothing is marked short;
* the cartons: number, SSCC with its GS1 application identifier ``(00)`` (the way the carton's
  label prints it), carrier and service, tracking number, weight in kg;
* an optional note (returns instructions), and a footer with the order and "page n of m".

Long orders flow onto further pages; the lines' column titles repeat on each page.
"""

from __future__ import annotations

import io

from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    BaseDocTemplate,
    KeepTogether,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
)

from printing.documents._common import (
    BAND,
    INK,
    MUTED,
    RULE,
    WARN,
    QrCode,
    document_fonts,
    full_frame,
    numbered_canvas,
    styles,
)
from printing.documents.model import Address, PackingSlip, PageSize

MARGIN = 16 * mm


def _kg(weight_g: int) -> str:
    return f"{weight_g / 1000:.2f} kg"


def _sscc_text(sscc: str) -> str:
    """The SSCC as a label's human-readable line prints it: ``(00) 0 0614141 123456789 7``."""
    return f"(00) {sscc[0]} {sscc[1:8]} {sscc[8:17]} {sscc[17]}"


def packing_slip_pdf(slip: PackingSlip, page_size: PageSize = PageSize.a4) -> bytes:
    """The packing slip of one order as a PDF."""
    fonts = document_fonts()
    st = styles(fonts)
    page_w, page_h = page_size.points
    P = fonts.para  # noqa: N806 - short on purpose, used in every cell

    def address(addr: Address) -> Paragraph:
        rows = [f"<b>{P(addr.name)}</b>", *(P(line) for line in addr.lines)]
        if addr.country:
            rows.append(P(addr.country))
        return Paragraph("<br/>".join(rows), st["body"])

    def later_pages(canvas: Canvas, doc: BaseDocTemplate) -> None:
        if doc.page == 1:
            return
        canvas.saveState()
        canvas.setFont(fonts.bold, 9)
        canvas.setFillColor(MUTED)
        canvas.drawString(
            MARGIN,
            page_h - MARGIN + 4,
            f"PACKING SLIP  ·  {fonts.clean(slip.order_ref)}  (continued)",
        )
        canvas.restoreState()

    def footer(canvas: Canvas, number: int, count: int) -> None:
        canvas.saveState()
        canvas.setFont(fonts.regular, 8)
        canvas.setFillColor(MUTED)
        canvas.drawString(MARGIN, MARGIN - 8, f"Order {fonts.clean(slip.order_ref)}")
        canvas.drawRightString(page_w - MARGIN, MARGIN - 8, f"Page {number} of {count}")
        canvas.restoreState()

    out = io.BytesIO()
    doc = BaseDocTemplate(
        out,
        pagesize=(page_w, page_h),
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN + 4 * mm,
        bottomMargin=MARGIN + 2 * mm,
        invariant=True,
        title=f"Packing slip {slip.order_ref}",
        author="Floor server",
        subject=f"{len(slip.lines)} lines, {len(slip.packages)} cartons",
    )
    frame = full_frame(doc, "body")
    doc.addPageTemplates([PageTemplate(id="slip", frames=[frame], onPage=later_pages)])

    # --- top: sender, title block, QR ---
    facts = [("Order", slip.order_ref)]
    if slip.order_date:
        facts.append(("Date", slip.order_date))
    if slip.customer_ref:
        facts.append(("Your ref.", slip.customer_ref))
    title = [Paragraph("PACKING SLIP", st["title"]), Spacer(1, 2 * mm)]
    if not slip.final:
        warn = ParagraphStyle("warn", st["body"], fontName=fonts.bold, textColor=WARN)
        notice = slip.warning or "NOT YET PACKED: quantities so far"
        title += [Paragraph(P(notice), warn), Spacer(1, 1 * mm)]
    title.append(
        Table(
            [
                [Paragraph(k, st["small"]), Paragraph(f"<b>{P(v)}</b>", st["body"])]
                for k, v in facts
            ],
            colWidths=[18 * mm, 52 * mm],
            style=[
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("TOPPADDING", (0, 0), (-1, -1), 1),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ],
        )
    )
    qr_size = 27 * mm
    top = Table(
        [
            [
                [Paragraph("FROM", st["head"]), address(slip.ship_from)],
                title,
                QrCode(slip.qr_payload, qr_size),
            ]
        ],
        colWidths=[doc.width - 70 * mm - qr_size - 4 * mm, 70 * mm, qr_size + 4 * mm],
        style=[
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("LEFTPADDING", (0, 0), (-1, -1), 0),
            ("RIGHTPADDING", (0, 0), (-1, -1), 0),
            ("ALIGN", (2, 0), (2, 0), "RIGHT"),
        ],
    )

    total_g = sum(p.weight_g for p in slip.packages)
    shipped = sum(line.qty_shipped for line in slip.lines)
    summary = Paragraph(
        f"{len(slip.lines)} lines<br/>"
        f"{shipped} units {'shipped' if slip.final else 'packed so far'}<br/>"
        f"{len(slip.packages)} carton{'s' if len(slip.packages) != 1 else ''}"
        f"{', ' + _kg(total_g) if slip.packages else ''}",
        st["body"],
    )
    ship_to = Table(
        [
            [
                [Paragraph("SHIP TO", st["head"]), Spacer(1, 1 * mm), address(slip.ship_to)],
                [Paragraph("SHIPMENT", st["head"]), Spacer(1, 1 * mm), summary],
            ]
        ],
        colWidths=[doc.width * 0.6, doc.width * 0.4],
        style=[
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("BOX", (0, 0), (0, 0), 0.9, INK),
            ("BACKGROUND", (1, 0), (1, 0), BAND),
            ("LEFTPADDING", (0, 0), (-1, -1), 8),
            ("RIGHTPADDING", (0, 0), (-1, -1), 8),
            ("TOPPADDING", (0, 0), (-1, -1), 7),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 8),
        ],
    )

    # --- lines ---
    # Final: ordered, shipped and the shortage; not yet packed: ordered, picked and packed so
    # far (the last in bold, as shipped is), and nothing marked short: nothing is short yet.
    heads = ("Ordered", "Shipped", "") if slip.final else ("Ordered", "Picked", "Packed")
    rows: list[list[object]] = [[Paragraph(h, st["head"]) for h in ("SKU", "Description", *heads)]]
    short_rows: list[int] = []
    for i, line in enumerate(slip.lines, start=1):
        if slip.final:
            short = f"short {line.short_by}" if line.short_by else ""
            if short:
                short_rows.append(i)
            numbers = [str(line.qty_ordered), str(line.qty_shipped), short]
        else:
            picked = "" if line.qty_picked is None else str(line.qty_picked)
            numbers = [str(line.qty_ordered), picked, str(line.qty_shipped)]
        rows.append(
            [
                Paragraph(P(line.sku), st["cell"]),
                Paragraph(P(line.description), st["cell"]),
                *numbers,
            ]
        )
    widths = [34 * mm, None, 18 * mm, 18 * mm, 18 * mm]
    widths[1] = doc.width - sum(w for w in widths if w is not None)
    line_style = [
        ("FONT", (0, 1), (-1, -1), fonts.regular, 9.5),
        ("FONT", (3, 1), (3, -1), fonts.bold, 10.5)
        if slip.final
        else ("FONT", (4, 1), (4, -1), fonts.bold, 10.5),
        ("ALIGN", (2, 0), (3 if slip.final else 4, -1), "RIGHT"),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("LINEBELOW", (0, 0), (-1, 0), 0.9, INK),
        ("LINEBELOW", (0, 1), (-1, -1), 0.4, RULE),
        ("TOPPADDING", (0, 0), (-1, -1), 4),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
    ]
    for r in short_rows:
        line_style += [
            ("TEXTCOLOR", (4, r), (4, r), WARN),
            ("FONT", (4, r), (4, r), fonts.bold, 8.5),
        ]
    lines = Table(rows, colWidths=widths, repeatRows=1, style=line_style)

    story: list[object] = [
        top,
        Spacer(1, 7 * mm),
        ship_to,
        Spacer(1, 6 * mm),
        Paragraph("Items", st["h2"]),
        lines,
    ]

    # --- cartons ---
    if slip.packages:
        prow: list[list[object]] = [
            [
                Paragraph(h, st["head"])
                for h in ("#", "SSCC", "Carrier", "Tracking number", "Weight")
            ]
        ]
        for n, pkg in enumerate(slip.packages, start=1):
            prow.append(
                [
                    f"{n}/{len(slip.packages)}",
                    _sscc_text(pkg.sscc),
                    Paragraph(P(pkg.carrier), st["cell"]),
                    Paragraph(P(pkg.tracking_number or "-"), st["cell"]),
                    _kg(pkg.weight_g),
                ]
            )
        pw = [12 * mm, 56 * mm, None, 46 * mm, 20 * mm]
        pw[2] = doc.width - sum(w for w in pw if w is not None)
        cartons = Table(
            prow,
            colWidths=pw,
            repeatRows=1,
            style=[
                ("FONT", (0, 1), (-1, -1), fonts.regular, 9),
                ("FONT", (1, 1), (1, -1), fonts.mono, 8.5),
                ("ALIGN", (4, 0), (4, -1), "RIGHT"),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("LINEBELOW", (0, 0), (-1, 0), 0.9, INK),
                ("LINEBELOW", (0, 1), (-1, -1), 0.4, RULE),
                ("TOPPADDING", (0, 0), (-1, -1), 4),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
            ],
        )
        story += [Spacer(1, 4 * mm), KeepTogether([Paragraph("Cartons", st["h2"]), cartons])]
    if slip.note:
        story += [Spacer(1, 8 * mm), Paragraph(P(slip.note), st["small"])]
    story += [
        Spacer(1, 6 * mm),
        Paragraph(
            "Please check the contents against this slip. The QR code at the top identifies your "
            "order if you contact us.",
            st["small"],
        ),
    ]

    doc.build(story, canvasmaker=numbered_canvas(footer))
    return out.getvalue()

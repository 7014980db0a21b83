"""End-of-day close per carrier: every package handed over and not yet on a manifest goes on
one Manifest (reference from the carrier, the data kept on the row) and a PDF the driver signs.

Days are UTC calendar days (``YYYY-MM-DD``). A package shipped on an earlier day that missed its
close goes on the next manifest of its carrier; a second close on the same day takes what
shipped after the first.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.actors import Actor
from core.audit import audit
from core.db import utcnow
from core.errors import FloorError
from core.events import publish
from floor.fulfilment.models import Manifest, Package
from floor.fulfilment.packing.carriers import CarrierAdapter
from floor.fulfilment.states import PackageStatus
from orders.models import Order
from sync.errors import SyncErrorCode


class ManifestError(FloorError):
    """A day that cannot be closed for a carrier (409)."""


def _day_end(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)


def unmanifested(
    session: Session, carrier: str | None = None, *, before: dt.datetime | None = None
):
    stmt = select(Package).where(
        Package.status == PackageStatus.shipped, Package.manifest_id.is_(None)
    )
    if carrier is not None:
        stmt = stmt.where(Package.carrier == carrier)
    if before is not None:
        stmt = stmt.where(Package.shipped_at < before)
    return stmt.order_by(Package.shipped_at, Package.id)


def open_carriers(session: Session) -> dict[str, int]:
    """Carriers with packages waiting for a manifest, and how many."""
    rows = session.execute(
        select(Package.carrier, func.count())
        .where(Package.status == PackageStatus.shipped, Package.manifest_id.is_(None))
        .group_by(Package.carrier)
        .order_by(Package.carrier)
    ).all()
    return {carrier: n for carrier, n in rows}


def close_day(
    session: Session,
    carrier: CarrierAdapter,
    actor: Actor,
    *,
    day: dt.date | None = None,
    now: dt.datetime | None = None,
) -> Manifest:
    now = now or utcnow()
    day = day or now.date()
    packages = list(session.scalars(unmanifested(session, carrier.name, before=_day_end(day))))
    if not packages:
        raise ManifestError(
            SyncErrorCode.nothing_to_close,
            f"no shipped packages of {carrier.name} wait for a manifest",
        )
    reference = carrier.manifest(packages, day.isoformat())
    orders = dict(
        session.execute(
            select(Order.id, Order.external_id).where(Order.id.in_({p.order_id for p in packages}))
        ).all()
    )
    rows = [
        {
            "order": orders[p.order_id],
            "sscc": p.sscc,
            "tracking_number": p.tracking_number,
            "service": p.service,
            "weight_g": p.weight_g,
            "length_mm": p.length_mm,
            "width_mm": p.width_mm,
            "height_mm": p.height_mm,
            "shipped_at": p.shipped_at.isoformat() if p.shipped_at else None,
        }
        for p in packages
    ]
    manifest = Manifest(
        carrier=carrier.name,
        day=day.isoformat(),
        reference=reference,
        created_at=now,
        data={
            "carrier": carrier.name,
            "day": day.isoformat(),
            "reference": reference,
            "closed_at": now.isoformat(),
            "closed_by": actor.name,
            "packages": rows,
            "totals": {
                "packages": len(rows),
                "orders": len({r["order"] for r in rows}),
                "weight_g": sum(r["weight_g"] for r in rows),
            },
        },
    )
    session.add(manifest)
    session.flush()
    for p in packages:
        p.manifest_id = manifest.id
    audit(
        session,
        actor,
        "manifest.close",
        entity="manifest",
        entity_id=manifest.id,
        details={"carrier": carrier.name, "day": day.isoformat(), "packages": len(rows)},
    )
    publish(
        session,
        "manifest.closed",
        {"id": manifest.id, "carrier": carrier.name, "reference": reference, "packages": len(rows)},
    )
    return manifest


def _kg(grams: int) -> str:
    return f"{grams / 1000:,.3f} kg"


def manifest_pdf(manifest: Manifest) -> bytes:
    """The driver's copy: one line per package, totals, a signature line."""
    data: dict[str, Any] = manifest.data
    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf,
        pagesize=landscape(A4),
        leftMargin=12 * mm,
        rightMargin=12 * mm,
        topMargin=12 * mm,
        bottomMargin=12 * mm,
        title=f"Manifest {manifest.reference}",
        invariant=1,
    )
    styles = getSampleStyleSheet()
    head = [
        Paragraph(f"End-of-day manifest — {data['carrier']}", styles["Title"]),
        Paragraph(
            f"Day {data['day']} · reference <b>{data['reference']}</b> · closed "
            f"{data['closed_at'][:19].replace('T', ' ')} UTC by {data['closed_by']}",
            styles["Normal"],
        ),
        Spacer(1, 6 * mm),
    ]
    table = [["#", "Order", "SSCC", "Tracking", "Service", "Weight", "L × W × H (mm)"]]
    for i, r in enumerate(data["packages"], 1):
        table.append(
            [
                str(i),
                r["order"],
                r["sscc"],
                r["tracking_number"] or "",
                r["service"],
                _kg(r["weight_g"]),
                f"{r['length_mm']} × {r['width_mm']} × {r['height_mm']}",
            ]
        )
    totals = data["totals"]
    table.append(
        [
            "",
            f"{totals['orders']} orders",
            f"{totals['packages']} packages",
            "",
            "Total",
            _kg(totals["weight_g"]),
            "",
        ]
    )
    t = Table(table, repeatRows=1, hAlign="LEFT")
    t.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, 0), "Helvetica-Bold"),
                ("FONT", (0, -1), (-1, -1), "Helvetica-Bold"),
                ("FONTSIZE", (0, 0), (-1, -1), 9),
                ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black),
                ("LINEABOVE", (0, -1), (-1, -1), 0.8, colors.black),
                ("ALIGN", (5, 1), (5, -1), "RIGHT"),
                ("ROWBACKGROUNDS", (0, 1), (-1, -2), [colors.white, colors.whitesmoke]),
            ]
        )
    )
    sign = [
        Spacer(1, 10 * mm),
        Paragraph(
            "Received by driver: ______________________  Signature: ______________________  "
            "Time: ________",
            styles["Normal"],
        ),
    ]
    doc.build([*head, t, *sign])
    return buf.getvalue()

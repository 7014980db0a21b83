"""Shipping labels: a shipped package's label becomes one print job at its station's printer.

``floor`` never imports ``printing``: packing records ``package.shipped`` and this module's
``queue_shipping_label`` handles it inside the same transaction (wired in ``app.create_app``),
so a shipment and its print job commit together or not at all. The job id is derived from the
SSCC: a retried close can never queue a second label for one package.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.events import DomainEvent
from floor.fulfilment.models import Package
from floor.site.layout import Location
from printing.models import Printer, PrintJob


def label_job_id(sscc: str) -> str:
    return f"label-{sscc}"


def queue_shipping_label(session: Session, event: DomainEvent) -> None:
    data = event.data
    if data.get("label_format") != "zpl":
        return
    printer_id = session.scalar(
        select(Printer.id)
        .join(Location, Location.id == Printer.station_location_id)
        .where(Location.code == data["station"])
    )
    job_id = label_job_id(data["sscc"])
    if printer_id is None or session.scalar(select(PrintJob.id).where(PrintJob.job_id == job_id)):
        return
    package_id = session.scalar(select(Package.id).where(Package.sscc == data["sscc"]))
    session.add(
        PrintJob(
            job_id=job_id,
            printer_id=printer_id,
            package_id=package_id,
            kind="shipping_label",
            zpl=data["label"],
        )
    )


def label_zpl(session: Session, sscc: str) -> str | None:
    return session.scalar(select(PrintJob.zpl).where(PrintJob.job_id == label_job_id(sscc)))

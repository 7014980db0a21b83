"""Shipping labels: a shipped package's label becomes one print job at its station's printer.

``floor`` never imports ``printing``: packing records ``package.shipped`` and this module's
``queue_shipping_label`` handles it inside the same transaction (wired in ``app.create_app``),
so a shipment and its print job commit together or not at all. The job id is derived from the
SSCC: a retried close can never queue a second label for one package.

Which ZPL: a carrier that sends its own label (``label_format == "zpl"``) gets it printed
unchanged, once ``zpl.passthrough`` has checked it is one plain label (a refused one becomes a
``failed`` job, so a supervisor sees it). The demo carrier (``label_format == "demo"``) has no
label of its own: this module builds the GS1 label from the package and its order - ship-from
from ``FLOOR_SITE_ADDRESS``, ship-to, carrier and service *of the order* marked ``· demo``,
tracking number, SSCC, order reference, package n of m, weight and a QR code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from core.events import DomainEvent
from floor.fulfilment.models import Package
from floor.fulfilment.states import PackageStatus
from floor.site.layout import Location
from orders.models import Order
from printing.models import Printer, PrintJob
from printing.queue import enqueue, failed_job, job_view
from printing.zpl import Address, LabelError, ShippingLabel, build_shipping_label, passthrough

DEFAULT_SITE = "Floor Demo Warehouse|1 Dock Road||Springfield|IL|62701|US"


def label_job_id(sscc: str) -> str:
    return f"label-{sscc}"


def site_address(raw: str) -> Address:
    """``FLOOR_SITE_ADDRESS`` (``name|line1|line2|city|region|postcode|country``) as an Address;
    missing trailing parts are empty."""
    parts = [p.strip() for p in (raw or DEFAULT_SITE).split("|")]
    parts += [""] * (7 - len(parts))
    return Address(*parts[:7])


def ship_to_address(ship_to: Mapping[str, Any]) -> Address:
    def get(key: str) -> str:
        value = ship_to.get(key)
        return value if isinstance(value, str) else ""

    name = get("name")
    company = get("company")
    return Address(
        name=f"{name} / {company}" if company else name,
        line1=get("address1"),
        line2=get("address2"),
        city=get("city"),
        region=get("region"),
        postcode=get("postal_code"),
        country=get("country"),
    )


def shipping_label(
    session: Session,
    package: Package,
    order: Order,
    site: Address,
    *,
    demo: bool,
    number_of: tuple[int, int] | None = None,
) -> ShippingLabel:
    """The label data of one package (number n of the order's m live packages; ``number_of``
    when the caller knows them, else read from the database)."""
    if number_of is None:
        siblings = list(
            session.scalars(
                select(Package.id)
                .where(Package.order_id == order.id, Package.status != PackageStatus.voided)
                .order_by(Package.id)
            )
        )
        number = siblings.index(package.id) + 1 if package.id in siblings else 1
        number_of = (number, len(siblings))
    number, count = number_of[0], max(number_of[1], number_of[0])
    tracking = package.tracking_number or ""
    return ShippingLabel(
        ship_from=site,
        ship_to=ship_to_address(order.ship_to or {}),
        carrier=order.carrier,
        service=order.service or package.service or "",
        carrier_is_demo=demo,
        tracking_number=tracking,
        sscc=package.sscc,
        order_ref=order.external_id,
        package_no=number,
        package_count=count,
        weight_g=package.weight_g,
        qr_payload=f"(00){package.sscc}|{tracking}|{order.external_id}|{number}/{count}",
    )


def build_package_label(
    session: Session, package: Package, site: Address, number_of: tuple[int, int] | None = None
) -> str:
    order = session.get(Order, package.order_id)
    assert order is not None
    return build_shipping_label(
        shipping_label(session, package, order, site, demo=True, number_of=number_of)
    )


def queue_shipping_label(session: Session, event: DomainEvent, *, site: Address) -> None:
    """``package.shipped`` handler: one print job for the package's label at its station."""
    data = event.data
    fmt = data.get("label_format")
    if fmt not in ("zpl", "demo"):
        return  # a PDF label is for an office printer, not the station's Zebra
    sscc = data["sscc"]
    job_id = label_job_id(sscc)
    printer, queued = station_printer_and_job(session, data["station"], job_id)
    if printer is None or queued:
        return
    # By id the package comes from the session (the close just wrote it): no query.
    package = (
        session.get(Package, data["package_id"])
        if data.get("package_id") is not None
        else session.scalar(select(Package).where(Package.sscc == sscc))
    )
    package_id = package.id if package is not None else None
    where = {"station": data["station"], "sscc": sscc}
    try:
        if fmt == "zpl":
            zpl = passthrough(data["label"])
        else:
            assert package is not None
            known = data.get("package_no"), data.get("package_count")
            number_of = known if None not in known else None
            zpl = build_package_label(session, package, site, number_of)
    except LabelError as exc:
        failed_job(
            session,
            printer,
            data.get("label", ""),
            job_id=job_id,
            kind="shipping_label",
            package_id=package_id,
            error=str(exc),
            **where,
        )
        return
    enqueue(
        session, printer, zpl, job_id=job_id, kind="shipping_label", package_id=package_id, **where
    )


# Built once (a select with a join and an EXISTS costs more to build than to run).
_STATION_PRINTER_AND_JOB = (
    select(
        Printer,
        select(PrintJob.id).where(PrintJob.job_id == bindparam("spj_job")).exists(),
    )
    .join(Location, Location.id == Printer.station_location_id)
    .where(Location.code == bindparam("spj_station"))
    .order_by(Printer.id)
    .limit(1)
)


def station_printer_and_job(
    session: Session, station: str, job_id: str
) -> tuple[Printer | None, bool]:
    """The station's printer, and whether job ``job_id`` exists already: one statement."""
    row = session.execute(
        _STATION_PRINTER_AND_JOB, {"spj_station": station, "spj_job": job_id}
    ).first()
    return (row[0], bool(row[1])) if row is not None else (None, False)


def label_jobs(session: Session, ssccs: list[str]) -> list[dict[str, Any]]:
    """The views of these packages' label jobs, as they stand (in the order of ``ssccs``)."""
    wanted = [label_job_id(sscc) for sscc in ssccs]
    jobs = {
        j.job_id: j for j in session.scalars(select(PrintJob).where(PrintJob.job_id.in_(wanted)))
    }
    return [job_view(session, jobs[job_id]) for job_id in wanted if job_id in jobs]


def label_zpl(session: Session, sscc: str, site: Address) -> str | None:
    """The ZPL of a package's label: its print job's, else (no printer at the station) built
    now for a demo-carrier package. None for an unknown SSCC or a carrier label never queued."""
    zpl = session.scalar(select(PrintJob.zpl).where(PrintJob.job_id == label_job_id(sscc)))
    if zpl is not None:
        return zpl
    package = session.scalar(select(Package).where(Package.sscc == sscc))
    if package is None or not package.tracking_number:
        return None
    try:
        return build_package_label(session, package, site)
    except LabelError:
        return None

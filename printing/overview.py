"""The printers page's data: every printer (or one station's) with its status, its waiting jobs
and its latest jobs as ``queue.job_view``s."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from floor.site.layout import Location
from printing.models import WAITING, Printer, PrintJob
from printing.queue import job_view


def printers_overview(
    session: Session, station: str | None = None, jobs_per_printer: int = 12
) -> list[dict[str, Any]]:
    """Every printer (or the one of ``station``) with its last status and its latest jobs."""
    stations = dict(session.execute(select(Location.id, Location.code)).all())
    stmt = select(Printer).order_by(Printer.name)
    printers = [
        p
        for p in session.scalars(stmt)
        if station is None or stations.get(p.station_location_id) == station
    ]
    out = []
    for p in printers:
        code = stations.get(p.station_location_id)
        jobs = session.scalars(
            select(PrintJob)
            .where(PrintJob.printer_id == p.id)
            .order_by(PrintJob.id.desc())
            .limit(jobs_per_printer)
        )
        out.append(
            {
                "id": p.id,
                "name": p.name,
                "uri": p.uri,
                "source": p.source,
                "station": code,
                "state": p.state or "not polled yet",
                "online": p.online,
                "state_at": p.state_at.isoformat() if p.state_at else None,
                "waiting": session.scalar(
                    select(func.count())
                    .select_from(PrintJob)
                    .where(PrintJob.printer_id == p.id, PrintJob.status.in_(WAITING))
                )
                or 0,
                "jobs": [job_view(session, j, p, code) for j in jobs],
            }
        )
    return out

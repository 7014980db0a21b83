"""The durable print queue: jobs in the database, a state machine, claims that several processes
can share, and the two actions a person takes (confirm printed, reprint).

Every status change goes through ``move`` (the one place that asks ``PRINT_JOB_MACHINE`` and
assigns), which also publishes ``print.job`` for the station's screen and the supervisors, and
opens a ``printer_failed`` exception when a job ends ``failed`` or ``unknown``.

How a job is sent (the steps are in ``printing.sending``; the worker in ``printing.worker``
drives them; the network calls happen outside any transaction):

1. ``claim_due``: take up to N waiting jobs (``queued``/``held``, due now, not claimed by a live
   claim) and stamp them with a claim token and a lease. PostgreSQL locks the candidates
   ``FOR UPDATE SKIP LOCKED`` and SQLite serialises writers (``BEGIN IMMEDIATE``), so two worker
   processes never claim the same job.
2. Ask the printer ``~HS``. A problem (paper out...) -> ``hold``: the job waits, not sent.
3. ``start_sending``: ``sending`` with a lease that covers the longest a send may take. Committed
   *before* the first byte leaves, so a crash during the send leaves the job in ``sending``.
4. ``finish``: ``printed``, or back to ``queued`` with exponential back-off while the printer is
   unreachable, or ``failed`` after the last attempt. Written only if the claim still holds.

A job still ``sending`` when its lease has run out was cut off (the process died, or was killed):
``expire_leases`` (run by every worker at start-up and on every tick) makes it ``unknown``. It is
never sent again on its own; a person confirms it printed or reprints it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, make_transient_to_detached

from core.actors import Actor
from core.db import utcnow
from core.errors import FloorError
from core.events import publish, record
from core.exception_queue import (
    EXCEPTION_MACHINE,
    ExceptionReason,
    ExceptionStatus,
    FloorException,
)
from floor.fulfilment.models import Package
from floor.site.layout import Location
from printing.models import (
    NEEDS_A_PERSON,
    PRINT_JOB_MACHINE,
    Printer,
    PrintJob,
    PrintJobStatus,
)

J = PrintJobStatus


class PrintQueueErrorCode(enum.StrEnum):
    not_unknown = "not_unknown"
    not_finished = "not_finished"
    reason_required = "reason_required"
    reason_too_long = "reason_too_long"
    station_required = "station_required"  # a packer's job action that names no station
    other_station = "other_station"  # a packer's job action on another station's printer


class PrintQueueError(FloorError):
    """A refused print-queue action (reprint, confirm): 409 unless the raise says otherwise."""


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0

    def delay_s(self, attempts: int) -> float:
        """Delay before the next attempt after ``attempts`` failed ones: 1, 2, 4... s, capped."""
        return min(self.backoff_max_s, self.backoff_base_s * 2 ** max(attempts - 1, 0))


@dataclass(frozen=True)
class Claim:
    id: int
    job_id: str
    token: str
    printer_id: int
    uri: str
    zpl: str
    station: str | None = None  # for the job's view (spares a look-up per status change)
    sscc: str | None = None
    view: dict[str, Any] | None = None  # the job's view when it became ``sending`` (fast path)


# An internal event (no room: never sent to a screen) recorded by ``enqueue``: after the commit
# the print worker of the process that queued the job sends it at once (``PrintWorker.offer``)
# instead of finding it by a claim query. Its data: ``NewJob`` as a dict.
QUEUED = "print.queued"


@dataclass(frozen=True)
class NewJob:
    """A job just queued, as the worker's fast path needs it (no query to find it)."""

    id: int
    job_id: str
    printer_id: int
    uri: str
    zpl: str
    station: str | None
    sscc: str | None
    view: dict[str, Any]  # the job's view as queued (the fast path publishes it moved on)


# --- the one place a job's status changes -------------------------------------------------------


def move(
    session: Session,
    job: PrintJob,
    target: PrintJobStatus,
    *,
    detail: str = "",
    station: str | None = None,
    sscc: str | None = None,
) -> dict[str, Any]:
    """Move ``job`` to ``target`` (``InvalidTransition`` if the machine forbids it), tell the
    station's screen, and open a ``printer_failed`` exception when a person is needed.
    ``station`` and ``sscc``, when the caller knows them, spare the view two look-ups.
    Returns the job's view as published."""
    PRINT_JOB_MACHINE.move(job, target)
    if detail or target in (J.printed, J.queued):
        job.last_error = detail
    printer = session.get(Printer, job.printer_id)
    station = station or station_code(session, printer)
    if target in NEEDS_A_PERSON:
        _open_exception(session, job, printer, detail)
    view = job_view(session, job, printer, station, sscc)
    publish(session, "print.job", view, *station_rooms(station))
    return view


def announce(session: Session, job: PrintJob, claim: Claim | None = None) -> None:
    printer = session.get(Printer, job.printer_id)
    station = (claim.station if claim else None) or station_code(session, printer)
    view = job_view(session, job, printer, station, claim.sscc if claim else None)
    publish(session, "print.job", view, *station_rooms(station))


def station_rooms(station: str | None) -> tuple[str, ...]:
    return ("dashboard", f"station:{station}") if station else ("dashboard",)


def station_code(session: Session, printer: Printer | None) -> str | None:
    if printer is None or printer.station_location_id is None:
        return None
    return session.scalar(select(Location.code).where(Location.id == printer.station_location_id))


def _open_exception(session: Session, job: PrintJob, printer: Printer | None, detail: str) -> None:
    what = "could not be printed" if job.status == J.failed else "may or may not have printed"
    message = f"Label {job.job_id} {what} on {printer.name if printer else '?'}"
    if detail:
        message += f": {detail}"
    order_id = (  # the dashboard links the exception to the order whose label it is
        session.scalar(select(Package.order_id).where(Package.id == job.package_id))
        if job.package_id is not None
        else None
    )
    session.add(
        FloorException(
            reason=ExceptionReason.printer_failed,
            order_id=order_id,
            subject=printer.name if printer else "",
            message=message,
            details={"job_id": job.job_id, "status": job.status.value},
        )
    )
    publish(
        session,
        "exception.opened",
        {"reason": ExceptionReason.printer_failed.value, "subject": message, "job_id": job.job_id},
    )


def resolve_exceptions(session: Session, job: PrintJob, actor: Actor, resolution: str) -> None:
    """Close the job's open ``printer_failed`` exceptions (a person has dealt with the job)."""
    for exc in session.scalars(
        select(FloorException).where(
            FloorException.reason == ExceptionReason.printer_failed,
            FloorException.status == ExceptionStatus.open,
        )
    ):
        if exc.details.get("job_id") != job.job_id:
            continue
        EXCEPTION_MACHINE.move(exc, ExceptionStatus.resolved)
        exc.resolved_at = utcnow()
        exc.resolved_by_id = actor.user_id
        exc.resolution = resolution
        publish(session, "exception.resolved", {"id": exc.id, "reason": exc.reason.value})


# --- views --------------------------------------------------------------------------------------


def job_view(
    session: Session,
    job: PrintJob,
    printer: Printer | None = None,
    station: str | None = None,
    sscc: str | None = None,
) -> dict[str, Any]:
    """What screens show of a job. ``station`` and ``sscc`` are looked up unless given."""
    printer = printer or session.get(Printer, job.printer_id)
    if station is None:
        station = station_code(session, printer)
    if sscc is None and job.package_id is not None:
        sscc = session.scalar(select(Package.sscc).where(Package.id == job.package_id))
    return {
        "job_id": job.job_id,
        "status": job.status.value,
        "detail": job.last_error,
        "attempts": job.attempts,
        "printer": printer.name if printer else None,
        "station": station,
        "sscc": sscc,
        "kind": job.kind,
        "reprint_of": _job_id_of(session, job.reprint_of_id),
        "reason": job.reason,
        "created_at": job.created_at.isoformat() if job.created_at else None,
        "printed_at": job.printed_at.isoformat() if job.printed_at else None,
    }


def _job_id_of(session: Session, pk: int | None) -> str | None:
    return None if pk is None else session.scalar(select(PrintJob.job_id).where(PrintJob.id == pk))


# --- queueing -----------------------------------------------------------------------------------


def enqueue(
    session: Session,
    printer: Printer,
    zpl: str,
    *,
    job_id: str,
    kind: str,
    package_id: int | None = None,
    reprint_of: PrintJob | None = None,
    reason: str = "",
    station: str | None = None,
    sscc: str | None = None,
) -> PrintJob:
    """A new ``queued`` job, due now; after the commit the worker of this process sends it at
    once (the ``print.queued`` event). ``station``/``sscc``, when known, spare two look-ups."""
    job, view = _insert(
        session, printer, zpl, job_id, kind, package_id, reprint_of, reason, station, sscc
    )
    new = NewJob(job.id, job_id, printer.id, printer.uri, zpl, view["station"], view["sscc"], view)
    record(session, QUEUED, new.__dict__)
    return job


def _insert(
    session: Session,
    printer: Printer,
    zpl: str,
    job_id: str,
    kind: str,
    package_id: int | None,
    reprint_of: PrintJob | None,
    reason: str,
    station: str | None,
    sscc: str | None,
) -> tuple[PrintJob, dict[str, Any]]:
    """Insert a ``queued`` job and tell the screens; returns it with its view. The row is
    written at once (one INSERT, no unit of work) and the object kept as if loaded."""
    now = utcnow()
    row = {
        "job_id": job_id,
        "printer_id": printer.id,
        "package_id": package_id,
        "kind": kind,
        "zpl": zpl,
        "status": J.queued,
        "attempts": 0,
        "next_attempt_at": now,
        "last_error": "",
        "created_at": now,
        "sent_at": None,
        "claim_token": None,
        "lease_until": None,
        "printed_at": None,
        "reprint_of_id": reprint_of.id if reprint_of is not None else None,
        "reason": reason,
    }
    job = PrintJob(id=session.connection().scalar(_INSERT_JOB, row), **row)
    make_transient_to_detached(job)
    session.add(job)
    station = station or station_code(session, printer)
    view = job_view(session, job, printer, station, sscc)
    publish(session, "print.job", view, *station_rooms(station))
    return job, view


_INSERT_JOB = insert(PrintJob.__table__).returning(PrintJob.__table__.c.id)


def failed_job(
    session: Session,
    printer: Printer,
    zpl: str,
    *,
    job_id: str,
    kind: str,
    package_id: int | None,
    error: str,
    station: str | None = None,
    sscc: str | None = None,
) -> PrintJob:
    """A job that can never be sent (e.g. a carrier label refused by ``zpl.passthrough``)."""
    job, view = _insert(session, printer, zpl, job_id, kind, package_id, None, "", station, sscc)
    move(session, job, J.failed, detail=error, station=view["station"], sscc=view["sscc"])
    job.next_attempt_at = None
    return job

"""The durable print queue: jobs in the database, a state machine, claims that several processes
can share, and the two actions a person takes (confirm printed, reprint).

Every status change goes through ``move`` (the one place that asks ``PRINT_JOB_MACHINE`` and
assigns), which also publishes ``print.job`` for the station's screen and the supervisors, and
opens a ``printer_failed`` exception when a job ends ``failed`` or ``unknown``.

How a job is sent (the worker in ``printing.worker`` drives these steps; the network calls happen
outside any transaction):

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

import datetime as dt
import enum
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, insert, or_, select, update
from sqlalchemy.orm import Session, make_transient_to_detached

from core.actors import Actor
from core.db import core_connection, is_postgres, utcnow
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
    WAITING,
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
    station = station or _station_code(session, printer)
    if target in NEEDS_A_PERSON:
        _open_exception(session, job, printer, detail)
    view = job_view(session, job, printer, station, sscc)
    publish(session, "print.job", view, *_rooms(station))
    return view


def _announce(session: Session, job: PrintJob, claim: Claim | None = None) -> None:
    printer = session.get(Printer, job.printer_id)
    station = (claim.station if claim else None) or _station_code(session, printer)
    view = job_view(session, job, printer, station, claim.sscc if claim else None)
    publish(session, "print.job", view, *_rooms(station))


def _rooms(station: str | None) -> tuple[str, ...]:
    return ("dashboard", f"station:{station}") if station else ("dashboard",)


def _station_code(session: Session, printer: Printer | None) -> str | None:
    if printer is None or printer.station_location_id is None:
        return None
    return session.scalar(select(Location.code).where(Location.id == printer.station_location_id))


def _open_exception(session: Session, job: PrintJob, printer: Printer | None, detail: str) -> None:
    what = "could not be printed" if job.status == J.failed else "may or may not have printed"
    message = f"Label {job.job_id} {what} on {printer.name if printer else '?'}"
    if detail:
        message += f": {detail}"
    session.add(
        FloorException(
            reason=ExceptionReason.printer_failed,
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
        station = _station_code(session, printer)
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
    station = station or _station_code(session, printer)
    view = job_view(session, job, printer, station, sscc)
    publish(session, "print.job", view, *_rooms(station))
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


# --- the worker's steps -------------------------------------------------------------------------


def claim_due(
    session: Session,
    now: dt.datetime,
    limit: int,
    lease_s: float,
    exclude: frozenset[int] = frozenset(),
) -> list[Claim]:
    """Lease up to ``limit`` waiting jobs that are due (step 1 of the module docstring).
    ``exclude``: ids this process's worker is already sending by the fast path."""
    stmt = (
        select(PrintJob, Printer.uri, Location.code, Package.sscc)
        .join(Printer, Printer.id == PrintJob.printer_id)
        .outerjoin(Location, Location.id == Printer.station_location_id)
        .outerjoin(Package, Package.id == PrintJob.package_id)
        .where(
            PrintJob.status.in_(WAITING),
            PrintJob.next_attempt_at <= now,
            or_(PrintJob.claim_token.is_(None), PrintJob.lease_until < now),
        )
        .order_by(PrintJob.next_attempt_at, PrintJob.id)
        .limit(limit)
    )
    if exclude:
        stmt = stmt.where(PrintJob.id.not_in(sorted(exclude)))
    if is_postgres(session):
        stmt = stmt.with_for_update(skip_locked=True, of=PrintJob)
    token = str(uuid.uuid4())
    until = now + dt.timedelta(seconds=lease_s)
    claims = []
    for job, uri, station, sscc in session.execute(stmt).all():
        job.claim_token = token
        job.lease_until = until
        claims.append(Claim(job.id, job.job_id, token, job.printer_id, uri, job.zpl, station, sscc))
    return claims


# Built once: the fast path's claim, one guarded UPDATE (a job no longer waiting and due, or
# under another worker's live claim, matches nothing).
_CLAIM = PRINT_JOB_MACHINE.prepare_where(
    PrintJob,
    PrintJob.id == bindparam("c_id"),
    PrintJob.next_attempt_at <= bindparam("c_now"),
    or_(
        PrintJob.claim_token.is_(None),
        PrintJob.lease_until.is_(None),
        PrintJob.lease_until < bindparam("c_now"),
    ),
    target=J.sending,
    values={
        "claim_token": bindparam("c_token"),
        "attempts": PrintJob.attempts + 1,
        "lease_until": bindparam("c_until"),
    },
    returning=(PrintJob.attempts, PrintJob.last_error),
    from_states=WAITING,
)


def claim_to_send(
    session: Session, new: NewJob, now: dt.datetime, send_lease_s: float
) -> Claim | None:
    """The fast path for a job this process has just queued, once its printer has answered
    ``~HS`` ready: claim it and make it ``sending`` in one transaction (steps 1 and 3 at once),
    committed before the first byte leaves as in the slow path. None if the job is no longer
    waiting and due, or another worker holds a live claim on it (that worker sends it)."""
    token = str(uuid.uuid4())
    params = {
        "c_id": new.id,
        "c_now": now,
        "c_token": token,
        "c_until": now + dt.timedelta(seconds=send_lease_s),
    }
    moved = _CLAIM.run_returning(session, params)
    if not moved:
        return None
    attempts, detail = moved[0]
    view = {**new.view, "status": J.sending.value, "attempts": attempts, "detail": detail}
    publish(session, "print.job", view, *_rooms(new.station))
    return Claim(
        new.id, new.job_id, token, new.printer_id, new.uri, new.zpl, new.station, new.sscc, view
    )


def _claimed(session: Session, claim: Claim, *states: PrintJobStatus) -> PrintJob | None:
    stmt = select(PrintJob).where(PrintJob.id == claim.id)
    if is_postgres(session):
        stmt = stmt.with_for_update()
    job = session.scalar(stmt)
    if job is None or job.claim_token != claim.token or job.status not in states:
        return None  # the claim was lost (lease expired and someone else took the job)
    return job


def hold(session: Session, claim: Claim, problems: str, now: dt.datetime, poll_s: float) -> bool:
    """The printer is not ready: keep the job (not sent) and look again in ``poll_s``."""
    job = _claimed(session, claim, *WAITING)
    if job is None:
        return False
    if job.status != J.held:
        move(session, job, J.held, detail=problems, station=claim.station, sscc=claim.sscc)
    elif job.last_error != problems:  # still held, for another reason: no status change
        job.last_error = problems
        _announce(session, job, claim)
    job.claim_token = None
    job.lease_until = None
    job.next_attempt_at = now + dt.timedelta(seconds=poll_s)
    return True


def start_sending(session: Session, claim: Claim, now: dt.datetime, send_lease_s: float) -> bool:
    """``sending``, committed before the first byte leaves (step 3)."""
    job = _claimed(session, claim, *WAITING)
    if job is None:
        return False
    move(session, job, J.sending, station=claim.station, sscc=claim.sscc)
    job.attempts += 1
    job.lease_until = now + dt.timedelta(seconds=send_lease_s)
    return True


def finish(
    session: Session,
    claim: Claim,
    error: str | None,
    now: dt.datetime,
    policy: RetryPolicy,
) -> PrintJobStatus | None:
    """Record a send: ``error`` None -> printed; else a retry later, or failed at the last
    attempt."""
    if error is None and claim.view is not None:
        return _printed(session, claim, now)
    job = _claimed(session, claim, J.sending)
    if job is None:
        return None
    job.claim_token = None
    job.lease_until = None
    hints = {"station": claim.station, "sscc": claim.sscc}
    if error is None:
        move(session, job, J.printed, **hints)
        job.sent_at = job.printed_at = now
        job.next_attempt_at = None
        _wake_printer(session, job.printer_id, now)
    elif job.attempts >= policy.max_attempts:
        move(session, job, J.failed, detail=f"{error} (after {job.attempts} attempts)", **hints)
        job.next_attempt_at = None
    else:
        move(session, job, J.queued, detail=error, **hints)
        job.next_attempt_at = now + dt.timedelta(seconds=policy.delay_s(job.attempts))
    return job.status


# Built once: the fast path's 'printed' step runs once per label.
_PRINTED = PRINT_JOB_MACHINE.prepare_where(
    PrintJob,
    PrintJob.id == bindparam("p_id"),
    PrintJob.claim_token == bindparam("p_token"),
    target=J.printed,
    from_states=(J.sending,),
    values={
        "claim_token": None,
        "lease_until": None,
        "sent_at": bindparam("p_now"),
        "printed_at": bindparam("p_now"),
        "next_attempt_at": None,
        "last_error": "",
    },
)


def _printed(session: Session, claim: Claim, now: dt.datetime) -> PrintJobStatus | None:
    """``finish`` after a good send of a fast-path claim: one UPDATE guarded by the claim (the
    row is not loaded; a claim that was lost - its lease ran out and the job became
    ``unknown`` - matches nothing and records nothing), and the view the claim carries, brought
    up to date."""
    assert claim.view is not None
    moved = _PRINTED.run(session, {"p_id": claim.id, "p_token": claim.token, "p_now": now})
    if not moved:
        return None
    view = {**claim.view, "status": J.printed.value, "detail": "", "printed_at": now.isoformat()}
    publish(session, "print.job", view, *_rooms(claim.station))
    _wake_printer(session, claim.printer_id, now)
    return J.printed


def release(session: Session, claim: Claim) -> None:
    """Give a claimed job back untouched (e.g. the worker is stopping)."""
    job = _claimed(session, claim, *WAITING)
    if job is not None:
        job.claim_token = None
        job.lease_until = None


_WAKE_PRINTER = (
    update(PrintJob)
    .where(
        PrintJob.printer_id == bindparam("w_printer"),
        PrintJob.status == J.queued,
        PrintJob.attempts > 0,
        PrintJob.next_attempt_at > bindparam("w_now"),
    )
    .values(next_attempt_at=bindparam("w_now"))
    .execution_options(synchronize_session=False)
)


def _wake_printer(session: Session, printer_id: int, now: dt.datetime) -> int:
    """The printer answered: jobs that wait only for their back-off are due now (plain Core on
    the session's connection, after the pending changes, as autoflush would)."""
    result = core_connection(session).execute(
        _WAKE_PRINTER, {"w_printer": printer_id, "w_now": now}
    )
    return result.rowcount or 0


_PRINTER_STATE = select(Printer.state, Printer.online).where(Printer.id == bindparam("ps_id"))


def record_printer_state(
    session: Session, printer_id: int, state: str, now: dt.datetime, *, if_changed: bool = False
) -> int:
    """The last thing a printer told us (``ready``, ``paper_out,head_open``, ``unreachable``...).
    Returns how many of its jobs waiting for a retry were made due now (it answered).
    ``if_changed`` (the ``~HS`` before a send): write nothing when the printer already stands at
    ``state``; the worker's status poll keeps the times current."""
    if if_changed:
        known = session.connection().execute(_PRINTER_STATE, {"ps_id": printer_id}).first()
        if known is not None and tuple(known) == (state, state != "unreachable"):
            return 0
    printer = session.get(Printer, printer_id)
    if printer is None:
        return 0
    reachable = state != "unreachable"
    if if_changed and printer.state == state and printer.online == reachable:
        return 0
    woken = 0
    if reachable:
        printer.last_seen_at = now
        woken = _wake_printer(session, printer_id, now)
    if printer.state != state or printer.online != reachable:
        printer.state = state
        printer.online = reachable
        station = _station_code(session, printer)
        publish(
            session,
            "printer.status",
            {"printer": printer.name, "state": state, "station": station},
            *_rooms(station),
        )
    printer.state_at = now
    return woken


def expire_leases(session: Session, now: dt.datetime) -> int:
    """Jobs whose send was cut off (``sending`` past its lease) become ``unknown``; claims of
    waiting jobs past their lease are dropped. Returns the number of jobs made ``unknown``."""
    cut_off = list(
        session.scalars(
            select(PrintJob).where(PrintJob.status == J.sending, PrintJob.lease_until < now)
        )
    )
    for job in cut_off:
        job.claim_token = None
        job.lease_until = None
        job.next_attempt_at = None
        move(session, job, J.unknown, detail="the send was cut off; check the printer")
    session.execute(
        update(PrintJob)
        .where(PrintJob.status.in_(WAITING), PrintJob.lease_until < now)
        .values(claim_token=None, lease_until=None)
        .execution_options(synchronize_session=False)
    )
    return len(cut_off)

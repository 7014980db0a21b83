"""The print worker's steps on the durable queue (``printing.queue``: the jobs, their one
place of status change and their views): claim due jobs, hold one for a printer that is not
ready, mark one ``sending`` before its first byte, record the outcome, and make cut-off sends
``unknown``. ``printing.worker`` drives them; the network calls happen outside any transaction.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm import Session

from core.db import core_connection, is_postgres
from core.events import publish
from floor.fulfilment.models import Package
from floor.site.layout import Location
from printing.models import PRINT_JOB_MACHINE, WAITING, Printer, PrintJob, PrintJobStatus
from printing.queue import (
    Claim,
    NewJob,
    RetryPolicy,
    announce,
    move,
    station_code,
    station_rooms,
)

J = PrintJobStatus


def claim_due(
    session: Session,
    now: dt.datetime,
    limit: int,
    lease_s: float,
    exclude: frozenset[int] = frozenset(),
    busy_uris: frozenset[str] = frozenset(),
) -> list[Claim]:
    """Lease up to ``limit`` waiting jobs that are due (step 1 of the module docstring), at most
    one per printer: a printer takes one conversation at a time, and a job waiting for its
    printer must not hold a sending thread that another station's label could use.
    ``exclude``: ids this process's worker is already sending by the fast path; ``busy_uris``:
    printers it is talking to now (their jobs wait for the next round)."""
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
    if busy_uris:
        stmt = stmt.where(Printer.uri.not_in(sorted(busy_uris)))
    if is_postgres(session):
        stmt = stmt.with_for_update(skip_locked=True, of=PrintJob)
    token = str(uuid.uuid4())
    until = now + dt.timedelta(seconds=lease_s)
    claims = []
    taken: set[int] = set()
    for job, uri, station, sscc in session.execute(stmt).all():
        if job.printer_id in taken:
            continue  # the printer's next job, once this one is done
        taken.add(job.printer_id)
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
    publish(session, "print.job", view, *station_rooms(new.station))
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
        announce(session, job, claim)
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
    *,
    unsure: bool = False,
) -> PrintJobStatus | None:
    """Record a send: ``error`` None -> printed; else a retry later, or failed at the last
    attempt; ``unsure`` (every byte left, then the printer dropped the connection) -> unknown,
    for a person to confirm or reprint (a second copy of an SSCC label is worse than none)."""
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
    elif unsure:
        move(session, job, J.unknown, detail=error, **hints)
        job.next_attempt_at = None
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
    publish(session, "print.job", view, *station_rooms(claim.station))
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
        station = station_code(session, printer)
        publish(
            session,
            "printer.status",
            {"printer": printer.name, "state": state, "station": station},
            *station_rooms(station),
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

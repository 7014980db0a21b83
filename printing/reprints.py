"""What a person does with a finished print job: confirm that an ``unknown`` job did print, or
print its label again as a new job with a reason. Both audited; both close the job's
``printer_failed`` exception.

One reprint at a time per label: while a reprint of a label is still waiting or being sent
(``queued``, ``held``, ``sending``), another reprint request for the same label (a double click,
an HTTP retry) creates nothing and answers that pending reprint (``Reprinted.already_pending``).
Once it has printed (or failed), a new reprint with a reason is allowed again.

Who: a supervisor (or admin) acts on any job; a packer only on the jobs of the station they work
at (``station``, named with the request as every pack-station call names it): a job whose printer
serves another station (or none) is refused, 403 ``other_station``, and nothing is queued,
changed or audited; a packer who names no station is refused, 403 ``station_required``."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.accounts import has_role
from core.actors import Actor
from core.audit import audit
from core.db import is_postgres, utcnow
from core.errors import CoreErrorCode
from core.users import Role
from floor.site.layout import Location
from printing.models import NEEDS_A_PERSON, WAITING, Printer, PrintJob
from printing.queue import (
    J,
    PrintQueueError,
    PrintQueueErrorCode,
    enqueue,
    move,
    resolve_exceptions,
)


def get_job(session: Session, job_id: str, *, lock: bool = False) -> PrintJob:
    """The job named ``job_id``; ``lock``: its row locked (PostgreSQL) and read afresh, for an
    action that decides on its state (SQLite: the transaction is the one writer already)."""
    stmt = select(PrintJob).where(PrintJob.job_id == job_id)
    if lock and is_postgres(session):
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    job = session.scalar(stmt)
    if job is None:
        raise PrintQueueError(CoreErrorCode.not_found, f"no print job {job_id}", 404)
    return job


def check_station(session: Session, job: PrintJob, actor: Actor, station: str | None) -> None:
    """Refuse a packer's action on a job that is not their station's (see the module's note);
    a supervisor may act on any job."""
    if has_role(actor.role, Role.supervisor):
        return
    if not station:
        raise PrintQueueError(
            PrintQueueErrorCode.station_required,
            "say which station you are at: a packer acts on the labels of their own station",
            403,
        )
    code = session.scalar(
        select(Location.code)
        .join(Printer, Printer.station_location_id == Location.id)
        .where(Printer.id == job.printer_id)
    )
    if code is None or code.upper() != station.upper():
        where = f"station {code}'s" if code else "a printer at no station"
        raise PrintQueueError(
            PrintQueueErrorCode.other_station,
            f"job {job.job_id} is {where}, not {station}'s: a supervisor can act on it",
            403,
        )


def confirm_printed(
    session: Session, job_id: str, actor: Actor, station: str | None = None
) -> PrintJob:
    """A person checked the printer: the ``unknown`` job did print. Audited. A packer's
    ``station`` must be the job's (``check_station``)."""
    # Locked: a reprint of the same job at the same moment made it ``replaced`` and queued a
    # copy, and this confirmation, having read it ``unknown``, wrote ``printed`` over that.
    job = get_job(session, job_id, lock=True)
    check_station(session, job, actor, station)
    if job.status != J.unknown:
        raise PrintQueueError(
            PrintQueueErrorCode.not_unknown,
            f"job {job_id} is {job.status.value}; only unknown jobs are confirmed",
        )
    move(session, job, J.printed, detail="confirmed by " + actor.name)
    job.printed_at = utcnow()
    audit(session, actor, "print_job.confirm_printed", entity="print_job", entity_id=job.job_id)
    resolve_exceptions(session, job, actor, f"confirmed printed by {actor.name}")
    return job


# A reprint in one of these states has not finished: another request for its label joins it.
PENDING = (*WAITING, J.sending)


@dataclass(frozen=True)
class Reprinted:
    job: PrintJob
    already_pending: bool  # True: nothing was created, ``job`` is the label's pending reprint


def reprint(
    session: Session, job_id: str, actor: Actor, reason: str, station: str | None = None
) -> Reprinted:
    """Print a job's label again as a new job (new job id), with a reason. Audited. A ``failed``
    or ``unknown`` original becomes ``replaced``; a queued or sending one is refused (it has not
    finished yet). While a reprint of the same label is still pending, nothing is created (nor
    audited) and that reprint is answered (``already_pending``). A packer's ``station`` must be
    the job's (``check_station``)."""
    reason = (reason or "").strip()
    if not reason:
        raise PrintQueueError(
            PrintQueueErrorCode.reason_required, "say why the label is printed again", 422
        )
    if len(reason) > 500:
        raise PrintQueueError(PrintQueueErrorCode.reason_too_long, "at most 500 characters", 422)
    original = get_job(session, job_id, lock=True)  # its state decides: see confirm_printed
    check_station(session, original, actor, station)
    if original.status in (J.queued, J.held, J.sending):
        raise PrintQueueError(
            PrintQueueErrorCode.not_finished,
            f"job {job_id} is {original.status.value}: wait for it, then reprint",
        )
    printer = session.get(Printer, original.printer_id)
    assert printer is not None
    root = original
    while root.reprint_of_id is not None:
        parent = session.get(PrintJob, root.reprint_of_id)
        assert parent is not None
        root = parent
    if is_postgres(session):
        # The label's first job is the lock for its reprints: a concurrent request for the same
        # label waits here and then sees the reprint this one created (SQLite: BEGIN IMMEDIATE).
        session.execute(select(PrintJob.id).where(PrintJob.id == root.id).with_for_update())
    pending = session.scalars(
        select(PrintJob)
        .where(
            PrintJob.job_id.startswith(f"{root.job_id}-r", autoescape=True),
            PrintJob.reprint_of_id.is_not(None),
            PrintJob.status.in_(PENDING),
        )
        .order_by(PrintJob.id.desc())
        .limit(1)
    ).first()
    if pending is not None:
        return Reprinted(pending, already_pending=True)
    copies = session.scalars(select(PrintJob.job_id).where(PrintJob.job_id.startswith(root.job_id)))
    new_id = f"{root.job_id}-r{len(list(copies))}"
    if original.status in NEEDS_A_PERSON:
        move(session, original, J.replaced, detail=f"reprinted as {new_id}")
        resolve_exceptions(session, original, actor, f"reprinted as {new_id}: {reason}")
    job = enqueue(
        session,
        printer,
        original.zpl,
        job_id=new_id,
        kind=original.kind,
        package_id=original.package_id,
        reprint_of=original,
        reason=reason,
    )
    audit(
        session,
        actor,
        "print_job.reprint",
        entity="print_job",
        entity_id=new_id,
        reason=reason,
        details={"reprint_of": original.job_id, "printer": printer.name},
    )
    return Reprinted(job, already_pending=False)

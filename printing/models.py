"""Printers and the print jobs queued for them.

A print job's life (``PRINT_JOB_MACHINE``; every change goes through ``printing.queue.move``)::

    queued --> sending --> printed
      |  ^        |  \\-> queued   (printer unreachable: retried with back-off)
      v  |        |   \\-> failed   (still unreachable after the last attempt)
     held         \\----> unknown  (the sender died mid-send: it may or may not have printed)

``held``: the printer answered ``~HS`` with a problem (paper out, head open...), so nothing was
sent; the job goes out once the printer is ready. ``unknown`` is never re-sent on its own: a
person confirms it printed or reprints it (a new job; the old one becomes ``replaced``), because
a duplicate SSCC label is worse than a missing one. ``failed`` can be reprinted the same way.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, str_enum, utcnow
from core.statemachine import StateMachine


class PrinterTransport(enum.StrEnum):
    tcp = "tcp"
    cups = "cups"
    file = "file"


class PrintJobStatus(enum.StrEnum):
    queued = "queued"
    held = "held"
    sending = "sending"
    printed = "printed"
    failed = "failed"
    unknown = "unknown"
    replaced = "replaced"


J = PrintJobStatus
PRINT_JOB_MACHINE: StateMachine[PrintJobStatus] = StateMachine(
    "print_job",
    {
        J.queued: {J.sending, J.held, J.failed},
        J.held: {J.sending, J.queued, J.failed},
        J.sending: {J.printed, J.queued, J.held, J.failed, J.unknown},
        J.printed: set(),
        J.failed: {J.replaced},
        J.unknown: {J.printed, J.replaced},
        J.replaced: set(),
    },
)
# A job in one of these states waits for the worker.
WAITING = (J.queued, J.held)
# A job in one of these states needs a person (and has a printer_failed exception open).
NEEDS_A_PERSON = (J.failed, J.unknown)


class Printer(Base):
    __tablename__ = "printers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    transport: Mapped[PrinterTransport] = mapped_column(str_enum(PrinterTransport))
    address: Mapped[str] = mapped_column(String(200), comment="host:port or CUPS queue name")
    uri: Mapped[str] = mapped_column(
        String(300), default="", comment="tcp://HOST:PORT, cups://QUEUE or file:///DIR"
    )
    source: Mapped[str] = mapped_column(
        String(10), default="admin", comment="env (FLOOR_PRINTERS) or admin (the admin page)"
    )
    station_location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"))
    dpmm: Mapped[int] = mapped_column(default=8, comment="dots per mm (8 = 203 dpi)")
    online: Mapped[bool] = mapped_column(default=True)
    last_seen_at: Mapped[dt.datetime | None]
    state: Mapped[str] = mapped_column(
        String(120), default="", comment="last ~HS: ready, paper_out,head_open..., unreachable"
    )
    state_at: Mapped[dt.datetime | None]


class PrintJob(Base):
    __tablename__ = "print_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[str] = mapped_column(String(64), unique=True, comment="idempotency key")
    printer_id: Mapped[int] = mapped_column(ForeignKey("printers.id"), index=True)
    package_id: Mapped[int | None] = mapped_column(ForeignKey("packages.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30), comment="shipping_label, sscc_label, ...")
    zpl: Mapped[str] = mapped_column(Text)
    status: Mapped[PrintJobStatus] = mapped_column(
        str_enum(PrintJobStatus), default=PrintJobStatus.queued, index=True
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(index=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[dt.datetime | None]
    claim_token: Mapped[str | None] = mapped_column(
        String(36), comment="the worker round that holds the job"
    )
    lease_until: Mapped[dt.datetime | None] = mapped_column(
        comment="a claim or a send not finished by then was cut off"
    )
    printed_at: Mapped[dt.datetime | None]
    reprint_of_id: Mapped[int | None] = mapped_column(ForeignKey("print_jobs.id"))
    reason: Mapped[str] = mapped_column(Text, default="", comment="why it was reprinted")

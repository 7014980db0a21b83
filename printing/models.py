"""Printers and the print jobs queued for them."""

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


class PrintJobStatus(enum.StrEnum):
    queued = "queued"
    sent = "sent"
    printed = "printed"
    failed = "failed"


J = PrintJobStatus
PRINT_JOB_MACHINE: StateMachine[PrintJobStatus] = StateMachine(
    "print_job",
    {
        J.queued: {J.sent, J.failed},
        J.sent: {J.printed, J.failed, J.queued},
        J.printed: set(),
        J.failed: {J.queued},
    },
)


class Printer(Base):
    __tablename__ = "printers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    transport: Mapped[PrinterTransport] = mapped_column(str_enum(PrinterTransport))
    address: Mapped[str] = mapped_column(String(200), comment="host:port or CUPS queue name")
    station_location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"))
    dpmm: Mapped[int] = mapped_column(default=8, comment="dots per mm (8 = 203 dpi)")
    online: Mapped[bool] = mapped_column(default=True)
    last_seen_at: Mapped[dt.datetime | None]


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

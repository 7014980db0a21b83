"""The exception queue: reason-coded problems a supervisor must see and resolve.

Any layer may open one (intake's short allocation, picking's short pick, printing's failed job,
sync's dead webhook); resolving one writes an audit entry. The table references orders, tasks,
locations and SKUs by table name only, so this module imports nothing above ``core``.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, str_enum, utcnow
from core.statemachine import StateMachine


class ExceptionStatus(enum.StrEnum):
    open = "open"
    resolved = "resolved"


EXCEPTION_MACHINE: StateMachine[ExceptionStatus] = StateMachine(
    "exception",
    {ExceptionStatus.open: {ExceptionStatus.resolved}, ExceptionStatus.resolved: set()},
)


class ExceptionReason(enum.StrEnum):
    short_pick = "short_pick"
    short_allocation = "short_allocation"
    wrong_item = "wrong_item"
    wrong_location = "wrong_location"
    empty_location = "empty_location"
    damaged = "damaged"
    not_found = "not_found"
    printer_failed = "printer_failed"
    oms_rejected = "oms_rejected"
    webhook_dead = "webhook_dead"
    replenishment = "replenishment"
    # an order canceled after units were picked: they sit in its tote(s) until put back
    return_to_stock = "return_to_stock"


class FloorException(Base):
    """A reason-coded problem a supervisor must see and resolve (with an audit entry)."""

    __tablename__ = "exceptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    reason: Mapped[ExceptionReason] = mapped_column(str_enum(ExceptionReason), index=True)
    status: Mapped[ExceptionStatus] = mapped_column(
        str_enum(ExceptionStatus), default=ExceptionStatus.open, index=True
    )
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("pick_tasks.id"))
    location_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"))
    sku_id: Mapped[int | None] = mapped_column(ForeignKey("skus.id"))
    subject: Mapped[str] = mapped_column(String(200), default="", comment="e.g. printer name")
    message: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    resolved_at: Mapped[dt.datetime | None]
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    resolution: Mapped[str] = mapped_column(Text, default="")

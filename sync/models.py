"""The transactional outbox: every order state change, written in the same transaction."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from floor.db import Base, str_enum, utcnow
from floor.statemachine import StateMachine


class OutboxStatus(enum.StrEnum):
    pending = "pending"
    delivered = "delivered"
    dead = "dead"
    skipped = "skipped"  # a dead letter a supervisor chose not to deliver (audited)


O = OutboxStatus  # noqa: E741
OUTBOX_MACHINE: StateMachine[OutboxStatus] = StateMachine(
    "outbox_event",
    {
        O.pending: {O.delivered, O.dead},
        O.dead: {O.pending, O.skipped},
        O.delivered: set(),
        O.skipped: set(),
    },
)
# Statuses that still hold back the later events of the same order.
UNDELIVERED = (O.pending, O.dead)


class OutboxEvent(Base):
    """``id`` is the feed cursor (monotonic); ``event_id`` is the idempotency key receivers see."""

    __tablename__ = "outbox_events"
    __table_args__ = (Index("ix_outbox_events_status_next", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    type: Mapped[str] = mapped_column(String(60))
    aggregate: Mapped[str] = mapped_column(String(30), default="order")
    aggregate_id: Mapped[str] = mapped_column(String(100), index=True, comment="order external id")
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str | None] = mapped_column(String(20))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    status: Mapped[OutboxStatus] = mapped_column(
        str_enum(OutboxStatus), default=OutboxStatus.pending
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime | None]
    last_error: Mapped[str] = mapped_column(Text, default="")
    delivered_at: Mapped[dt.datetime | None]
    # Delivery bookkeeping: a claim is a lease (next_attempt_at moves past the attempt's time-out)
    # identified by claim_token, so a worker that lost its lease cannot overwrite a newer result.
    claim_token: Mapped[str | None] = mapped_column(String(36))
    last_attempt_at: Mapped[dt.datetime | None]
    last_status_code: Mapped[int | None]
    dead_at: Mapped[dt.datetime | None]

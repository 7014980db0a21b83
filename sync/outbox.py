"""Write outbox events in the caller's transaction (the transactional outbox)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from floor.bulk import insert_rows
from floor.db import utcnow
from sync.models import OutboxEvent, OutboxStatus

# Readers page the feed by id. On PostgreSQL two transactions could commit their ids out of
# order (a reader would skip the lower one for good), so writers of events take one
# transaction-scoped advisory lock first: ids then become visible in commit order.
_FEED_LOCK_KEY = 0x466C6F6F72  # "Floor"
_LOCKED = "floor.outbox_locked"


def lock_feed(session: Session) -> None:
    """Take the feed writers' lock now (it is taken anyway by the first event of a transaction).
    Order intake takes it before reading, so concurrent intakes of one external id serialise."""
    _serialise_feed_writers(session)


def _serialise_feed_writers(session: Session) -> None:
    if session.info.get(_LOCKED) is session.get_transaction():
        return
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(_FEED_LOCK_KEY)))
    session.info[_LOCKED] = session.get_transaction()


def record_event(
    session: Session,
    *,
    type: str,
    aggregate_id: str,
    from_state: str | None,
    to_state: str | None,
    payload: dict[str, Any],
    aggregate: str = "order",
) -> OutboxEvent:
    _serialise_feed_writers(session)
    now = utcnow()
    ev = OutboxEvent(
        event_id=str(uuid.uuid4()),
        type=type,
        aggregate=aggregate,
        aggregate_id=aggregate_id,
        from_state=from_state,
        to_state=to_state,
        payload=payload,
        created_at=now,
        next_attempt_at=now,
    )
    session.add(ev)
    return ev


_EVENT_COLUMNS = (
    "event_id",
    "aggregate",
    "type",
    "aggregate_id",
    "from_state",
    "to_state",
    "payload",
    "created_at",
    "status",
    "attempts",
    "next_attempt_at",
    "last_error",
)


def record_events(session: Session, events: list[dict[str, Any]]) -> None:
    """Write many events at once, each a dict of ``record_event``'s keyword arguments; ids
    follow the list order (and come after any event still pending in the session). For
    set-based writers such as batch order intake and bulk transitions: ``COPY`` on PostgreSQL,
    one executemany on SQLite (``floor.bulk.insert_rows``)."""
    if not events:
        return
    _serialise_feed_writers(session)
    now = utcnow()
    pending = OutboxStatus.pending
    insert_rows(
        session,
        OutboxEvent.__table__,
        _EVENT_COLUMNS,
        (
            (
                str(uuid.uuid4()),
                ev.get("aggregate", "order"),
                ev["type"],
                ev["aggregate_id"],
                ev["from_state"],
                ev["to_state"],
                ev["payload"],
                now,
                pending,
                0,
                now,
                "",
            )
            for ev in events
        ),
    )

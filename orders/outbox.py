"""The transactional outbox: every order state change, written in the same transaction."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Index, String, Text, event, func, select
from sqlalchemy.orm import Mapped, ORMExecuteState, Session, mapped_column

from core.bulk import insert_rows
from core.db import Base, core_connection, str_enum, utcnow
from core.events import run_handlers
from core.statemachine import StateMachine


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
    """``id`` is the feed position (monotonic, sent as the string ``cursor``); ``event_id`` is
    the idempotency key receivers see. ``event_json`` below is how the OMS sees a row."""

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


def event_cursor(ev: OutboxEvent) -> str:
    """The event's position in the feed as the OMS sees it: a string. It happens to be the
    decimal id, but the OMS treats it as opaque (stores it, sends it back as ``after=``), so
    the server may change how positions are written without breaking a receiver."""
    return str(ev.id)


def event_json(ev: OutboxEvent) -> dict[str, Any]:
    """One outbox event as the OMS sees it, the single serialiser of the contract: an item of
    ``GET /api/v1/events`` and, byte for byte once encoded, the body of a webhook delivery
    (docs/api.md, schema ``Event`` in web/openapi.py). Key order is part of what is signed."""
    return {
        "cursor": event_cursor(ev),
        "event_id": ev.event_id,
        "type": ev.type,
        "order": ev.aggregate_id,
        "from": ev.from_state,
        "to": ev.to_state,
        "at": ev.created_at.astimezone(dt.UTC).isoformat(),
        "payload": ev.payload,
    }


# Readers page the feed by id. On PostgreSQL two transactions could commit their ids out of
# order (a reader would skip the lower one for good), so writers of events take one
# transaction-scoped advisory lock first: ids then become visible in commit order.
#
# That lock serialises every transaction that records an event from the moment it takes it to
# its commit. ``record_event`` therefore only *queues* the event on the session; the lock is
# taken and the queued rows inserted just before the commit (``before_commit``), or earlier
# when the transaction reads the outbox itself or writes events in bulk. A picker's first scan
# of an order (waved → picking) then holds the lock for one INSERT and the COMMIT instead of
# for the rest of the scan (with 200 handhelds on PostgreSQL, scans queued on it for seconds).
_FEED_LOCK_KEY = 0x466C6F6F72  # "Floor"
_LOCKED = "floor.outbox_locked"
_QUEUED = "floor.outbox_queued"
_COMMITTING = "floor.outbox_committing"


def lock_feed(session: Session) -> None:
    """Take the feed writers' lock now (it is taken anyway before the commit of a transaction
    that recorded events). Order intake takes it before reading, so concurrent intakes of one
    external id serialise."""
    _serialise_feed_writers(session)
    _write_queued(session)


def _write_queued(session: Session) -> None:
    """Insert the events ``record_event`` queued, under the feed lock, in the order recorded
    (rows, not objects: one statement without the ORM's unit of work)."""
    queued = session.info.pop(_QUEUED, None)
    if not queued:
        return
    _serialise_feed_writers(session)
    insert_rows(session, OutboxEvent.__table__, _EVENT_COLUMNS, queued)


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    # The domain's in-transaction handlers first (a label built and its print job queued, say):
    # they may record events, and on PostgreSQL they must not run under the feed lock, which
    # every other event writer waits for.
    run_handlers(session)
    # Events recorded after this point (by other before-commit handlers) are written at once.
    session.info[_COMMITTING] = True
    if session.info.get(_QUEUED):
        # Flush the transaction's own row changes first: once it holds the feed lock it takes
        # no more row locks, so it cannot deadlock with a writer that holds one of those rows
        # and waits for the feed lock.
        session.flush()
    _write_queued(session)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    session.info.pop(_COMMITTING, None)


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, _previous: Any) -> None:
    session.info.pop(_QUEUED, None)
    session.info.pop(_COMMITTING, None)


@event.listens_for(Session, "do_orm_execute")
def _before_outbox_read(state: ORMExecuteState) -> None:
    # A transaction that reads the outbox sees its own queued events (as autoflush would).
    session = state.session
    if session.info.get(_QUEUED) and any(m.class_ is OutboxEvent for m in state.all_mappers):
        _write_queued(session)


_TAKE_FEED_LOCK = select(func.pg_advisory_xact_lock(_FEED_LOCK_KEY))


def _serialise_feed_writers(session: Session) -> None:
    if session.info.get(_LOCKED) is session.get_transaction():
        return
    if session.get_bind().dialect.name == "postgresql":
        # The row changes first, as autoflush would (see _before_commit).
        core_connection(session).execute(_TAKE_FEED_LOCK)
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
) -> str:
    """Queue one event (written before the commit, see above); returns its ``event_id``."""
    row = _event_row(type, aggregate_id, from_state, to_state, payload, aggregate, utcnow())
    session.info.setdefault(_QUEUED, []).append(row)
    if session.info.get(_COMMITTING):
        _write_queued(session)
    return row[0]


def _event_row(
    type: str,
    aggregate_id: str,
    from_state: str | None,
    to_state: str | None,
    payload: dict[str, Any],
    aggregate: str,
    now: dt.datetime,
) -> tuple[Any, ...]:
    """A new pending event as a row in ``_EVENT_COLUMNS`` order, with a fresh ``event_id``."""
    return (
        str(uuid.uuid4()),
        aggregate,
        type,
        aggregate_id,
        from_state,
        to_state,
        payload,
        now,
        OutboxStatus.pending,
        0,
        now,
        "",
    )


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


def record_events(session: Session, events: list[dict[str, Any]]) -> list[str]:
    """Write many events at once, each a dict of ``record_event``'s keyword arguments; ids
    follow the list order (and come after any event still pending in the session). For
    set-based writers such as batch order intake and bulk transitions: ``COPY`` on PostgreSQL,
    one executemany on SQLite (``core.bulk.insert_rows``). Returns their ``event_id``s, in
    the list's order."""
    if not events:
        return []
    lock_feed(session)  # and write the queued single events first: ids in order
    now = utcnow()
    rows = [
        _event_row(
            ev["type"],
            ev["aggregate_id"],
            ev["from_state"],
            ev["to_state"],
            ev["payload"],
            ev.get("aggregate", "order"),
            now,
        )
        for ev in events
    ]
    insert_rows(session, OutboxEvent.__table__, _EVENT_COLUMNS, rows)
    return [row[0] for row in rows]


_POSITIONS_CHUNK = 500  # event ids per IN-list


def positions(session: Session, event_ids: Iterable[str]) -> dict[str, int]:
    """The feed position (``id``) of each committed event of ``event_ids`` (an id not found is
    left out). Ids become visible in commit order (the feed lock above), so a reader whose
    largest visible id was N had seen exactly the events at positions up to N: by this the
    dashboard tells a move its snapshot already counted from one it did not."""
    wanted = list(dict.fromkeys(event_ids))
    found: dict[str, int] = {}
    for i in range(0, len(wanted), _POSITIONS_CHUNK):
        chunk = wanted[i : i + _POSITIONS_CHUNK]
        rows = session.execute(
            select(OutboxEvent.event_id, OutboxEvent.id).where(OutboxEvent.event_id.in_(chunk))
        )
        found.update((event_id, id_) for event_id, id_ in rows)
    return found

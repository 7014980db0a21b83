"""The outbox's feed lock (PostgreSQL: one advisory lock every event writer waits for) is taken
after the domain's in-transaction handlers have run, so it is held only for the event rows and
the commit, not for the handlers' work (a label built and queued, say)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from core.db import unit_of_work
from core.events import DomainEvent, handle, record
from orders.outbox import OutboxEvent, record_event

LOCKED = "floor.outbox_locked"  # orders.outbox: the transaction that holds the feed lock


def test_handlers_run_before_the_feed_lock_and_their_events_commit_with_the_rest(sessions):
    seen: list[bool] = []

    def handler(session: Any, _ev: DomainEvent) -> None:
        seen.append(session.info.get(LOCKED) is session.get_transaction())
        record_event(
            session,
            type="order.test_handled",
            aggregate_id="LOCK-ORDER-1",
            from_state=None,
            to_state=None,
            payload={"by": "handler"},
        )

    handle(sessions, "test.lock_order", handler)
    with unit_of_work(sessions) as s:
        record_event(
            s,
            type="order.test_recorded",
            aggregate_id="LOCK-ORDER-1",
            from_state=None,
            to_state=None,
            payload={"by": "transaction"},
        )
        record(s, "test.lock_order", {})
    assert seen == [False], "the handler ran while the transaction held the feed lock"
    with unit_of_work(sessions) as s:
        types = s.scalars(
            select(OutboxEvent.type)
            .where(OutboxEvent.aggregate_id == "LOCK-ORDER-1")
            .order_by(OutboxEvent.id)
        ).all()
    assert types == ["order.test_recorded", "order.test_handled"]

"""The delivery loop against a real HTTP receiver: order per order, dead letters, redelivery,
leases, two workers, and a receiver that fails in every way at random."""

from __future__ import annotations

import datetime as dt
import random
import threading

from sqlalchemy import func, select

from core.actors import Actor
from core.db import unit_of_work, utcnow
from core.exception_queue import ExceptionReason, ExceptionStatus, FloorException
from core.users import AuditEntry, Role
from orders.outbox import OutboxEvent, OutboxStatus
from sync.sandbox import Chaos, OmsReceiver
from sync.webhooks import RetryPolicy, redeliver, skip
from sync.worker import claim_due, deliver_due, record_outcomes
from tests.factories import SECRET, HeldRace, fast_config, make_events

SAM = Actor("sam", Role.supervisor, None)


def events_by_order(sessions):
    with unit_of_work(sessions) as s:
        rows = s.execute(
            select(OutboxEvent.aggregate_id, OutboxEvent.event_id).order_by(OutboxEvent.id)
        ).all()
    out: dict[str, list[str]] = {}
    for order, event_id in rows:
        out.setdefault(order, []).append(event_id)
    return out


def accepted_by_order(oms):
    out: dict[str, list[str]] = {}
    for ev in oms.accepted:
        out.setdefault(ev["order"], []).append(ev["event_id"])
    return out


def statuses(sessions):
    with unit_of_work(sessions) as s:
        return dict(
            s.execute(select(OutboxEvent.status, func.count()).group_by(OutboxEvent.status)).all()
        )


def test_every_event_arrives_signed_once_in_order_with_the_feed_shape(sessions, oms):
    make_events(sessions, orders=5, per_order=4)
    stats = deliver_due(sessions, fast_config(oms.url))
    assert stats.delivered == 20 and stats.dead == 0
    assert accepted_by_order(oms) == events_by_order(sessions)
    assert oms.counters["bad_signature"] == 0 and sum(oms.seen.values()) == 20
    first = oms.accepted[0]
    assert list(first) == ["cursor", "event_id", "type", "order", "from", "to", "at", "payload"]
    assert isinstance(first["cursor"], str) and first["cursor"].isdigit()  # opaque, a string
    assert first["type"] == "order.received" and first["from"] is None
    assert dt.datetime.fromisoformat(first["at"]).tzinfo is not None
    assert statuses(sessions) == {OutboxStatus.delivered: 20}
    with unit_of_work(sessions) as s:
        ev = s.scalars(select(OutboxEvent)).first()
        assert ev.delivered_at is not None and ev.attempts == 1 and ev.last_status_code == 200


def test_only_the_oldest_undelivered_event_of_an_order_is_claimed(sessions):
    make_events(sessions, orders=3, per_order=3)
    with unit_of_work(sessions) as s:
        claims = claim_due(s, utcnow(), 100, 30)
        assert len(claims) == 3 and len({c.order for c in claims}) == 3
        # Claimed events are leased: nothing else of those orders is due meanwhile.
        assert claim_due(s, utcnow(), 100, 30) == []


def test_two_workers_never_post_the_same_event(sessions, oms):
    make_events(sessions, orders=40, per_order=3)
    cfg = fast_config(oms.url, batch=8, concurrency=4)
    results = []
    workers = [
        threading.Thread(target=lambda: results.append(deliver_due(sessions, cfg)))
        for _ in range(2)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    deliver_due(sessions, cfg)  # whatever one worker found held back while the other worked
    assert len(oms.accepted) == 120
    assert max(oms.seen.values()) == 1, "an event was posted twice without a failure"
    assert accepted_by_order(oms) == events_by_order(sessions)


def test_rejected_event_is_a_dead_letter_that_holds_back_its_order_only(sessions):
    make_events(sessions, orders=2, per_order=3)
    with OmsReceiver(SECRET, Chaos(p_422=1.0)) as refusing:
        stats = deliver_due(sessions, fast_config(refusing.url))
    assert stats.dead == 2 and stats.delivered == 0
    assert statuses(sessions) == {OutboxStatus.dead: 2, OutboxStatus.pending: 4}
    with unit_of_work(sessions) as s:
        dead = s.scalars(select(OutboxEvent).where(OutboxEvent.status == "dead")).all()
        assert {d.type for d in dead} == {"order.received"}
        assert all(d.last_status_code == 422 and d.dead_at for d in dead)
        exc = s.scalars(select(FloorException)).all()
        assert [e.reason for e in exc] == [ExceptionReason.webhook_dead] * 2
        assert all(e.order_id is not None and e.status == ExceptionStatus.open for e in exc)
        assert claim_due(s, utcnow(), 100, 30) == []  # the rest waits behind the dead letter

    with OmsReceiver(SECRET) as fixed:
        with unit_of_work(sessions) as s:
            first = min(d.id for d in dead)
            assert redeliver(s, SAM, [first], reason="OMS created the order")
        deliver_due(sessions, fast_config(fixed.url))
        delivered = accepted_by_order(fixed)
        assert len(delivered) == 1
        assert list(delivered.values())[0] == events_by_order(sessions)[dead[0].aggregate_id]
        with unit_of_work(sessions) as s:
            entry = s.scalars(
                select(AuditEntry).where(AuditEntry.action == "webhook.redeliver")
            ).one()
            assert entry.actor == "sam" and entry.reason == "OMS created the order"
            resolved = s.scalars(
                select(FloorException).where(FloorException.status == ExceptionStatus.resolved)
            ).all()
            assert len(resolved) == 1 and "redelivered by sam" in resolved[0].resolution

        # The other dead letter is skipped by the supervisor: its order's later events flow.
        with unit_of_work(sessions) as s:
            other = max(d.id for d in dead)
            skip(s, SAM, other, reason="order was re-keyed in the OMS")
        deliver_due(sessions, fast_config(fixed.url))
    assert statuses(sessions) == {OutboxStatus.delivered: 5, OutboxStatus.skipped: 1}
    assert len(fixed.accepted) == 5


def test_retries_are_exhausted_into_a_dead_letter(sessions):
    make_events(sessions, orders=1, per_order=1)
    policy = RetryPolicy(max_attempts=3, base_s=0.001, max_s=0.001)
    with OmsReceiver(SECRET, Chaos(p_500=1.0)) as broken:
        for _ in range(10):
            deliver_due(sessions, fast_config(broken.url, policy=policy))
        assert sum(broken.seen.values()) == 3
    with unit_of_work(sessions) as s:
        ev = s.scalars(select(OutboxEvent)).one()
        assert ev.status == OutboxStatus.dead and ev.attempts == 3
        assert "gave up after 3 attempts" in ev.last_error and "HTTP 500" in ev.last_error


def test_retry_after_is_honoured(sessions):
    make_events(sessions, orders=1, per_order=1)
    with OmsReceiver(SECRET, Chaos(p_503=1.0, retry_after="120")) as busy:
        before = utcnow()
        deliver_due(sessions, fast_config(busy.url))
        deliver_due(sessions, fast_config(busy.url))
        assert sum(busy.seen.values()) == 1  # not due again before 120 s
    with unit_of_work(sessions) as s:
        ev = s.scalars(select(OutboxEvent)).one()
        assert ev.status == OutboxStatus.pending and ev.last_status_code == 503
        assert ev.next_attempt_at >= before + dt.timedelta(seconds=120)


def test_an_expired_lease_is_claimed_again_and_the_late_result_is_ignored(sessions, oms):
    make_events(sessions, orders=1, per_order=2)
    now = utcnow()
    with unit_of_work(sessions) as s:
        [lost] = claim_due(s, now, 10, lease_s=10)  # this worker then "dies"
    with unit_of_work(sessions) as s:
        assert claim_due(s, now + dt.timedelta(seconds=5), 10, 10) == []
        [again] = claim_due(s, now + dt.timedelta(seconds=11), 10, 10)
    assert again.event_id == lost.event_id and again.token != lost.token
    from sync.webhooks import Outcome

    with unit_of_work(sessions) as s:
        counts = record_outcomes(s, [(lost, Outcome("retry", 500, "late"))], RetryPolicy(), now)
        assert counts["lost"] == 1
        counts = record_outcomes(s, [(again, Outcome("delivered", 200))], RetryPolicy(), now)
        assert counts["delivered"] == 1
    with unit_of_work(sessions) as s:
        ev = s.scalars(select(OutboxEvent).order_by(OutboxEvent.id)).first()
        assert ev.status == OutboxStatus.delivered and ev.attempts == 2


def test_chaos_every_event_arrives_once_in_order(sessions):
    """500s, 503 + Retry-After, hangs past the time-out, dropped connections, and a phase where
    nothing listens at all: in the end every event is accepted once, in order per order."""
    make_events(sessions, orders=12, per_order=4)
    chaos = Chaos(p_500=0.15, p_503=0.1, p_hang=0.08, p_close=0.1, hang_s=0.6, seed=7)
    oms = OmsReceiver(SECRET, chaos).start()
    cfg = fast_config(oms.url, timeout_s=0.3, batch=16, concurrency=8)
    rng = random.Random(3)
    try:
        deliver_due(sessions, cfg, rng=rng, max_rounds=2)
        oms.stop()  # the OMS goes away: connections refused
        refused = deliver_due(sessions, cfg, rng=rng, max_rounds=3)
        assert refused.delivered == 0 and refused.retried > 0
        oms.start()  # back on the same port
        for _ in range(400):
            deliver_due(sessions, cfg, rng=rng)
            if statuses(sessions) == {OutboxStatus.delivered: 48}:
                break
            threading.Event().wait(0.02)
    finally:
        oms.stop()
    assert statuses(sessions) == {OutboxStatus.delivered: 48}
    assert oms.counters["bad_signature"] == 0
    assert len(oms.accepted) == 48 and len(oms.accepted_ids) == 48
    assert accepted_by_order(oms) == events_by_order(sessions)
    assert oms.out_of_order == []
    # The receiver really misbehaved: retries happened and some events were seen twice.
    assert sum(oms.seen.values()) > 48
    assert oms.counters["hangs"] > 0 and oms.counters["closed"] > 0


def test_a_returning_oms_wakes_events_that_waited_only_because_it_was_down(sessions):
    slow = RetryPolicy(max_attempts=10, base_s=600, max_s=600)
    make_events(sessions, orders=1, per_order=1, prefix="ERR")
    with OmsReceiver(SECRET, Chaos(p_500=1.0)) as failing:
        deliver_due(sessions, fast_config(failing.url, policy=slow))
    make_events(sessions, orders=2, per_order=1, prefix="DOWN")
    down = OmsReceiver(SECRET).start()
    port = down.port
    down.stop()
    deliver_due(sessions, fast_config(down.url, policy=slow))  # refused: back in 5-10 min
    assert statuses(sessions) == {OutboxStatus.pending: 3}
    make_events(sessions, orders=1, per_order=1, prefix="NEW")
    with OmsReceiver(SECRET, port=port) as back:
        deliver_due(sessions, fast_config(back.url, policy=slow))
        accepted = sorted(ev["order"] for ev in back.accepted)
    # NEW went first; its success woke the two that had only been refused. The one that got a
    # 500 keeps its back-off.
    assert accepted == ["DOWN-00000", "DOWN-00001", "NEW-00000"]
    assert statuses(sessions) == {OutboxStatus.delivered: 3, OutboxStatus.pending: 1}


def test_a_skip_racing_a_redelivery_of_the_same_dead_letter_is_refused(sessions, monkeypatch):
    """Two supervisors on /sync: one redelivers a dead letter while the other skips it. The
    first wins and the second is told it is no longer dead (409 ``not_dead``). On PostgreSQL
    both read it ``dead``, both were answered done and audited, and whichever committed last
    decided whether the OMS ever got the event."""

    import sync.webhooks as webhooks

    make_events(sessions, orders=1, per_order=1)
    policy = RetryPolicy(max_attempts=1, base_s=0.001, max_s=0.001)
    with OmsReceiver(SECRET, Chaos(p_500=1.0)) as broken:
        deliver_due(sessions, fast_config(broken.url, policy=policy))
    with unit_of_work(sessions) as s:
        ev = s.scalars(select(OutboxEvent)).one()
        assert ev.status == OutboxStatus.dead
        cursor = ev.id
    race = HeldRace()
    resolve = webhooks._resolve_exceptions

    def slow_resolve(session, events, actor, resolution):
        if resolution.startswith("redelivered"):  # the redelivery waits, its letter read dead
            race.hold()
        return resolve(session, events, actor, resolution)

    monkeypatch.setattr(webhooks, "_resolve_exceptions", slow_resolve)
    outcome = race.run(
        sessions,
        lambda s: redeliver(s, SAM, [cursor], reason="fixed"),
        lambda s: skip(s, SAM, cursor, reason="not needed"),
    )
    assert outcome == ("done", "not_dead")  # the redelivery, then the skip
    assert statuses(sessions) == {OutboxStatus.pending: 1}
    with unit_of_work(sessions) as s:
        assert not s.scalars(select(AuditEntry).where(AuditEntry.action == "webhook.skip")).all()

"""Pickers in parallel (threads, one session each): on PostgreSQL row locks with SKIP LOCKED
keep two pickers off the same pick list, and a scan replayed at the same moment counts once."""

from __future__ import annotations

import threading

from sqlalchemy import select

from core.db import unit_of_work
from floor.fulfilment.models import PickList
from floor.fulfilment.picking.scans import confirm_scan, next_task
from floor.fulfilment.waves.planning import RuleSpec, plan_waves, release_wave
from floor.site.layout import SkuGtin
from floor.site.stock import Stock
from tests.factories import HeldRace, actor_for, add_order, supervisor


def _run(n, target):
    errors: list[BaseException] = []
    barrier = threading.Barrier(n)

    def body(i):
        try:
            barrier.wait(timeout=10)
            target(i)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors


def test_two_pickers_never_get_the_same_pick_list(sessions):
    with unit_of_work(sessions) as s:
        for k in range(2):  # two single-order lists (one tote a cart)
            add_order(s, [(f"SKU-{100 + k:05d}", 1)])
        result = plan_waves(s, RuleSpec(split_by_zone=False, totes_per_cart=1), supervisor(s))
        for w in result.waves:
            release_wave(s, w.id, supervisor(s))
        pickers = [actor_for(s, "pat"), actor_for(s, "pia")]
    got: dict[int, int | None] = {}

    def claim(i):
        with unit_of_work(sessions) as s:
            task = next_task(s, pickers[i])
            got[i] = task.pick_list_id if task else None

    _run(2, claim)
    assert None not in got.values() and got[0] != got[1]
    with unit_of_work(sessions) as s:
        owners = s.scalars(select(PickList.assigned_user_id).order_by(PickList.id)).all()
        assert sorted(owners) == sorted(p.user_id for p in pickers)


def test_the_same_scan_sent_twice_at_once_counts_once(sessions):
    with unit_of_work(sessions) as s:
        add_order(s, [("SKU-00100", 3)])
        [wave] = plan_waves(s, RuleSpec(), supervisor(s)).waves
        release_wave(s, wave.id, supervisor(s))
        pat = actor_for(s, "pat")
        task = next_task(s, pat)
        task_id, sku_id = task.id, task.sku_id
        gtin = s.scalars(select(SkuGtin.gtin).where(SkuGtin.sku_id == sku_id)).first()
        on_hand = s.scalars(
            select(Stock.on_hand).where(Stock.location_id == task.location_id)
        ).one()
    results = []

    def scan(_i):
        with unit_of_work(sessions) as s:
            results.append(confirm_scan(s, pat, task_id, gtin, "same-scan").result)

    _run(4, scan)
    assert results == ["ok"] * 4
    with unit_of_work(sessions) as s:
        from floor.fulfilment.models import PickTask

        assert s.get(PickTask, task_id).picked_qty == 1
        after = s.scalars(select(Stock.on_hand).where(Stock.location_id == task.location_id)).one()
        assert after == on_hand - 1


def test_two_supervisors_resolving_one_exception_at_once_resolve_it_once(sessions, monkeypatch):
    """The first one to read it resolves it; the second is told it is resolved (409), and
    neither the resolution nor the audit trail is written twice. On PostgreSQL both read it
    ``open`` before either wrote, so both were answered 200 and the second text replaced the
    first (two ``exception.resolve`` entries for one exception)."""

    from core.exception_queue import ExceptionReason, ExceptionStatus, FloorException
    from core.users import AuditEntry
    from floor.fulfilment import exceptions as floor_exceptions

    with unit_of_work(sessions) as s:
        exc = FloorException(reason=ExceptionReason.damaged, message="carton crushed at D-01")
        s.add(exc)
        s.flush()
        exc_id = exc.id
        sam = supervisor(s)
    race = HeldRace()
    close = floor_exceptions.close_exception

    def slow_close(session, exc, actor, resolution, details=None):
        race.hold()  # the first resolver waits here, its read done
        close(session, exc, actor, resolution, details)

    monkeypatch.setattr(floor_exceptions, "close_exception", slow_close)
    outcome = race.run(
        sessions,
        lambda s: floor_exceptions.resolve_exception(s, exc_id, sam, "first: recounted"),
        lambda s: floor_exceptions.resolve_exception(s, exc_id, sam, "second: written off"),
    )
    assert outcome == ("done", "invalid_transition")
    with unit_of_work(sessions) as s:
        row = s.get(FloorException, exc_id)
        assert (row.status, row.resolution) == (ExceptionStatus.resolved, "first: recounted")
        entries = s.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "exception.resolve", AuditEntry.entity_id == str(exc_id)
            )
        ).all()
        assert len(entries) == 1

"""The picker's flow on the real database: scans, replays, short picks, overrides, refills."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core.db import unit_of_work
from core.exception_queue import ExceptionReason, FloorException
from core.users import AuditEntry
from floor.fulfilment.models import PickList, PickTask, Scan, Wave
from floor.fulfilment.picking.booking import override_task
from floor.fulfilment.picking.scans import PickError, next_task
from floor.fulfilment.picking.short_picks import report_short
from floor.fulfilment.states import TaskStatus, WaveStatus
from floor.fulfilment.waves.planning import OPEN_TASK as OPEN_TASK_STATUSES
from floor.fulfilment.waves.planning import RuleSpec, plan_waves, release_wave
from floor.fulfilment.waves.progress import summaries
from floor.site.geometry import geometry
from floor.site.layout import Location, SkuGtin
from floor.site.replenishment import complete_replenishment
from floor.site.routing import route_length, route_optimal
from floor.site.stock import ReplenishmentStatus, ReplenishmentTask, Reservation, Stock
from orders.models import OrderLine
from orders.states import OrderStatus, ShortPolicy
from tests.factories import actor_for, add_order, pick_scan, supervisor


def _released(s, *orders_lines, policy=ShortPolicy.ship_partial, rule=None):
    orders = [add_order(s, lines, policy=policy) for lines in orders_lines]
    result = plan_waves(s, rule or RuleSpec(split_by_zone=False), supervisor(s))
    for w in result.waves:
        release_wave(s, w.id, supervisor(s))
    return orders, result.waves


def _gtin(s, sku_id: int) -> str:
    return s.scalars(select(SkuGtin.gtin).where(SkuGtin.sku_id == sku_id)).first()


def _state(s, task):
    """Everything a scan could change."""
    res = s.get(Reservation, task.reservation_id)
    stock = s.get(Stock, res.stock_id)
    line = s.get(OrderLine, task.order_line_id)
    for obj in (res, stock, line, task):
        s.refresh(obj)
    return (
        task.picked_qty,
        task.status,
        res.picked,
        stock.on_hand,
        stock.reserved,
        line.picked_qty,
        line.order.status,
    )


def test_wrong_item_scan_changes_nothing_but_is_recorded(sessions):
    with unit_of_work(sessions) as s:
        _released(s, [("SKU-00100", 2)])
        pat = actor_for(s, "pat")
        task = next_task(s, pat)
        before = _state(s, task)
        out = pick_scan(s, pat, task.id, _gtin(s, task.sku_id + 1), "c-1")
        assert out.result == "wrong_item" and "pick SKU-00100" in out.message
        out = pick_scan(s, pat, task.id, "NOT-A-BARCODE", "c-2")
        assert out.result == "wrong_item"
        assert _state(s, task) == before
        assert s.scalar(select(func.count(Scan.id)).where(Scan.task_id == task.id)) == 2


def test_location_scans_confirm_arrival_or_say_wrong_location(sessions):
    with unit_of_work(sessions) as s:
        _released(s, [("SKU-00100", 1)])
        pat = actor_for(s, "pat")
        task = next_task(s, pat)
        loc = s.get(Location, task.location_id)
        before = _state(s, task)
        assert pick_scan(s, pat, task.id, loc.check_code, "l-1").result == "ok"
        assert pick_scan(s, pat, task.id, loc.code, "l-2").kind == "location"
        other = "L-20-D-1" if loc.code != "L-20-D-1" else "A-01-A-1"
        out = pick_scan(s, pat, task.id, other, "l-3")
        assert out.result == "wrong_location" and loc.code in out.message
        assert _state(s, task) == before


def test_good_scans_pick_units_and_close_task_order_and_wave(sessions):
    with unit_of_work(sessions) as s:
        [order], [wave] = _released(s, [("SKU-00100", 2)])
        pat = actor_for(s, "pat")
        task = next_task(s, pat)
        picked0, _st, res0, on_hand0, reserved0, _lp, _os = _state(s, task)
        out = pick_scan(s, pat, task.id, _gtin(s, task.sku_id), "g-1")
        assert out.result == "ok" and out.units == 1 and out.next_task is task
        assert order.status == OrderStatus.picking and wave.status == WaveStatus.released
        out = pick_scan(s, pat, task.id, "sku-00100", "g-2")  # the SKU code itself
        assert out.result == "ok" and out.next_task is None
        assert _state(s, task) == (
            2,
            TaskStatus.picked,
            res0 + 2,
            on_hand0 - 2,
            reserved0 - 2,
            2,
            OrderStatus.picked,
        )
        assert wave.status == WaveStatus.completed and wave.completed_at is not None
        assert pick_scan(s, pat, task.id, "sku-00100", "g-3").result == "task_closed"


def test_a_replayed_scan_returns_the_original_result_and_changes_nothing(sessions):
    with unit_of_work(sessions) as s:
        _released(s, [("SKU-00100", 3)])
        pat = actor_for(s, "pat")
        task = next_task(s, pat)
        gtin = _gtin(s, task.sku_id)
        first = pick_scan(s, pat, task.id, gtin, "dup-1")
        after_first = _state(s, task)
        again = pick_scan(s, pat, task.id, gtin, "dup-1")
        assert first.result == again.result == "ok" and again.replayed
        assert _state(s, task) == after_first
        wrong = pick_scan(s, pat, task.id, "A-01-A-1", "dup-2")
        assert pick_scan(s, pat, task.id, "A-01-A-1", "dup-2").result == wrong.result
        assert _state(s, task) == after_first
        task_id = task.id
    # The same id with another code: refused (the caller's transaction rolls back), not counted.
    with pytest.raises(PickError) as refused, unit_of_work(sessions) as s:
        pick_scan(s, pat, task_id, gtin, "dup-2")
    assert refused.value.code == "scan_id_reused"
    with unit_of_work(sessions) as s:
        assert _state(s, s.get(PickTask, task_id)) == after_first


def test_scan_ids_are_per_picker_another_pickers_id_is_not_a_replay(sessions):
    """Replaying another picker's ``client_scan_id`` neither returns their task nor collides."""
    with unit_of_work(sessions) as s:
        _released(s, [("SKU-00100", 3)])
        pat, pia = actor_for(s, "pat"), actor_for(s, "pia")
        task = next_task(s, pat)
        gtin = _gtin(s, task.sku_id)
        assert pick_scan(s, pat, task.id, gtin, "shared-id").result == "ok"
        stolen = pick_scan(s, pia, task.id, gtin, "shared-id")
        assert not stolen.replayed and stolen.result == "not_your_task"
        assert stolen.task is None or stolen.task.assigned_user_id != pia.user_id
        assert "already received" not in stolen.message
        again = pick_scan(s, pia, task.id, gtin, "shared-id")
        assert again.replayed and again.result == "not_your_task"  # pia's own replay
        ids = s.scalars(select(Scan.user_id).where(Scan.client_scan_id == "shared-id")).all()
        assert sorted(ids) == sorted([pat.user_id, pia.user_id])


def test_a_pick_list_belongs_to_one_picker(sessions):
    with unit_of_work(sessions) as s:
        _released(s, [("SKU-00100", 1)], rule=RuleSpec(split_by_zone=False))
        pat, pia = actor_for(s, "pat"), actor_for(s, "pia")
        task = next_task(s, pat)
        assert next_task(s, pia) is None
        assert pick_scan(s, pia, task.id, "SKU-00100", "o-1").result == "not_your_task"
        assert next_task(s, pat) is task


def test_tasks_come_in_route_order(sessions):
    with unit_of_work(sessions) as s:
        _released(s, [(f"SKU-{k:05d}", 1) for k in (290, 70, 180, 230, 95)])
        pat = actor_for(s, "pat")
        seen = []
        while (task := next_task(s, pat)) is not None:
            seen.append(task)
            pick_scan(s, pat, task.id, _gtin(s, task.sku_id), f"r-{task.id}")
        geo = geometry(s)
        picks = [geo.pick(t.location_id) for t in seen]
        assert [t.seq for t in seen] == [1, 2, 3, 4, 5]
        assert route_length(geo.layout, picks, range(5)) == pytest.approx(
            route_optimal(geo.layout, picks).length_m
        )


def test_short_pick_re_reserves_at_another_location_and_re_routes(sessions):
    with unit_of_work(sessions) as s:
        lines = [("SKU-00005", 2), ("SKU-00150", 1), ("SKU-00270", 1), ("SKU-00210", 1)]
        [order], [wave] = _released(s, lines)
        pat = actor_for(s, "pat")
        sku5 = s.scalar(
            select(OrderLine.sku_id).where(OrderLine.order_id == order.id, OrderLine.line_id == "1")
        )
        # Walk the list until the SKU-00005 task comes up; pick the others.
        while (task := next_task(s, pat)).sku_id != sku5:
            pick_scan(s, pat, task.id, _gtin(s, task.sku_id), f"p-{task.id}")
        pick_scan(s, pat, task.id, _gtin(s, sku5), "p-one")  # 1 of 2, then the face is empty
        old_stock = s.get(Stock, s.get(Reservation, task.reservation_id).stock_id)
        out = report_short(s, pat, task.id, "empty", "s-1")
        assert out.result == "short" and out.extra["short_qty"] == 0
        assert (
            task.status == TaskStatus.short and task.short_reason == ExceptionReason.empty_location
        )
        [new_id] = out.extra["replacements"]
        new = s.get(PickTask, new_id)
        assert new.quantity == 1 and new.location_id != task.location_id
        assert new.pick_list_id == task.pick_list_id and new.status in (
            TaskStatus.pending,
            TaskStatus.assigned,
        )
        s.refresh(old_stock)
        assert old_stock.on_hand == old_stock.reserved  # nothing free there any more
        # The rest of the list is re-sequenced after the done tasks, from the short location.
        pl = s.get(PickList, task.pick_list_id)
        tasks = s.scalars(
            select(PickTask).where(PickTask.pick_list_id == pl.id).order_by(PickTask.seq)
        ).all()
        assert [t.seq for t in tasks] == list(range(1, len(tasks) + 1))
        done = [t for t in tasks if t.status in (TaskStatus.picked, TaskStatus.short)]
        assert tasks[: len(done)] == done and out.next_task.id == tasks[len(done)].id
        geo = geometry(s)
        picks = [geo.pick(t.location_id) for t in tasks]
        assert pl.route_length_m == pytest.approx(
            route_length(geo.layout, picks, range(len(tasks)))
        )
        while (t := next_task(s, pat)) is not None:
            pick_scan(s, pat, t.id, _gtin(s, t.sku_id), f"q-{t.id}")
        line = s.get(OrderLine, task.order_line_id)
        assert line.picked_qty == 2 and line.short_qty == 0
        assert order.status == OrderStatus.picked and wave.status == WaveStatus.completed
        # Nothing ended up short: the dashboard's bar shows no short (amber) task.
        summary = summaries(s, [wave])[wave.id]
        tasks = summary["tasks"]
        assert tasks["short"] == 0 and tasks["rerouted"] == 1
        assert summary["units"]["short"] == 0  # the rest was picked elsewhere
        assert tasks["done"] == tasks["total"]


def test_short_with_no_other_stock_opens_an_exception_and_ships_partial(sessions):
    with unit_of_work(sessions) as s:
        [order], _ = _released(s, [("SKU-00250", 2), ("SKU-00100", 1)])
        pat = actor_for(s, "pat")
        while (task := next_task(s, pat)) is not None:
            if s.get(OrderLine, task.order_line_id).line_id == "1":
                out = report_short(s, pat, task.id, "not_found", f"n-{task.id}")
                assert out.extra["short_qty"] == 2 and not out.extra["replacements"]
            else:
                pick_scan(s, pat, task.id, _gtin(s, task.sku_id), f"n-{task.id}")
        exc = s.scalars(select(FloorException).where(FloorException.order_id == order.id)).one()
        assert exc.reason == ExceptionReason.short_pick and exc.details["missing"] == 2
        assert order.lines[0].short_qty == 2
        assert order.status == OrderStatus.picked  # ship_partial: the rest goes on
        [wave_id] = {order.wave_id}
        summary = summaries(s, [s.get(Wave, wave_id)])[wave_id]
        tasks = summary["tasks"]
        assert tasks["short"] == 1 and tasks["rerouted"] == 0
        # 1 unit to pick (picked), 2 short: the page reads "1 / 3 units", not "1 / 1"
        assert summary["units"] == {"total": 1, "picked": 1, "short": 2}


def test_short_with_hold_policy_puts_the_order_on_hold(sessions):
    with unit_of_work(sessions) as s:
        [order], [wave] = _released(
            s, [("SKU-00250", 1), ("SKU-00260", 1)], policy=ShortPolicy.hold
        )
        pat = actor_for(s, "pat")
        task = next_task(s, pat)
        out = report_short(s, pat, task.id, "damaged", "h-1")
        assert out.extra["short_qty"] == 1 and out.extra["order_status"] == "on_hold"
        assert order.status == OrderStatus.on_hold
        assert next_task(s, pat) is None  # its other task was canceled
        assert wave.status == WaveStatus.completed  # nothing open is left in it
        assert s.scalars(select(FloorException).where(FloorException.order_id == order.id)).one()


def test_short_reason_must_be_known(sessions):
    with unit_of_work(sessions) as s:
        _released(s, [("SKU-00100", 1)])
        pat = actor_for(s, "pat")
        task = next_task(s, pat)
        with pytest.raises(PickError) as err:
            report_short(s, pat, task.id, "lost", "x-1")
        assert err.value.code == "invalid_reason"


def test_supervisor_override_picks_without_a_scan_and_is_audited(sessions):
    with unit_of_work(sessions) as s:
        [order], _ = _released(s, [("SKU-00100", 2)])
        pat = actor_for(s, "pat")
        task = next_task(s, pat)
        with pytest.raises(PickError):
            override_task(s, pat, task.id, "no scanner")
        with pytest.raises(PickError):
            override_task(s, supervisor(s), task.id, "  ")
        override_task(s, supervisor(s), task.id, "label torn, checked by eye")
        assert task.status == TaskStatus.picked and order.status == OrderStatus.picked
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "task.override")).one()
        assert entry.actor == "sam" and entry.reason == "label torn, checked by eye"
        assert entry.entity_id == str(task.id)


def test_replenishment_is_created_once_and_completing_it_moves_stock(sessions):
    with unit_of_work(sessions) as s:
        face = s.scalars(select(Stock).join(Location).where(Location.code == "A-01-A-1")).one()
        face.on_hand = 12  # min 10
        sku = face.sku_id
        s.flush()
        from floor.site.layout import Sku

        code = s.get(Sku, sku).code
        _released(s, [(code, 2)], [(code, 1)])
        pat = actor_for(s, "pat")
        while (task := next_task(s, pat)) is not None:
            pick_scan(s, pat, task.id, _gtin(s, sku), f"rp-{task.id}-{task.picked_qty}")
            if task.status != TaskStatus.picked:
                pick_scan(s, pat, task.id, _gtin(s, sku), f"rp-{task.id}-b")
        assert face.on_hand == 9
        [rep] = s.scalars(select(ReplenishmentTask).where(ReplenishmentTask.sku_id == sku)).all()
        src = s.get(Location, rep.from_location_id)
        assert src.type == "reserve" and rep.to_location_id == face.location_id
        assert rep.quantity == 120 - 9
        complete_replenishment(s, rep.id, supervisor(s))
        assert rep.status == ReplenishmentStatus.done
        at_face = s.scalar(
            select(func.sum(Stock.on_hand)).where(
                Stock.location_id == face.location_id, Stock.sku_id == sku
            )
        )
        assert at_face == 120  # lot and expiry travel with the units (FEFO lot from reserve)
        assert s.scalars(
            select(AuditEntry).where(AuditEntry.action == "replenishment.complete")
        ).one()


def test_lists_and_waves_close_when_the_rest_of_their_tasks_is_canceled(sessions):
    """What an order cancellation leaves behind (picking.cancellation cancels the open tasks of
    a canceled order, then ``settle_pick_list`` closes what has nothing open)."""
    from floor.fulfilment.waves.planning import settle_pick_list

    with unit_of_work(sessions) as s:
        rule = RuleSpec(split_by_zone=False, totes_per_cart=8)
        orders, [wave] = _released(s, [("SKU-00100", 1)], [("SKU-00101", 1)], rule=rule)
        pat = actor_for(s, "pat")
        task = next_task(s, pat)  # the first stop decides which order keeps going
        kept = s.get(OrderLine, task.order_line_id).order_id
        [b] = [o for o in orders if o.id != kept]
        lists = set()
        for t in s.scalars(select(PickTask).where(PickTask.status.in_(OPEN_TASK_STATUSES))):
            if s.get(OrderLine, t.order_line_id).order_id == b.id:
                t.status = TaskStatus.canceled
                lists.add(t.pick_list_id)
        for pl_id in lists:
            settle_pick_list(s, pl_id, picking=False)
        assert wave.status == WaveStatus.released  # a's task is still open
        pick_scan(s, pat, task.id, _gtin(s, task.sku_id), "c-a")
        assert wave.status == WaveStatus.completed
        assert s.get(PickList, task.pick_list_id).status == "done"


def test_a_wave_whose_every_task_is_canceled_is_canceled(sessions):
    from floor.fulfilment.waves.planning import settle_pick_list

    with unit_of_work(sessions) as s:
        _, [wave] = _released(s, [("SKU-00100", 1)])
        for t in s.scalars(select(PickTask)):
            t.status = TaskStatus.canceled
        for pl in s.scalars(select(PickList).where(PickList.wave_id == wave.id)):
            settle_pick_list(s, pl.id, picking=False)
        assert wave.status == WaveStatus.canceled


def test_a_short_pick_on_an_order_short_at_intake_counts_only_its_own_units(sessions):
    """An order for more than the warehouse holds is ``short`` at intake (a short_allocation
    exception says how many were never reserved) and may still be waved. When its picker then
    found the face empty, the short_pick exception and the handheld said the line's whole gap
    ("short 999792 (empty at B-13-B-1)" for a task of 39 with 11 picked): the units never
    reserved were counted again. Now it says the task's own rest and, apart, the rest."""
    with unit_of_work(sessions) as s:
        [order], _ = _released(s, [("SKU-00270", 1000)])  # SKU-00270: one face, no reserve
        line = order.lines[0]
        never = line.quantity - line.reserved_qty
        assert never > 0
        pat = actor_for(s, "pat")
        task = next_task(s, pat)
        pick_scan(s, pat, task.id, _gtin(s, task.sku_id), "one")
        rest = task.quantity - 1
        out = report_short(s, pat, task.id, "empty", "empty-1")
        assert out.message == f"short {rest}; supervisor told"
        assert out.extra["short_qty"] == rest + never == line.short_qty  # the line's gap, as before
        exc = s.get(FloorException, out.extra["exception_id"])
        loc = task.location.code
        assert (
            f"SKU-00270 short {rest} (empty at {loc}; {never} more never reserved)" in exc.message
        )

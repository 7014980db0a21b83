"""Wave planning on the real database: every rule, batching, routing of every pick list."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from sqlalchemy import func, select

from core.db import unit_of_work
from floor.fulfilment.models import PickList, PickTask, Wave, WaveRule
from floor.fulfilment.picking.scans import next_task
from floor.fulfilment.states import TaskStatus, WaveStatus
from floor.fulfilment.waves.batching import BatchOrder, batch_fcfs
from floor.fulfilment.waves.planning import RuleSpec, cancel_wave, plan_waves, release_wave
from floor.site.geometry import geometry
from floor.site.layout import Location
from floor.site.routing import route_length, route_optimal
from floor.site.stock import Reservation, Stock
from orders.models import Order, OrderLine
from orders.states import OrderStatus, Priority, ShortPolicy
from tests.factories import SHIP_BY, actor_for, add_order, supervisor


def _sku_in_zone(s, zone_code: str, n: int = 0) -> str:
    """The n-th SKU whose only pick-face stock is in the zone."""
    from floor.site.layout import LocationType, Sku, Zone

    rows = s.execute(
        select(Sku.code, func.min(Zone.code), func.max(Zone.code))
        .join(Stock, Stock.sku_id == Sku.id)
        .join(Location, Location.id == Stock.location_id)
        .join(Zone, Zone.id == Location.zone_id)
        .where(Location.type == LocationType.pick_face)
        .group_by(Sku.code)
        .order_by(Sku.code)
    ).all()
    codes = [c for c, lo, hi in rows if lo == hi == zone_code and c > "SKU-00060"]
    return codes[n]


def _orders_of(s, wave: Wave) -> list[Order]:
    return list(s.scalars(select(Order).where(Order.wave_id == wave.id).order_by(Order.id)))


def test_cutoff_windows_make_separate_waves_earliest_first(sessions):
    rule = RuleSpec(cutoff_window_min=60, split_by_zone=False)
    with unit_of_work(sessions) as s:
        late = [add_order(s, [("SKU-00100", 1)], ship_by=SHIP_BY + dt.timedelta(hours=3))]
        early = [
            add_order(s, [("SKU-00101", 1)], ship_by=SHIP_BY),
            add_order(s, [("SKU-00102", 2)], ship_by=SHIP_BY + dt.timedelta(minutes=30)),
        ]
        result = plan_waves(s, rule, supervisor(s))
        assert [len(_orders_of(s, w)) for w in result.waves] == [2, 1]
        first, second = result.waves
        assert {o.id for o in _orders_of(s, first)} == {o.id for o in early}
        assert {o.id for o in _orders_of(s, second)} == {o.id for o in late}
        assert first.cutoff_at == SHIP_BY and second.cutoff_at == late[0].ship_by
        assert all(o.status == OrderStatus.waved for o in early + late)
        assert first.status == WaveStatus.planned


def test_express_orders_get_their_own_earlier_wave(sessions):
    with unit_of_work(sessions) as s:
        std = add_order(s, [("SKU-00110", 1)])
        exp = add_order(s, [("SKU-00111", 1)], priority=Priority.express)
        result = plan_waves(s, RuleSpec(split_by_zone=False), supervisor(s))
        assert [[o.id for o in _orders_of(s, w)] for w in result.waves] == [[exp.id], [std.id]]
        # Without express_first they share one wave.
    with unit_of_work(sessions) as s:
        a = add_order(s, [("SKU-00112", 1)])
        b = add_order(s, [("SKU-00113", 1)], priority=Priority.express)
        result = plan_waves(s, RuleSpec(split_by_zone=False, express_first=False), supervisor(s))
        assert [{o.id for o in _orders_of(s, w)} for w in result.waves] == [{a.id, b.id}]


def test_zone_split_single_zone_waves_and_zone_pick_lists_for_multi_zone_orders(sessions):
    with unit_of_work(sessions) as s:
        z1, z2 = _sku_in_zone(s, "Z1"), _sku_in_zone(s, "Z2")
        only1 = add_order(s, [(z1, 1)])
        only2 = add_order(s, [(z2, 1)])
        both = add_order(s, [(_sku_in_zone(s, "Z1", 1), 1), (_sku_in_zone(s, "Z2", 1), 1)])
        result = plan_waves(s, RuleSpec(split_by_zone=True), supervisor(s))
        groups = [{o.id for o in _orders_of(s, w)} for w in result.waves]
        assert sorted(groups, key=min) == [{only1.id}, {only2.id}, {both.id}]
        multi = result.waves[groups.index({both.id})]
        lists = s.scalars(select(PickList).where(PickList.wave_id == multi.id)).all()
        zones = set()
        for pl in lists:  # one list per zone, each holding only its zone's locations
            locs = s.scalars(
                select(Location.zone_id).join(PickTask).where(PickTask.pick_list_id == pl.id)
            ).all()
            assert set(locs) == {pl.zone_id}
            zones.add(pl.zone_id)
        assert len(lists) == 2 and len(zones) == 2


def test_limits_on_orders_lines_and_units(sessions):
    with unit_of_work(sessions) as s:
        for n in range(7):
            add_order(s, [(f"SKU-{120 + n:05d}", 1)])
        result = plan_waves(s, RuleSpec(split_by_zone=False, max_orders=3), supervisor(s))
        assert [len(_orders_of(s, w)) for w in result.waves] == [3, 3, 1]
    with unit_of_work(sessions) as s:
        for n in range(4):
            add_order(s, [(f"SKU-{130 + n:05d}", 1), (f"SKU-{140 + n:05d}", 1)])
        result = plan_waves(s, RuleSpec(split_by_zone=False, max_lines=5), supervisor(s))
        assert [len(_orders_of(s, w)) for w in result.waves] == [2, 2]
    with unit_of_work(sessions) as s:
        for n in range(3):
            add_order(s, [(f"SKU-{150 + n:05d}", 4)])
        add_order(s, [("SKU-00160", 9)])  # bigger than the limit alone: a wave of its own
        result = plan_waves(s, RuleSpec(split_by_zone=False, max_units=8), supervisor(s))
        units = [sum(ln.quantity for o in _orders_of(s, w) for ln in o.lines) for w in result.waves]
        assert units == [8, 4, 9]


def test_every_pick_list_is_in_optimal_route_order_with_its_length(sessions):
    rng = random.Random(7)
    with unit_of_work(sessions) as s:
        for _ in range(40):
            skus = rng.sample(range(61, 300), rng.randint(1, 5))
            add_order(s, [(f"SKU-{k:05d}", rng.randint(1, 3)) for k in skus])
        result = plan_waves(s, RuleSpec(split_by_zone=False, totes_per_cart=6), supervisor(s))
        geo = geometry(s)
        lists = s.scalars(
            select(PickList).where(PickList.wave_id.in_(result.wave_ids)).order_by(PickList.id)
        ).all()
        assert len(lists) >= 7
        for pl in lists:
            tasks = sorted(pl.tasks, key=lambda t: t.seq)
            assert [t.seq for t in tasks] == list(range(1, len(tasks) + 1))
            picks = [geo.pick(t.location_id) for t in tasks]
            walked = route_length(geo.layout, picks, range(len(picks)))
            assert abs(pl.route_length_m - walked) < 1e-6
            assert abs(walked - route_optimal(geo.layout, picks).length_m) < 1e-6
            assert pl.route_length_m > 0


def test_the_depot_is_the_pack_station_even_at_x_zero(sessions):
    """The demo's PACK-01 stands at x = 0 m, left of aisle A (x = 6 m): every walk starts and
    ends there, so a one-stop list in aisle A is 6 m longer each way than from aisle A itself."""
    with unit_of_work(sessions) as s:
        pack = s.scalar(select(Location).where(Location.code == "PACK-01"))
        assert pack is not None and pack.x_m == 0.0
        geo = geometry(s)
        assert geo.layout.depot == (0.0, geo.layout.y_front)
        order = add_order(s, [("SKU-00200", 1)])
        result = plan_waves(s, RuleSpec(split_by_zone=False), supervisor(s))
        [pl] = s.scalars(select(PickList).where(PickList.wave_id.in_(result.wave_ids))).all()
        [task] = pl.tasks
        pick = geo.pick(task.location_id)
        aisle_x = geo.layout.aisle_x[pick.aisle]
        assert order.id and aisle_x > 0
        # out along the front cross aisle, into the aisle and back, and home again
        walk = 2 * aisle_x + 2 * (pick.y - geo.layout.y_front)
        assert abs(pl.route_length_m - walk) < 1e-6


def test_one_task_per_reservation_at_the_reserved_location(sessions):
    with unit_of_work(sessions) as s:
        order = add_order(s, [("SKU-00200", 3), ("SKU-00201", 1)])
        plan_waves(s, RuleSpec(), supervisor(s))
        rows = s.execute(
            select(PickTask.location_id, PickTask.quantity, Stock.location_id, Reservation.quantity)
            .join(Reservation, Reservation.id == PickTask.reservation_id)
            .join(Stock, Stock.id == Reservation.stock_id)
            .join(OrderLine, OrderLine.id == PickTask.order_line_id)
            .where(OrderLine.order_id == order.id)
        ).all()
        assert len(rows) == 2
        assert all(t_loc == r_loc and tq == rq for t_loc, tq, r_loc, rq in rows)


def test_batching_walks_less_than_first_come_first_served(sessions):
    rng = random.Random(11)
    with unit_of_work(sessions) as s:
        orders = []
        for _ in range(64):
            skus = rng.sample(range(61, 300), rng.randint(1, 3))
            orders.append(add_order(s, [(f"SKU-{k:05d}", 1) for k in skus]))
        result = plan_waves(s, RuleSpec(split_by_zone=False, totes_per_cart=8), supervisor(s))
        geo = geometry(s)
        planned = sum(
            pl.route_length_m
            for pl in s.scalars(select(PickList).where(PickList.wave_id.in_(result.wave_ids)))
        )
        # FCFS baseline: the same orders, 8 per cart in arrival order, each list routed optimally.
        batch_in = []
        for o in orders:
            locs = s.scalars(
                select(PickTask.location_id)
                .join(OrderLine, OrderLine.id == PickTask.order_line_id)
                .where(OrderLine.order_id == o.id)
            ).all()
            batch_in.append(BatchOrder(o.id, tuple(geo.pick(x) for x in locs), 1))
        by_id = {b.key: b for b in batch_in}
        fcfs = 0.0
        for keys in batch_fcfs(geo.layout, batch_in, totes_per_cart=8):
            picks = [p for k in keys for p in by_id[k].picks]
            fcfs += route_optimal(geo.layout, picks).length_m
        assert planned < 0.85 * fcfs, (planned, fcfs)


def test_big_orders_get_their_own_pick_list(sessions):
    with unit_of_work(sessions) as s:
        big = add_order(s, [(f"SKU-{k:05d}", 1) for k in range(100, 106)])
        small = [add_order(s, [(f"SKU-{k:05d}", 1)]) for k in range(110, 113)]
        result = plan_waves(s, RuleSpec(split_by_zone=False, big_order_picks=5), supervisor(s))
        lists = s.scalars(select(PickList).where(PickList.wave_id.in_(result.wave_ids))).all()
        owners = []
        for pl in lists:
            owners.append(
                set(
                    s.scalars(
                        select(OrderLine.order_id)
                        .join(PickTask, PickTask.order_line_id == OrderLine.id)
                        .where(PickTask.pick_list_id == pl.id)
                    )
                )
            )
        assert {big.id} in owners
        assert {o.id for o in small} in owners


def test_short_orders_wave_what_was_reserved_only_when_shipping_partial(sessions):
    with unit_of_work(sessions) as s:
        total = s.scalar(
            select(func.sum(Stock.on_hand - Stock.reserved)).where(
                Stock.sku_id
                == select(Stock.sku_id)
                .join(Location)
                .where(Location.code == "A-01-A-1")
                .scalar_subquery()
            )
        )
        sku = s.scalar(
            select(func.min(Stock.sku_id)).join(Location).where(Location.code == "A-01-A-1")
        )
        from floor.site.layout import Sku

        code = s.get(Sku, sku).code
        partial = add_order(s, [(code, total + 2), ("SKU-00250", 1)])
        hold = add_order(s, [(code, 5)], policy=ShortPolicy.hold)
        assert partial.status == OrderStatus.short and hold.status == OrderStatus.short
        result = plan_waves(s, RuleSpec(), supervisor(s))
        waved = {o.id for w in result.waves for o in _orders_of(s, w)}
        assert waved == {partial.id}
        units = s.scalar(
            select(func.sum(PickTask.quantity))
            .join(OrderLine, OrderLine.id == PickTask.order_line_id)
            .where(OrderLine.order_id == partial.id)
        )
        assert units == total + 1
        assert partial.status == OrderStatus.waved


def test_release_makes_tasks_visible_and_cancel_gives_orders_back(sessions):
    with unit_of_work(sessions) as s:
        order = add_order(s, [("SKU-00210", 1)])
        [wave] = plan_waves(s, RuleSpec(), supervisor(s)).waves
        pat = actor_for(s, "pat")
        assert next_task(s, pat) is None  # planned: invisible
        release_wave(s, wave.id, supervisor(s))
        task = next_task(s, pat)
        assert task is not None and task.status == TaskStatus.assigned
        assert wave.status == WaveStatus.released
        cancel_wave(s, wave.id, supervisor(s), reason="test")
        assert wave.status == WaveStatus.canceled
        assert order.status == OrderStatus.allocated and order.wave_id is None
        s.refresh(task)
        assert task.status == TaskStatus.canceled
        assert next_task(s, pat) is None
        # The order can be waved again.
        [again] = plan_waves(s, RuleSpec(), supervisor(s)).waves
        assert order.wave_id == again.id


def test_a_stored_rule_is_used_as_is(sessions):
    with unit_of_work(sessions) as s:
        rule = s.scalars(select(WaveRule).where(WaveRule.name == "Default")).one()
        rule.max_orders = 1
        rule.split_by_zone = False
        add_order(s, [("SKU-00220", 1)])
        add_order(s, [("SKU-00221", 1)])
        result = plan_waves(s, rule, supervisor(s))
        assert len(result.waves) == 2 and all(w.rule_id == rule.id for w in result.waves)


def test_planning_leaves_postgres_planner_statistics_for_its_new_tasks(sessions):
    """A fresh floor's first waves: without ANALYZE the planner takes thousands of new tasks for
    a handful and picks a nested loop for every picker's "next open list" query."""
    from sqlalchemy import text

    with unit_of_work(sessions) as s:
        if s.get_bind().dialect.name != "postgresql":
            pytest.skip("planner statistics are PostgreSQL's")
        for n in range(40):
            add_order(s, [(f"SKU-{n + 1:05d}", 1), (f"SKU-{n + 41:05d}", 2)])
        plan_waves(s, RuleSpec(split_by_zone=False), supervisor(s))
    with unit_of_work(sessions) as s:
        tasks = s.scalar(select(func.count()).select_from(PickTask))
        estimated = s.scalar(text("SELECT reltuples FROM pg_class WHERE relname = 'pick_tasks'"))
        assert tasks >= 80 and estimated == tasks

"""The day's figures, the people table and the projected finish on a small known day whose
answers are worked out by hand (in the comments), first from plain rows, then from the database.

The day: Monday 2 March 2026 (UTC). Two pickers: u1 and u2.

Orders (status_times)            received  picked  packed  shipped   received→shipped
  A                              08:00     09:00   09:30   10:00     2 h    =  7200 s
  B                              08:30     08:45   08:50   09:00     30 min =  1800 s
  C (received the day before)    -1d 23:00 07:00   07:30   08:00     9 h    = 32400 s
  D                              09:00     11:00   —       12:00     3 h    = 10800 s
  E                              10:00     —       —       —
  F (shipped the next day)       11:00     —       —       +1d 01:00 (not today's)
  received 5 (A B D E F), picked 4 (A B C D), packed 3 (A B C), shipped 4 (A B C D)
  order→ship sorted [1800, 7200, 10800, 32400]: p50 = rank ceil(.5·4)=2 → 7200;
                                                p90 = rank ceil(.9·4)=4 → 32400

Scans (task, user, time, kind, result, units)
  t10 u1 08:00 location ok · 08:01 item ok 1 · 08:02 item ok 1      first decisive: ok
  t11 u1 08:10 item wrong_item · 08:11 item ok 1                    first decisive: wrong
  t12 u2 09:00 item ok 6 (a six-pack GTIN)                           ok
  t13 u2 09:30 location wrong_location · 09:31 location ok · 09:32 item ok 1    wrong
  t14 u2 09:40 task_closed (not decisive) · 09:41 item ok 1          ok
  t9  u1 the day before 23:59 item ok 1                              (not today's)
  first pass 3 of 5 tasks = 60 %; decisive scans 10, ok 8 = 80 %
  units by hour: 08h 1+1+1 = 3, 09h 6+1+1 = 8; lines: 08h {t10,t11} = 2, 09h {t12,t13,t14} = 3

Exceptions: short_pick 08:20, short_pick 09:10, wrong_item 09:15, printer_failed the day before
  → short_pick 2 (2/5 orders = 40 per 100), wrong_item 1 (20 per 100)

People at 10:00, shift from 00:00:
  u1: first scan 08:00, 3 units / 2 lines in the shift over 2 h → 1.5 u/h, 1.0 lines/h;
      nothing in the last hour → 0; idle since 08:11 → 6540 s; accuracy ok 4 of 5 = 80 %
  u2: first scan 09:00, 8 units / 3 lines over 1 h → 8.0 u/h, 3.0 lines/h (shift and hour);
      idle since 09:41 → 1140 s; accuracy 4 of 5 = 80 %
"""

from __future__ import annotations

import datetime as dt
import random

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.actors import Actor
from core.db import unit_of_work, utcnow
from core.exception_queue import ExceptionReason, FloorException
from core.users import Role, User
from floor.fulfilment import people as floor_people
from floor.fulfilment import shift_figures as sf
from floor.fulfilment.models import PickList, PickTask, Scan
from floor.fulfilment.picking.scans import next_task
from floor.fulfilment.picking.views import totes_on_cart
from floor.fulfilment.projections import project
from floor.fulfilment.waves.planning import RuleSpec, plan_waves, release_wave
from floor.site.gtin import check_digit
from floor.site.layout import Sku, SkuGtin
from orders.models import Order, OrderLine
from tests.factories import actor_for, add_order, pick_scan, supervisor

DAY = dt.date(2026, 3, 2)


def at(hh: int, mm: int = 0, day_offset: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, 2 + day_offset, hh, mm, tzinfo=dt.UTC)


ORDER_TIMES = {
    "A": {"received": at(8), "picked": at(9), "packed": at(9, 30), "shipped": at(10)},
    "B": {"received": at(8, 30), "picked": at(8, 45), "packed": at(8, 50), "shipped": at(9)},
    "C": {"received": at(23, 0, -1), "picked": at(7), "packed": at(7, 30), "shipped": at(8)},
    "D": {"received": at(9), "picked": at(11), "shipped": at(12)},
    "E": {"received": at(10)},
    "F": {"received": at(11), "shipped": at(1, 0, 1)},
}
# (task key, user key, time, kind, result, units)
SCANS = [
    ("t10", "u1", at(8, 0), "location", "ok", 0),
    ("t10", "u1", at(8, 1), "item", "ok", 1),
    ("t10", "u1", at(8, 2), "item", "ok", 1),
    ("t11", "u1", at(8, 10), "item", "wrong_item", 0),
    ("t11", "u1", at(8, 11), "item", "ok", 1),
    ("t12", "u2", at(9, 0), "item", "ok", 6),
    ("t13", "u2", at(9, 30), "location", "wrong_location", 0),
    ("t13", "u2", at(9, 31), "location", "ok", 0),
    ("t13", "u2", at(9, 32), "item", "ok", 1),
    ("t14", "u2", at(9, 40), "unknown", "task_closed", 0),
    ("t14", "u2", at(9, 41), "item", "ok", 1),
    ("t9", "u1", at(23, 59, -1), "item", "ok", 1),
]
EXCEPTIONS = [
    ("short_pick", at(8, 20)),
    ("short_pick", at(9, 10)),
    ("wrong_item", at(9, 15)),
    ("printer_failed", at(22, 0, -1)),
]


def check_day(fig: sf.DayFigures) -> None:
    d = fig.to_dict()
    assert d["orders"] == {"received": 5, "picked": 4, "packed": 3, "shipped": 4}
    assert d["order_to_ship"] == {"count": 4, "p50_s": 7200.0, "p90_s": 32400.0}
    assert d["first_pass"] == {"right": 3, "tasks": 5}
    assert d["first_pass_accuracy_pct"] == 60.0
    assert d["scan_accuracy_pct"] == 80.0
    assert d["exceptions"]["by_reason"] == {"short_pick": 2, "wrong_item": 1}
    assert d["exceptions"]["per_100_orders"] == {"short_pick": 40.0, "wrong_item": 20.0}
    assert d["units_by_hour"][8] == 3 and d["units_by_hour"][9] == 8
    assert sum(d["units_by_hour"]) == 11 == d["units"]
    assert d["lines_by_hour"][8] == 2 and d["lines_by_hour"][9] == 3
    assert sum(d["lines_by_hour"]) == 5


# --------------------------------------------------------------------------
# From plain rows
# --------------------------------------------------------------------------


def plain_scans(task_ids: dict[str, int], user_ids: dict[str, int]) -> list[sf.ScanRow]:
    return [
        sf.ScanRow(n, user_ids[u], task_ids[t], kind, result, when, units)
        for n, (t, u, when, kind, result, units) in enumerate(SCANS, 1)
    ]


TASKS = {f"t{n}": n for n in range(9, 15)}
USERS = {"u1": 1, "u2": 2}


def test_percentile_is_nearest_rank():
    assert sf.percentile([], 50) is None
    assert sf.percentile([5.0], 90) == 5.0
    assert sf.percentile([4, 1, 3, 2], 50) == 2
    assert sf.percentile([4, 1, 3, 2], 90) == 4
    assert sf.percentile(list(range(1, 11)), 90) == 9


def test_the_known_day_from_plain_rows():
    orders = [sf.OrderTimes(k, v) for k, v in ORDER_TIMES.items()]
    fig = sf.compute(DAY, orders, plain_scans(TASKS, USERS), EXCEPTIONS)
    check_day(fig)


def test_no_work_is_no_figure_not_zero_percent():
    fig = sf.compute(DAY, [], [], [])
    d = fig.to_dict()
    assert d["first_pass_accuracy_pct"] is None and d["order_to_ship"]["p50_s"] is None
    assert d["orders"] == {"received": 0, "picked": 0, "packed": 0, "shipped": 0}
    assert sf.compute(DAY, [], [], [("short_pick", at(9))]).exception_rate() == {"short_pick": None}


def test_rates_per_hour_of_work():
    now = at(10)
    # 3 units since a first scan at 08:00: 2 h of work
    assert floor_people.per_hour(3, at(0), at(8), now) == 1.5
    # the window starts later than the first scan: the window counts
    assert floor_people.per_hour(8, at(9), at(8), now) == 8.0
    # a first scan a minute ago reads over MIN_SPAN (10 min), not over one minute
    assert floor_people.per_hour(2, at(0), at(9, 59), now) == 12.0
    assert floor_people.per_hour(0, at(0), at(8), now) == 0.0
    assert floor_people.per_hour(5, at(0), None, now) == 0.0


@pytest.mark.parametrize(
    ("remaining", "rate", "cutoff", "status", "finish"),
    [
        (100, 50.0, at(12, 30), "on_time", at(12)),  # 2 h of work, 30 min to spare
        (100, 50.0, at(12, 10), "at_risk", at(12)),  # within the 15 min margin
        (100, 50.0, at(11, 50), "late", at(12)),  # finishes after the truck
        (100, 0.0, at(12), "at_risk", None),  # nobody picking, truck still ahead
        (100, 0.0, at(9), "late", None),  # nobody picking, truck gone
        (0, 0.0, at(9), "done", at(10)),
        (30, 60.0, None, "no_cutoff", at(10, 30)),
    ],
)
def test_projected_finish(remaining, rate, cutoff, status, finish):
    p = project(remaining, rate, at(10), cutoff)
    assert (p.status, p.finish_at) == (status, finish)


@pytest.mark.parametrize(
    ("cutoff", "status"),
    [
        # nobody on it; one picker at 60 u/h starting at 10:00 finishes 100 units at 11:40
        (at(12), "not_started"),  # 11:40 is before 11:45 (the cut-off less 15 min)
        (at(11, 50), "at_risk"),  # 11:40 is inside the margin
        (at(11), "at_risk"),  # one picker could not make it any more
        (at(9), "late"),  # the truck is gone
    ],
)
def test_a_wave_nobody_picks_yet_is_judged_by_one_picker_at_the_floors_rate(cutoff, status):
    p = project(100, 0.0, at(10), cutoff, reference_rate=60.0)
    assert (p.status, p.finish_at) == (status, None)


def test_a_wave_held_by_pickers_without_a_rate_yet_is_judged_at_the_floors_rate():
    # two pickers at 60 u/h: 100 units take 50 min, 10:50, before 11:45 - on time, no finish shown
    p = project(100, 0.0, at(10), at(12), pickers=2, reference_rate=60.0)
    assert (p.status, p.finish_at) == ("on_time", None)
    # one picker would finish at 11:40, inside the margin of an 11:50 truck
    assert project(100, 0.0, at(10), at(11, 50), pickers=1, reference_rate=60.0).status == (
        "at_risk"
    )


# --------------------------------------------------------------------------
# From the database
# --------------------------------------------------------------------------


def _users(s: Session) -> dict[str, User]:
    by_name = {u.username: u for u in s.scalars(select(User))}
    return {"u1": by_name["pat"], "u2": by_name["pia"]}


def _known_day(s: Session) -> dict[str, int]:
    """Store the known day: six orders with their times, five real tasks with their scans (a
    six-pack GTIN for t12), the exceptions. Returns task key → id."""
    system = Actor.system()
    skus = list(s.scalars(select(Sku).order_by(Sku.id).limit(6)))
    orders = {}
    for key, sku in zip(ORDER_TIMES, skus, strict=True):
        orders[key] = add_order(
            s, [(sku.code, 2)], external_id=f"KNOWN-{key}", ship_by=at(16), reserve=False
        )
    s.flush()
    from orders.allocation import reserve_orders

    reserve_orders(s, list(orders.values()), system)
    result = plan_waves(s, RuleSpec(), system, now=at(7))
    sup = s.scalars(select(User).where(User.username == "sam")).one()
    for w in result.waves:
        release_wave(s, w.id, Actor(sup.username, Role.supervisor, sup.id))
    tasks = list(
        s.scalars(
            select(PickTask)
            .join(OrderLine, OrderLine.id == PickTask.order_line_id)
            .join(Order, Order.id == OrderLine.order_id)
            .where(Order.external_id.like("KNOWN-%"))
            .order_by(Order.external_id)
        )
    )
    assert len(tasks) == 6
    task_ids = {f"t{n}": t.id for n, t in zip(range(9, 15), tasks, strict=True)}
    six = "1" + "400000000999"
    six += check_digit(six)
    t12 = s.get(PickTask, task_ids["t12"])
    assert t12 is not None
    s.add(SkuGtin(sku_id=t12.sku_id, gtin=six, units=6))
    users = _users(s)
    for n, (t, u, when, kind, result_, units) in enumerate(SCANS, 1):
        sku_code = s.scalar(
            select(Sku.code)
            .join(PickTask, PickTask.sku_id == Sku.id)
            .where(PickTask.id == task_ids[t])
        )
        raw = six if units == 6 else (sku_code or "?")
        s.add(
            Scan(
                client_scan_id=f"known-{n}",
                user_id=users[u].id,
                task_id=task_ids[t],
                raw=raw,
                kind=kind,
                result=result_,
                scanned_at=when,
            )
        )
    for key, times in ORDER_TIMES.items():
        orders[key].status_times = {k: v.isoformat() for k, v in times.items()}
    for reason, when in EXCEPTIONS:
        s.add(FloorException(reason=ExceptionReason(reason), message="known", created_at=when))
    return task_ids


def test_a_wave_nobody_picks_is_judged_by_the_floors_mean_rate_or_the_reference(sessions):
    """A wave released hours before its truck, with nobody on it yet, is "not started", not
    "at risk"; close to the truck it is at risk. One picker at the floor's mean rate (the
    pickers with a rate this hour), or ``REFERENCE_UNITS_PER_HOUR`` when nobody has one."""
    from floor.fulfilment.projections import REFERENCE_UNITS_PER_HOUR, projections
    from floor.fulfilment.waves.progress import summaries
    from tests.factories import plan_and_release

    with unit_of_work(sessions) as s:
        add_order(s, [("SKU-00005", 3), ("SKU-00010", 3)], ship_by=utcnow() + dt.timedelta(hours=8))
        [wave] = plan_and_release(s)
        summary = summaries(s, [wave])[wave.id]
        cutoff = dt.datetime.fromisoformat(summary["cutoff_at"])
        units = summary["units"]["total"]
        assert units == 6

        def status(now: dt.datetime, rates: dict[int, float]) -> str:
            return projections(s, [summary], rates, now)[wave.id]["status"]

        # one picker at the reference rate needs 6 min: the last start with 15 min to spare
        last_start = cutoff - dt.timedelta(minutes=15) - dt.timedelta(hours=units / 60.0)
        assert REFERENCE_UNITS_PER_HOUR == 60.0
        assert status(utcnow(), {}) == "not_started"
        assert status(last_start - dt.timedelta(minutes=1), {}) == "not_started"
        assert status(last_start + dt.timedelta(minutes=1), {}) == "at_risk"
        # the floor's pickers do 30 u/h (zero rates left out): one needs 12 min, not 6
        assert status(last_start - dt.timedelta(minutes=1), {1: 20.0, 2: 40.0, 3: 0.0}) == (
            "at_risk"
        )
        assert status(cutoff + dt.timedelta(minutes=1), {}) == "late"


def test_the_known_day_from_the_database(sessions):
    with unit_of_work(sessions) as s:
        _known_day(s)
    with unit_of_work(sessions) as s:
        check_day(sf.load(s, DAY))
        rows = sf.csv_rows(sf.load(s, DAY))
    as_dict = {r[0]: r[1] for r in rows if len(r) == 2}
    assert as_dict["orders_shipped"] == 4 and as_dict["order_to_ship_p90_s"] == 32400.0
    assert as_dict["first_pass_accuracy_pct"] == 60.0
    assert ["timezone", "UTC"] in rows
    assert ["hour_local", "units", "lines", "hour_start_utc"] in rows
    assert ["09:00", 8, 3, "2026-03-02T09:00:00Z"] in rows


def test_the_people_at_ten_from_the_database(sessions):
    with unit_of_work(sessions) as s:
        task_ids = _known_day(s)
        users = _users(s)
        # pia holds the list of t14 (as next_task would have given it to her)
        t14 = s.get(PickTask, task_ids["t14"])
        assert t14 is not None
        pl = s.get(PickList, t14.pick_list_id)
        assert pl is not None
        from floor.fulfilment.states import PickListStatus

        pl.status, pl.assigned_user_id = PickListStatus.in_progress, users["u2"].id
    with unit_of_work(sessions) as s:
        rows = {r["username"]: r for r in floor_people.people(s, at(10), at(0))}
        loc14 = s.get(PickTask, task_ids["t14"]).location.code
        loc11 = s.get(PickTask, task_ids["t11"]).location.code
    pat, pia = rows["pat"], rows["pia"]
    assert pat["shift"] == {"lines": 2, "units": 3, "lines_per_h": 1.0, "units_per_h": 1.5}
    assert pat["hour"] == {"lines": 0, "units": 0, "lines_per_h": 0.0, "units_per_h": 0.0}
    assert pat["idle_s"] == 6540 and pat["accuracy_pct"] == 80.0
    assert pat["last_location"] == loc11 and pat["pick_list"] is None
    assert pia["shift"] == {"lines": 3, "units": 8, "lines_per_h": 3.0, "units_per_h": 8.0}
    assert pia["hour"] == pia["shift"]
    assert pia["idle_s"] == 1140 and pia["accuracy_pct"] == 80.0
    assert pia["last_location"] == loc14
    assert pia["pick_list"]["id"] == pl.id
    assert rows["paco"]["role"] == "packer" and rows["paco"]["idle_s"] is None
    # busiest first: pia holds a list
    assert next(iter(rows)) == "pia"
    header, *lines = floor_people.csv_rows(rows.values())
    assert header[0] == "username" and [r[0] for r in lines] == list(rows)


def test_the_database_aggregates_match_the_rows_on_a_busy_day(sessions):
    """``scan_figures`` and ``people.picker_stats`` / ``last_locations`` (SQL) give what the
    Python over the same scans read as rows gives (``compute``, ``scan_tally``), on
    the known day plus 400 random scans: ties in time, scans without a user or task, mistakes,
    the six-pack GTIN, the day's edges."""
    rng = random.Random(11)
    with unit_of_work(sessions) as s:
        task_ids = _known_day(s)
        users = [u.id for u in _users(s).values()] + [None]
        six = s.scalar(select(SkuGtin.gtin).where(SkuGtin.units == 6))
        raws = [six, "SKU-00001", "SKU-00002", "not a code"]
        tasks = [*task_ids.values(), None]
        results = ["ok", "ok", "ok", "wrong_item", "over_pick", "task_closed", "pending"]
        times = [at(h, m) for h in (0, 8, 13, 23) for m in (0, 30, 59)] + [at(23, 59, -1)]
        for n in range(400):
            s.add(
                Scan(
                    client_scan_id=f"busy-{n}",
                    user_id=rng.choice(users),
                    task_id=rng.choice(tasks),
                    raw=rng.choice(raws),
                    kind=rng.choice(["item", "item", "location"]),
                    result=rng.choice(results),
                    scanned_at=rng.choice(times),
                )
            )
    with unit_of_work(sessions) as s:
        start, end = sf.day_bounds(DAY)
        scans = sf.load_scans(s, start, end)
        rows = sf.compute(DAY, [], scans, [])
        sql = sf.scan_figures(s, start, end)
        stats = floor_people.picker_stats(s, start, at(13), end)
        where = floor_people.last_locations(s, stats)
        last: dict[int, sf.ScanRow] = {}
        key = lambda r: (r.scanned_at, r.id)  # noqa: E731
        for r in scans:  # the last ok scan with a task, latest (scanned_at, id), per user
            proved = r.user_id is not None and r.task_id is not None and r.result == "ok"
            if proved and (r.user_id not in last or key(r) > key(last[r.user_id])):
                last[r.user_id] = r
        expected = {u: s.get(PickTask, r.task_id).location.code for u, r in last.items()}
        mine = {u: [r for r in scans if r.user_id == u] for u in stats}
    assert where == expected
    for u, st in stats.items():
        assert st.first == min(r.scanned_at for r in mine[u])
        assert st.last == max(r.scanned_at for r in mine[u])
        assert (st.ok, st.decisive) == sf.scan_tally(mine[u])
        booked = [r for r in mine[u] if r.result == "ok" and r.kind == "item"]
        assert st.shift.units == sum(r.units for r in booked)
        assert st.shift.lines == len({r.task_id for r in booked if r.task_id is not None})
        late = [r for r in booked if r.scanned_at >= at(13)]
        assert st.hour.units == sum(r.units for r in late)
        assert st.hour.lines == len({r.task_id for r in late if r.task_id is not None})
    assert sum(rows.units_by_hour) > 400 // 3  # the random scans are in
    assert sql.first_pass == rows.first_pass and sql.scans == rows.scans
    assert sql.units_by_hour == rows.units_by_hour
    assert sql.lines_by_hour == rows.lines_by_hour


def test_units_picked_on_a_cart_of_several_totes_are_counted(sessions):
    """On a cart of several totes each unit is an ``item_held`` scan (the item) and a ``tote``
    scan (booking it); neither is a plain ``item`` scan, so the day's units, the units-per-hour
    chart and the people table counted none of them: after a simulated day the dashboard said
    561 units picked of 1,382. Every unit picked now counts once."""
    with unit_of_work(sessions) as s:
        for lines in ([("SKU-00001", 2)], [("SKU-00002", 1), ("SKU-00003", 3)]):
            add_order(s, lines)
        for w in plan_waves(s, RuleSpec(split_by_zone=False), supervisor(s)).waves:
            release_wave(s, w.id, supervisor(s))
        pat = actor_for(s, "pat")
        task, n = next_task(s, pat), 0
        assert task is not None and len(totes_on_cart(s, task.pick_list_id)) == 2
        while task is not None:
            code = s.get(Sku, task.sku_id).code
            for _ in range(task.quantity - task.picked_qty):
                n += 1
                out = pick_scan(s, pat, task.id, code, f"cart-{n}")
                assert (out.result, out.kind) == ("ok", "tote"), out
            task = next_task(s, pat)
        assert s.scalar(select(func.sum(PickTask.picked_qty))) == 6
    now = utcnow()
    with unit_of_work(sessions) as s:
        fig = sf.load(s, now.date()).to_dict()
        rows = {r["username"]: r for r in floor_people.people(s, now, sf.day_bounds(now.date())[0])}
    assert fig["units"] == 6 and sum(fig["lines_by_hour"]) == 3
    assert (rows["pat"]["shift"]["units"], rows["pat"]["shift"]["lines"]) == (6, 3)

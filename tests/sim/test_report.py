"""The simulator's verdict catches what it claims to: an event twice, an event missing (the next
one does not start where the last ended), an order not shipped, two packages for one order."""

from __future__ import annotations

from typing import Any

from web.simulator.oms import cannot_promise, short_without_stock, take_event
from web.simulator.report import summarise
from web.simulator.state import Day, OrderTrack, SimConfig


def _ev(n: int, order: str, frm: str | None, to: str) -> dict[str, Any]:
    return {"event_id": f"e{n}", "type": f"order.{to}", "order": order, "from": frm, "to": to}


def _day(*orders: str) -> Day:
    day = Day(SimConfig(run_id="t"))
    day.orders = {o: OrderTrack() for o in orders}
    day.pushed_all = True
    return day


def _final(status: str, ssccs: list[str]) -> dict[str, Any]:
    return {"status": status, "packages": [{"sscc": s} for s in ssccs]}


CHAIN = ["received", "allocated", "waved", "picking", "picked", "packed", "shipped"]


def _ship(day: Day, order: str, start: int = 0) -> None:
    for n, (a, b) in enumerate(zip([None, *CHAIN], CHAIN, strict=False)):
        take_event(day, _ev(start + n, order, a, b))


def test_a_clean_day_is_ok_and_packs_each_picked_order_once() -> None:
    day = _day("A", "B")
    _ship(day, "A")
    _ship(day, "B", 100)
    assert day.pack_queue.qsize() == 2 and day.all_done()
    s = summarise(day, {"A": _final("shipped", ["1"]), "B": _final("shipped", ["2"])}, None, 1.0)
    assert s["ok"] and s["orders"]["shipped_once"] == 2


def test_doubled_and_lost_are_caught() -> None:
    day = _day("A", "B", "C")
    _ship(day, "A")
    take_event(day, _ev(3, "A", "waved", "picking"))  # the same event id again
    take_event(day, _ev(200, "B", None, "received"))
    take_event(day, _ev(201, "B", "waved", "picking"))  # allocated → waved never came
    final = {
        "A": _final("shipped", ["1", "2"]),
        "B": _final("picking", []),
        "C": _final("shipped", ["2"]),
    }
    s = summarise(day, final, None, 1.0)
    assert not s["ok"]
    assert s["doubled"]["events_twice"] == 1
    assert s["doubled"]["orders_with_two_packages"] == ["A"]
    assert s["doubled"]["duplicate_sscc"] == ["2"]
    assert s["lost"]["events_out_of_order"] == 1
    assert s["lost"]["orders_not_shipped"] == ["B"]
    assert s["lost"]["orders_shipped_without_event"] == ["C"]


def _short(reserved: int, missing: int) -> dict[str, Any]:
    return {
        "status": "short",
        "packages": [],
        "lines": [
            {"line_id": "1", "sku": "S1", "ordered": missing + reserved, "reserved": reserved}
        ],
        "missing": [
            {"line_id": "1", "sku": "S1", "ordered": missing + reserved, "missing": missing}
        ],
    }


def test_a_short_order_no_wave_took_is_lost_unless_no_stock_is_left() -> None:
    """A 20,000-order day: a picker's short pick ("empty") wrote a location's stock off, 62
    orders that came in later were short with nothing reserved and no wave took them; the day
    stalled and called them lost. They are short for want of stock when the warehouse cannot
    promise what they miss — and lost when it can."""
    day = _day("A", "B")
    _ship(day, "A")
    take_event(day, _ev(100, "B", None, "short"))
    assert not day.all_done() and day.only_short_left()
    final = {"A": _final("shipped", ["1"]), "B": _short(reserved=0, missing=2)}
    candidates = short_without_stock(day, final)
    assert list(candidates) == ["B"]
    assert cannot_promise(candidates, {"S1": 2}) == {}  # stock there: it should have been taken
    assert cannot_promise(candidates, {"S1": 1}) == {"B": {"S1": 1}}
    assert not summarise(day, final, None, 1.0)["ok"]  # unexplained: lost
    s = summarise(day, final, None, 1.0, cannot_promise(candidates, {"S1": 0}))
    assert s["ok"] and s["orders"]["stopped_with_reason"] == {"B": "short"}
    assert s["orders"]["short_without_stock"] == 1
    # something reserved (a wave should take it) or already waved: not a candidate
    assert short_without_stock(day, {"B": _short(reserved=1, missing=1)}) == {}
    day.orders["B"].waved = True
    assert short_without_stock(day, final) == {}

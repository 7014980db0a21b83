"""The scan fast path (``picking/fast_path.py``) answers and books exactly what the general path
does: the same scripted shift runs on two copies of one warehouse, once with the fast path and
once without, and every answer, every view and every row it touched must come out the same."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from core.db import make_engine, make_session_factory, unit_of_work
from floor.fulfilment.models import PickTask, Scan, Tote
from floor.fulfilment.picking import fast_path
from floor.fulfilment.picking.scans import confirm_scan, next_task
from floor.fulfilment.picking.views import task_payload
from floor.fulfilment.waves.planning import RuleSpec, plan_waves, release_wave
from floor.site.layout import Sku
from floor.site.settings import set_location_confirm
from floor.site.stock import Reservation, Stock
from orders.models import Order, OrderLine
from tests.factories import actor_for, add_order, gtin, supervisor

CARTS = (  # (orders on the cart, totes per cart): put-to-tote, then direct picks
    ([[("SKU-00100", 3)], [("SKU-00101", 2), ("SKU-00102", 2), ("SKU-00106", 1)]], 2),
    ([[("SKU-00103", 4), ("SKU-00105", 2)], [("SKU-00104", 2)]], 1),
)


def _answer(s: Any, out: Any) -> tuple[Any, ...]:
    """What the handheld receives for a scan (``web.picking_sockets._outcome``)."""
    task = out.view if out.view is not None else task_payload(s, out.task)
    if out.view is not None and out.view["status"] == "assigned":
        after = out.view
    else:
        after = task_payload(s, out.next_task)
    return (out.result, out.kind, out.message, out.units, out.extra, task, after)


def _shift(sessions: Any, mode: str) -> list[tuple[Any, ...]]:
    """A picker works every cart: a wrong item and a location scan on each task, then its
    units (and the tote after each, on a put-to-tote cart)."""
    answers: list[tuple[Any, ...]] = []
    seq = 0
    for cart, (orders, totes) in enumerate(CARTS):
        with unit_of_work(sessions) as s:
            if mode != "off":
                set_location_confirm(s, mode, "sam")
            for n, lines in enumerate(orders):
                add_order(s, lines, external_id=f"FP-{cart}-{n}")
            plan = plan_waves(s, RuleSpec(split_by_zone=False, totes_per_cart=totes), supervisor(s))
            for w in plan.waves:
                release_wave(s, w.id, supervisor(s))
        while True:
            with unit_of_work(sessions) as s:
                pat = actor_for(s, "pat")
                task = next_task(s, pat)
                if task is None:
                    break
                task_id, sku = task.id, s.get(Sku, task.sku_id).code
                loc = task_payload(s, task)["location"]["code"]
                tote = s.get(Tote, task.tote_id).code if task.tote_id else None
            codes = [gtin("SKU-00299"), loc] + [gtin(sku)] * 6
            for code in codes:
                seq += 1
                with unit_of_work(sessions) as s:
                    pat = actor_for(s, "pat")
                    out = confirm_scan(s, pat, task_id, code, f"fp-{seq}", views_only=True)
                    answers.append(_answer(s, out))
                    if out.kind == "item_held":
                        seq += 1
                        out = confirm_scan(s, pat, task_id, tote, f"fp-{seq}", views_only=True)
                        answers.append(_answer(s, out))
                    if answers[-1][5] is not None and answers[-1][5]["status"] == "picked":
                        break  # the task is done: the next one
    return answers


def _rows(sessions: Any) -> dict[str, list[tuple[Any, ...]]]:
    with unit_of_work(sessions) as s:
        return {
            "tasks": s.execute(
                select(
                    PickTask.id, PickTask.status, PickTask.picked_qty, PickTask.held_units
                ).order_by(PickTask.id)
            ).all(),
            "stock": s.execute(
                select(Stock.id, Stock.on_hand, Stock.reserved).order_by(Stock.id)
            ).all(),
            "reservations": s.execute(
                select(Reservation.id, Reservation.picked).order_by(Reservation.id)
            ).all(),
            "lines": s.execute(
                select(OrderLine.id, OrderLine.picked_qty).order_by(OrderLine.id)
            ).all(),
            "orders": s.execute(select(Order.id, Order.status).order_by(Order.id)).all(),
            "scans": s.execute(
                select(Scan.client_scan_id, Scan.task_id, Scan.kind, Scan.result).order_by(Scan.id)
            ).all(),
        }


def _twin(templates: dict[str, Path], path: Path) -> Any:
    shutil.copyfile(templates["demo"], path)
    return make_session_factory(make_engine(f"sqlite:///{path}"))


@pytest.mark.parametrize("mode", ["off", "scan"])
def test_the_fast_path_answers_and_books_what_the_general_path_does(
    sqlite_templates: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    taken, finished = [], []
    real = fast_path.try_scan

    def counting(*args: Any) -> Any:
        out = real(*args)
        taken.append(out is not None)
        finished.append(out is not None and out.message.endswith("task done"))
        return out

    fast = _twin(sqlite_templates, tmp_path / "fast.sqlite3")
    monkeypatch.setattr(fast_path, "try_scan", counting)
    fast_answers = _shift(fast, mode)
    monkeypatch.setattr(fast_path, "try_scan", lambda *args: None)
    general = _twin(sqlite_templates, tmp_path / "general.sqlite3")
    general_answers = _shift(general, mode)

    assert sum(taken) >= 6, "the shift should take the fast path for most unit scans"
    assert sum(finished) >= 2  # last units: one closing only its task, one closing its order
    assert len(taken) - sum(taken) >= 8  # wrong items, locations and last units went the long way
    assert fast_answers == general_answers
    assert _rows(fast) == _rows(general)
    for factory in (fast, general):
        factory.kw["bind"].dispose()

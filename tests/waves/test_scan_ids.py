"""A ``client_scan_id`` replays one scan or short report: the same id with the same content is
answered from the stored row, the same id with other content (another task, code, reason or
event) is refused with ``scan_id_reused`` and changes nothing. Over the real Socket.IO test
client, on both the fast path and the general path."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core.db import unit_of_work
from core.exception_queue import FloorException
from floor.fulfilment.models import PickTask, Scan
from floor.fulfilment.picking.views import task_payload
from floor.fulfilment.waves.planning import RuleSpec, plan_waves, release_wave
from floor.site.stock import Reservation, Stock
from orders.states import ShortPolicy
from tests.factories import add_order, login, supervisor

NS = "/floor"


@pytest.fixture
def picker(app, client):
    login(client, badge="BADGE-PICKER-1")
    sio = app.extensions["floor"].socketio.test_client(app, namespace=NS, flask_test_client=client)
    assert sio.is_connected(NS)
    yield sio
    sio.disconnect(namespace=NS)


def _emit(sio, event, data):
    return sio.emit(event, data, namespace=NS, callback=True)


def _tasks(sessions, picker):
    """Release one order of two single-unit lines; the picker claims its list: the views of its
    tasks (as the handheld gets them), the current one first. Only that one is assigned."""
    with unit_of_work(sessions) as s:
        add_order(s, [("SKU-00005", 1), ("SKU-00100", 1)], policy=ShortPolicy.ship_partial)
        for w in plan_waves(s, RuleSpec(split_by_zone=False), supervisor(s)).waves:
            release_wave(s, w.id, supervisor(s))
    first = _emit(picker, "task:next", {})["task"]
    with unit_of_work(sessions) as s:
        ids = s.scalars(
            select(PickTask.id).where(PickTask.pick_list_id == first["pick_list_id"])
        ).all()
        other = [task_payload(s, s.get(PickTask, tid)) for tid in ids if tid != first["id"]]
    assert len(other) == 1 and other[0]["sku"]["code"] != first["sku"]["code"]
    return first, other[0]


def _states(sessions, *views):
    return [_state(sessions, view["id"]) for view in views]


def _state(sessions, task_id):
    """What a scan or short could change for a task, and the counts of scans and exceptions."""
    with unit_of_work(sessions) as s:
        task = s.get(PickTask, task_id)
        res = s.get(Reservation, task.reservation_id)
        stock = s.get(Stock, res.stock_id)
        return (
            task.picked_qty,
            task.held_units,
            task.status,
            res.picked,
            stock.on_hand,
            stock.reserved,
            s.scalar(select(func.count(Scan.id))),
            s.scalar(select(func.count(FloorException.id))),
        )


def _reused(ack):
    assert ack["ok"] is False, ack
    assert set(ack) == {"ok", "error"} and ack["error"]["code"] == "scan_id_reused", ack
    return ack


def test_a_fast_path_scan_id_replays_only_its_own_content(picker, sessions):
    a, b = _tasks(sessions, picker)
    scan = {"client_scan_id": "X1", "task_id": a["id"], "code": a["sku"]["code"]}
    first = _emit(picker, "scan", scan)
    assert first["ok"] and first["result"] == "ok" and first["kind"] == "item", first
    assert first["task"]["picked_qty"] == 1 and first["next_task"]["id"] == b["id"]
    after = _states(sessions, a, b)

    again = _emit(picker, "scan", scan)  # the same id, the same content: a replay
    assert again["ok"] and again["replayed"] and again["result"] == "ok"
    assert again["message"] == "already received (scan X1): ok"
    again = _emit(picker, "scan", {**scan, "task_id": str(a["id"]), "code": f" {scan['code']} "})
    assert again["ok"] and again["replayed"]  # the same task and code, as the server reads them

    # The next task (now assigned) and its own good code: the fast path would count it, claims
    # the scan's row and finds the id: refused, task B's unit is not counted.
    other_task = _reused(
        _emit(picker, "scan", {**scan, "task_id": b["id"], "code": b["sku"]["code"]})
    )
    assert "X1" in other_task["error"]["message"]
    _reused(_emit(picker, "scan", {**scan, "task_id": b["id"]}))  # another task only
    _reused(_emit(picker, "scan", {**scan, "code": a["sku"]["gtins"][0]}))  # another code only
    _reused(_emit(picker, "scan", {**scan, "task_id": 987654}))  # no such task
    _reused(_emit(picker, "scan", {**scan, "task_id": None}))
    # A short report reusing the scan's id: no short recorded.
    for task in (a, b):
        short = {"client_scan_id": "X1", "task_id": task["id"], "reason": "empty"}
        _reused(_emit(picker, "short", short))
    assert _states(sessions, a, b) == after

    # A new id still counts.
    fresh = {"client_scan_id": "X2", "task_id": b["id"], "code": b["sku"]["code"]}
    fresh = _emit(picker, "scan", fresh)
    assert fresh["ok"] and not fresh["replayed"] and fresh["task"]["picked_qty"] == 1


def test_a_general_path_scan_id_replays_only_its_own_content(picker, sessions):
    a, b = _tasks(sessions, picker)
    wrong = {"client_scan_id": "W1", "task_id": a["id"], "code": b["sku"]["code"]}
    first = _emit(picker, "scan", wrong)
    assert first["ok"] and first["result"] == "wrong_item" and not first["replayed"], first
    after = _states(sessions, a, b)

    again = _emit(picker, "scan", wrong)
    assert again["ok"] and again["replayed"] and again["result"] == "wrong_item"
    # The good code under the wrong scan's id (the fast path finds the id): nothing counted.
    _reused(_emit(picker, "scan", {**wrong, "code": a["sku"]["code"]}))
    _reused(_emit(picker, "scan", {**wrong, "task_id": b["id"]}))
    _reused(_emit(picker, "short", {"client_scan_id": "W1", "task_id": a["id"], "reason": "empty"}))
    assert _states(sessions, a, b) == after


def test_a_short_id_replays_only_its_own_content(picker, sessions):
    a, b = _tasks(sessions, picker)
    short = {"client_scan_id": "S1", "task_id": a["id"], "reason": "empty"}
    first = _emit(picker, "short", short)
    assert first["ok"] and first["result"] == "short" and not first["replayed"], first
    assert first["next_task"] is not None
    after = _states(sessions, a, b)

    again = _emit(picker, "short", short)
    assert again["ok"] and again["replayed"] and again["result"] == "short"
    alias = _emit(picker, "short", {**short, "reason": "empty_location"})
    assert alias["ok"] and alias["replayed"]  # the same reason, as the server reads it

    _reused(_emit(picker, "short", {**short, "reason": "damaged"}))
    _reused(_emit(picker, "short", {**short, "task_id": b["id"]}))
    # A scan reusing the short's id: the next task's good code is not counted.
    nxt = first["next_task"]
    _reused(
        _emit(
            picker,
            "scan",
            {"client_scan_id": "S1", "task_id": nxt["id"], "code": nxt["sku"]["code"]},
        )
    )
    _reused(_emit(picker, "scan", {"client_scan_id": "S1", "task_id": a["id"], "code": "empty"}))
    assert _states(sessions, a, b) == after

"""POST /api/v1/orders/{external_id}/cancel, /hold, /release: each idempotent; cancel gives
stock back and cancels open pick tasks (the picker holding one is told at once)."""

from __future__ import annotations

import threading

import pytest
import requests
from sqlalchemy import func, select

from core.db import unit_of_work
from core.exception_queue import ExceptionStatus, FloorException
from core.users import User
from floor.fulfilment.models import PickList, PickTask, Wave
from floor.fulfilment.states import TaskStatus
from floor.site.reservation import available_to_promise
from floor.site.stock import Reservation
from orders.models import Order, OrderLine
from orders.outbox import OutboxEvent
from orders.states import OrderStatus
from tests.factories import OMS_AUTH, counts, order_payload, socket_for


def _events(sessions, ext):
    with unit_of_work(sessions) as s:
        return s.execute(
            select(OutboxEvent.type, OutboxEvent.payload)
            .where(OutboxEvent.aggregate_id == ext)
            .order_by(OutboxEvent.id)
        ).all()


def test_cancel_releases_reservations_and_is_idempotent(api, sessions):
    with unit_of_work(sessions) as s:
        before = available_to_promise(s, ["SKU-00001", "SKU-00003"])
    api.post("/orders", json=order_payload("C-1"))
    r = api.post("/orders/C-1/cancel", json={"reason": "customer changed mind"})
    assert r.status_code == 200
    body = r.get_json()
    assert body["status"] == "canceled" and "canceled" in body["status_times"]
    assert all(ln["reserved"] == 0 for ln in body["lines"])
    with unit_of_work(sessions) as s:
        assert available_to_promise(s, ["SKU-00001", "SKU-00003"]) == before
        assert s.scalar(select(func.count()).where(Reservation.released.is_(False))) == 0
    types = [t for t, _ in _events(sessions, "C-1")]
    assert types == ["order.received", "order.allocated", "order.canceled"]
    assert _events(sessions, "C-1")[-1][1]["reason"] == "customer changed mind"
    snapshot = counts(sessions)
    again = api.post("/orders/C-1/cancel")  # no body at all is fine
    assert again.status_code == 200 and again.get_json()["status"] == "canceled"
    assert counts(sessions) == snapshot  # nothing happened twice


def test_cancel_closes_the_short_allocation_exception(api, sessions):
    with unit_of_work(sessions) as s:
        avail = available_to_promise(s, ["SKU-00007"])["SKU-00007"]
    lines = [{"line_id": "1", "sku": "SKU-00007", "quantity": avail + 1}]
    assert api.post("/orders", json=order_payload("C-SHORT", lines=lines)).get_json()["status"] == (
        "short"
    )
    api.post("/orders/C-SHORT/cancel")
    with unit_of_work(sessions) as s:
        exc = s.scalars(select(FloorException)).one()
        assert exc.status == ExceptionStatus.resolved and exc.resolution == "order canceled"
        assert available_to_promise(s, ["SKU-00007"])["SKU-00007"] == avail


@pytest.mark.parametrize("status", ["shipped", "delivered"])
def test_cancel_after_shipping_is_409_already_shipped(api, sessions, status):
    api.post("/orders", json=order_payload("C-SHIP"))
    with unit_of_work(sessions) as s:
        s.scalars(select(Order).where(Order.external_id == "C-SHIP")).one().status = OrderStatus(
            status
        )
    before = counts(sessions)
    for action in ("cancel", "hold"):
        r = api.post(f"/orders/C-SHIP/{action}")
        assert r.status_code == 409 and r.get_json()["error"]["code"] == "already_shipped"
    assert counts(sessions) == before
    assert api.get("/orders/C-SHIP").get_json()["status"] == status


def test_hold_and_release_return_to_the_held_status_idempotently(api, sessions):
    api.post("/orders", json=order_payload("H-1"))
    r = api.post("/orders/H-1/hold", json={"reason": "fraud check"})
    assert r.status_code == 200
    assert (r.get_json()["status"], r.get_json()["held_from"]) == ("on_hold", "allocated")
    n = len(_events(sessions, "H-1"))
    assert api.post("/orders/H-1/hold").get_json()["status"] == "on_hold"
    assert len(_events(sessions, "H-1")) == n  # second hold: no new event
    r = api.post("/orders/H-1/release")
    assert (r.get_json()["status"], r.get_json()["held_from"]) == ("allocated", None)
    assert api.post("/orders/H-1/release").get_json()["status"] == "allocated"
    types = [t for t, _ in _events(sessions, "H-1")]
    assert types[-2:] == ["order.on_hold", "order.allocated"]
    # reservations stayed in place through the hold
    assert all(ln["reserved"] == ln["ordered"] for ln in api.get("/orders/H-1").get_json()["lines"])


def test_an_order_picked_while_held_is_picked_once_released(api, sessions):
    """The OMS holds an order whose wave is out; the hold keeps its tasks, so its picker goes
    on and picks it all. Released, the order went back to ``waved`` and stayed there: nothing
    was left to move it on, and the pack station refused it ("is waved; it can be packed once
    picked"). It is ``picked`` now, with the events the picks would have written."""
    from floor.fulfilment.picking.scans import next_task
    from floor.fulfilment.waves.planning import RuleSpec, plan_waves, release_wave
    from tests.factories import actor_for, pick_scan, supervisor

    api.post("/orders", json=order_payload("HP-1", lines=[("SKU-00021", 1), ("SKU-00022", 1)]))
    with unit_of_work(sessions) as s:
        for w in plan_waves(s, RuleSpec(split_by_zone=False), supervisor(s)).waves:
            release_wave(s, w.id, supervisor(s))
    assert api.post("/orders/HP-1/hold").get_json()["status"] == "on_hold"
    with unit_of_work(sessions) as s:
        pat = actor_for(s, "pat")
        while (task := next_task(s, pat)) is not None:
            code = s.scalar(select(OrderLine.line_id).where(OrderLine.id == task.order_line_id))
            sku = "SKU-00021" if code == "1" else "SKU-00022"
            assert pick_scan(s, pat, task.id, sku, f"held-{task.id}").result == "ok"
    assert api.get("/orders/HP-1").get_json()["status"] == "on_hold"
    released = api.post("/orders/HP-1/release").get_json()
    assert released["status"] == "picked", released["status"]
    assert [ln["picked"] for ln in released["lines"]] == [1, 1]
    types = [t for t, _ in _events(sessions, "HP-1")]
    assert types[-4:] == ["order.on_hold", "order.waved", "order.picking", "order.picked"]


def test_held_order_can_be_canceled_and_canceled_cannot_be_held_or_released(api):
    api.post("/orders", json=order_payload("H-2"))
    api.post("/orders/H-2/hold")
    assert api.post("/orders/H-2/cancel").get_json()["status"] == "canceled"
    for action in ("hold", "release"):
        r = api.post(f"/orders/H-2/{action}")
        assert r.status_code == 409 and r.get_json()["error"]["code"] == "invalid_transition"


def test_actions_on_unknown_orders_and_bad_bodies(api):
    for action in ("cancel", "hold", "release"):
        r = api.post(f"/orders/NOPE/{action}")
        assert r.status_code == 404 and r.get_json()["error"]["code"] == "not_found"
    api.post("/orders", json=order_payload("H-3"))
    r = api.post("/orders/H-3/hold", data="{", content_type="application/json")
    assert r.status_code == 400
    r = api.post("/orders/H-3/hold", json={"reason": 5})
    assert r.status_code == 422 and r.get_json()["errors"][0]["field"] == "reason"
    r = api.post("/orders/H-3/hold", data="x", content_type="text/plain")
    assert r.status_code == 415
    for raw, code, says in (
        ('{"reason": "\\ud800"}', "invalid_characters", "unpaired surrogates"),
        ('{"reason": "a\\u0000b"}', "invalid_characters", "NUL"),
        ('{"reason": "' + "x" * 501 + '"}', "too_long", "longer than 500"),
    ):
        r = api.post("/orders/H-3/hold", data=raw, content_type="application/json")
        [error] = r.get_json()["errors"]
        assert r.status_code == 422 and (error["code"], error["field"]) == (code, "reason")
        assert says in error["message"], error
    assert api.get("/orders/H-3").get_json()["status"] == "allocated"


def _task_for(sessions, ext: str, username: str) -> tuple[int, int]:
    """Put the order's first line on a pick list assigned to ``username``: (task id, user id)."""
    with unit_of_work(sessions) as s:
        order = s.scalars(select(Order).where(Order.external_id == ext)).one()
        user = s.scalars(select(User).where(User.username == username)).one()
        wave = Wave(code=f"W-{ext}")
        s.add(wave)
        s.flush()
        plist = PickList(wave_id=wave.id, assigned_user_id=user.id)
        s.add(plist)
        s.flush()
        line = s.scalars(select(OrderLine).where(OrderLine.order_id == order.id)).first()
        res = s.scalars(select(Reservation).where(Reservation.order_line_id == line.id)).first()
        tasks = [
            PickTask(
                pick_list_id=plist.id,
                seq=n,
                order_line_id=line.id,
                reservation_id=res.id,
                location_id=res.stock.location_id,
                sku_id=line.sku_id,
                quantity=1,
                status=status,
                assigned_user_id=user.id if n == 0 else None,
            )
            for n, status in enumerate([TaskStatus.assigned, TaskStatus.pending, TaskStatus.picked])
        ]
        s.add_all(tasks)
        s.flush()
        return tasks[0].id, user.id


def test_cancel_cancels_open_pick_tasks_and_tells_the_picker_at_once(live_server, sessions):
    url = live_server.url + "/api/v1"
    assert requests.post(url + "/orders", json=order_payload("T-1"), headers=OMS_AUTH).ok
    task_id, _ = _task_for(sessions, "T-1", "pat")
    picker = socket_for(live_server.url, badge="BADGE-PICKER-1")
    other = socket_for(live_server.url, badge="BADGE-PICKER-2")
    told, overheard = threading.Event(), []
    received = []

    @picker.on("task.canceled", namespace="/floor")
    def _on(data):
        received.append(data)
        told.set()

    @other.on("task.canceled", namespace="/floor")
    def _other(data):
        overheard.append(data)

    try:
        r = requests.post(url + "/orders/T-1/cancel", headers=OMS_AUTH, timeout=10)
        assert r.status_code == 200
        assert told.wait(5), "the picker was not told"
        assert received[0] == {"task_id": task_id, "order": "T-1", "reason": "order_canceled"}
    finally:
        picker.disconnect()
        other.disconnect()
    assert overheard == []  # only the picker holding the task (and the dashboard) hear it
    with unit_of_work(sessions) as s:
        statuses = s.scalars(select(PickTask.status).order_by(PickTask.seq)).all()
        assert statuses == [TaskStatus.canceled, TaskStatus.canceled, TaskStatus.picked]
    payload = _events(sessions, "T-1")[-1][1]
    assert len(payload["canceled_tasks"]) == 2

"""Supervisor JSON API, pages, the picker's Socket.IO contract and the scheduled job, on a real
app (HTTP server on a free port, python-socketio client logged in by badge)."""

from __future__ import annotations

import datetime as dt
import re
import time

from sqlalchemy import select

from core.db import unit_of_work, utcnow
from core.users import AuditEntry
from floor.fulfilment.models import PickTask, Wave, WaveRule
from floor.fulfilment.states import TaskStatus, WaveStatus
from floor.fulfilment.waves.jobs import plan_and_release_due_waves
from floor.fulfilment.waves.planning import RuleSpec, plan_waves
from floor.fulfilment.waves.progress import cancel_wave, release_wave
from orders.states import OrderStatus, ShortPolicy
from tests.factories import (
    add_order,
    csrf_headers,
    csrf_token,
    gtin,
    login,
    socket_for,
    supervisor,
)


def _sup(client):
    login(client, username="sam", password="supervisor-demo")
    return csrf_headers(client)


def _orders(sessions, *lines_list, **kw):
    with unit_of_work(sessions) as s:
        return [add_order(s, lines, **kw).id for lines in lines_list]


def test_supervisor_plans_releases_and_reads_a_wave(client, sessions):
    _orders(sessions, [("SKU-00100", 2), ("SKU-00120", 1)], [("SKU-00150", 1)])
    headers = _sup(client)
    rule_id = client.get("/wave-rules").get_json()["rules"][0]["id"]
    r = client.post("/waves", json={"rule_id": rule_id}, headers=headers)
    assert r.status_code == 201, r.get_json()
    [wave] = r.get_json()["waves"]
    assert wave["status"] == "planned" and wave["tasks"]["total"] == 3
    assert wave["route_length_m"] > 0 and wave["cutoff_at"].startswith("2030-01-01T16:00")
    detail = client.get(f"/waves/{wave['id']}").get_json()
    assert sum(len(pl["tasks"]) for pl in detail["lists"]) == 3
    assert all(pl["route_length_m"] > 0 for pl in detail["lists"])
    for pl in detail["lists"]:
        assert [t["seq"] for t in pl["tasks"]] == list(range(1, len(pl["tasks"]) + 1))
    r = client.post(f"/waves/{wave['id']}/release", headers=headers)
    assert r.status_code == 200 and r.get_json()["status"] == "released"
    again = client.post(f"/waves/{wave['id']}/release", headers=headers)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "invalid_transition"
    assert client.get("/waves?status=released").get_json()["waves"][0]["id"] == wave["id"]


def test_inline_rule_values_are_validated(client, sessions):
    _orders(sessions, [("SKU-00100", 1)])
    headers = _sup(client)
    r = client.post("/waves", json={"rule": {"max_orders": 0, "colour": "red"}}, headers=headers)
    assert r.status_code == 422
    assert {e["field"] for e in r.get_json()["errors"]} == {"max_orders", "colour"}
    r = client.post("/waves", json={}, headers=headers)
    assert r.status_code == 422
    # "release": "yes" planned the wave and left it unreleased, answering 201 all the same
    for loose in ("yes", "true", 1):
        r = client.post("/waves", json={"rule_id": 1, "release": loose}, headers=headers)
        assert r.status_code == 422, (loose, r.get_json())
        assert [(e["field"], e["code"]) for e in r.get_json()["errors"]] == [("release", "invalid")]
    assert client.get("/waves").get_json()["waves"] == []  # nothing was planned
    r = client.post(
        "/waves", json={"rule": {"max_orders": 5, "split_by_zone": False}}, headers=headers
    )
    assert r.status_code == 201 and len(r.get_json()["waves"]) == 1


def test_json_posts_need_the_csrf_header(client):
    login(client, username="sam", password="supervisor-demo")
    r = client.post("/waves", json={"rule_id": 1})
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "csrf_failed"


def test_a_picker_cannot_plan_release_or_override(client, sessions):
    _orders(sessions, [("SKU-00100", 1)])
    sup = _sup(client)
    wave_id = client.post("/waves", json={"rule_id": 1}, headers=sup).get_json()["waves"][0]["id"]
    client.post("/logout", data={"csrf_token": sup["X-CSRFToken"]})
    login(client, badge="BADGE-PICKER-1")
    headers = csrf_headers(client, "/handheld")
    assert client.post("/waves", json={"rule_id": 1}, headers=headers).status_code == 403
    assert client.post(f"/waves/{wave_id}/release", json={}, headers=headers).status_code == 403
    assert client.get("/wave-rules", headers={"Accept": "application/json"}).status_code == 403
    r = client.post("/tasks/1/override", json={"reason": "x"}, headers=headers)
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "forbidden"
    with unit_of_work(sessions) as s:
        assert s.get(Wave, wave_id).status == WaveStatus.planned


def test_a_new_rule_with_a_bad_field_is_refused_before_anything_is_written(client, sessions):
    """A 200-character name for a new rule answered 500 on PostgreSQL: the row was inserted
    (wave_rules.name is 80 wide) before the fields were checked. Now 422, nothing written."""
    headers = _sup(client)
    with unit_of_work(sessions) as s:
        before = len(s.scalars(select(WaveRule.id)).all())
    for body in ({"name": "r" * 200}, {"name": "New run", "max_orders": -1}):
        r = client.put("/wave-rules", json=body, headers=headers)
        assert r.status_code == 422, (body, r.get_data(as_text=True))
        assert r.get_json()["errors"][0]["field"] in ("name", "max_orders")
    with unit_of_work(sessions) as s:
        assert len(s.scalars(select(WaveRule.id)).all()) == before


def test_wave_rules_can_be_edited_and_are_audited(client, sessions):
    headers = _sup(client)
    r = client.put(
        "/wave-rules",
        json={
            "name": "Express run",
            "max_orders": 20,
            "schedule_every_min": 10,
            "auto_release": True,
        },
        headers=headers,
    )
    assert r.status_code == 200, r.get_json()
    [rule] = r.get_json()["rules"]
    assert rule["max_orders"] == 20 and rule["schedule_every_min"] == 10
    r = client.put(f"/wave-rules/{rule['id']}", json={"max_units": -1}, headers=headers)
    assert r.status_code == 422 and r.get_json()["errors"][0]["field"] == "max_units"
    r = client.put(f"/wave-rules/{rule['id']}", json={"max_units": 50}, headers=headers)
    assert r.get_json()["max_units"] == 50
    with unit_of_work(sessions) as s:
        assert (
            len(s.scalars(select(AuditEntry).where(AuditEntry.action == "wave_rule.save")).all())
            == 2
        )


def _released_wave(client, headers) -> tuple[int, int]:
    """Plan and release a wave with rule 1: its id and the id of its first pick task."""
    made = client.post("/waves", json={"rule_id": 1, "release": True}, headers=headers)
    wave_id = made.get_json()["waves"][0]["id"]
    return wave_id, client.get(f"/waves/{wave_id}").get_json()["lists"][0]["tasks"][0]["id"]


def test_override_over_http_is_audited(client, sessions):
    _orders(sessions, [("SKU-00100", 2)])
    headers = _sup(client)
    wave_id, task_id = _released_wave(client, headers)
    r = client.post(f"/tasks/{task_id}/override", json={}, headers=headers)
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "reason_required"
    # A reason that is not text, or over 500 characters, is refused for what it is (a list was
    # taken as no reason at all), as every other supervisor reason.
    for reason, code in (([1], "not_text"), ({"a": 1}, "not_text"), ("x" * 501, "too_long")):
        r = client.post(f"/tasks/{task_id}/override", json={"reason": reason}, headers=headers)
        assert r.status_code == 422, (reason, r.get_json())
        assert r.get_json()["errors"][0] | {"message": ""} == {
            "code": code,
            "field": "reason",
            "message": "",
        }
    r = client.post(
        f"/tasks/{task_id}/override", json={"reason": "scanner broken"}, headers=headers
    )
    assert r.status_code == 200 and r.get_json()["status"] == "picked"
    with unit_of_work(sessions) as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "task.override")).one()
        assert entry.actor == "sam" and entry.reason == "scanner broken"
    assert client.get(f"/waves/{wave_id}").get_json()["status"] == "completed"


def test_override_quantity_refusals_state_the_range_it_takes(client, sessions):
    """Quantity 0 was refused, yet a quantity out of range was told "must be 0..100000"."""
    _orders(sessions, [("SKU-00100", 2)])
    headers = _sup(client)
    wave_id, task_id = _released_wave(client, headers)
    for qty in (0, -1, 100_001):
        r = client.post(
            f"/tasks/{task_id}/override",
            json={"reason": "scanner broken", "quantity": qty},
            headers=headers,
        )
        assert r.status_code == 422, qty
        err = r.get_json()["errors"][0]
        assert (err["code"], err["field"]) == ("invalid", "quantity"), qty
        assert err["message"] == "quantity must be 1..100000", qty
    r = client.post(
        f"/tasks/{task_id}/override",
        json={"reason": "scanner broken", "quantity": 3},
        headers=headers,
    )
    assert r.status_code == 422 and r.get_json()["error"]["message"] == "quantity must be 1..2"
    r = client.post(
        f"/tasks/{task_id}/override",
        json={"reason": "scanner broken", "quantity": 1},
        headers=headers,
    )
    assert r.status_code == 200 and r.get_json()["picked_qty"] == 1


def test_a_retried_override_books_its_units_once(client, sessions):
    """The same override sent twice (a retry after a lost answer) booked 2 units for 1."""
    _orders(sessions, [("SKU-00100", 3)])
    headers = _sup(client)
    wave_id, task_id = _released_wave(client, headers)
    url = f"/tasks/{task_id}/override"
    body = {"reason": "label torn", "quantity": 1, "override_id": "ov-1"}
    first = client.post(url, json=body, headers=headers)
    assert first.status_code == 200, first.get_json()
    assert first.get_json()["picked_qty"] == 1 and first.get_json()["replayed"] is False
    again = client.post(url, json=body, headers=headers)
    assert again.status_code == 200, again.get_json()
    assert again.get_json()["replayed"] is True and again.get_json()["picked_qty"] == 1
    # The id names that override: sent with another quantity or reason it is refused.
    for other in ({"quantity": 2}, {"reason": "scanner broken"}):
        r = client.post(url, json=body | other, headers=headers)
        assert r.status_code == 409, (other, r.get_json())
        assert r.get_json()["error"]["code"] == "override_id_reused"
    for bad in ("", "x" * 65, "a b", 7):
        r = client.post(url, json=body | {"override_id": bad}, headers=headers)
        assert r.status_code == 422, bad
        assert r.get_json()["errors"][0]["field"] == "override_id"
    # Without an id, picked_before (what the supervisor saw) refuses a retry of a done override.
    body = {"reason": "label torn", "quantity": 1, "picked_before": 1}
    assert client.post(url, json=body, headers=headers).get_json()["picked_qty"] == 2
    r = client.post(url, json=body, headers=headers)
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "stale_override"
    with unit_of_work(sessions) as s:
        task = s.get(PickTask, task_id)
        assert task.picked_qty == 2 and task.status in (TaskStatus.pending, TaskStatus.assigned)
        entries = s.scalars(select(AuditEntry).where(AuditEntry.action == "task.override")).all()
        assert [e.details["units"] for e in entries] == [1, 1]
        assert [e.details.get("override_id") for e in entries] == ["ov-1", None]


def test_supervisor_page_plans_releases_and_resolves(client, sessions):
    _orders(sessions, [("SKU-00100", 1)])
    login(client, username="sam", password="supervisor-demo")
    page = client.get("/dashboard/waves").get_data(as_text=True)
    token = csrf_token(page)
    assert "1 order(s) waiting" in page
    r = client.post(
        "/dashboard/waves/plan", data={"csrf_token": token, "rule_id": "1"}, follow_redirects=True
    )
    html = r.get_data(as_text=True)
    assert "Planned 1 wave(s)" in html and "W0000" in html and "Release</button>" in html
    wave_id = re.search(r'data-wave="(\d+)"', html).group(1)
    r = client.post(
        f"/dashboard/waves/{wave_id}/release", data={"csrf_token": token}, follow_redirects=True
    )
    assert "Wave released." in r.get_data(as_text=True)
    assert client.post("/dashboard/waves/plan", data={"rule_id": "1"}).status_code == 400


def test_the_page_cancels_a_wave_only_with_a_reason_it_can_keep(client, sessions):
    """The page's cancel cut a longer reason at 500 characters without a word (the audit trail
    kept a different text than was sent); it is refused like every supervisor reason."""
    _orders(sessions, [("SKU-00100", 1)])
    login(client, username="sam", password="supervisor-demo")
    token = csrf_token(client.get("/dashboard/waves").get_data(as_text=True))
    html = client.post(
        "/dashboard/waves/plan", data={"csrf_token": token, "rule_id": "1"}, follow_redirects=True
    ).get_data(as_text=True)
    wave_id = re.search(r'data-wave="(\d+)"', html).group(1)
    url = f"/dashboard/waves/{wave_id}/cancel"
    r = client.post(url, data={"csrf_token": token, "reason": "x" * 501}, follow_redirects=True)
    assert "reason is longer than 500 characters" in r.get_data(as_text=True)
    assert client.get(f"/waves/{wave_id}").get_json()["status"] == "planned"
    r = client.post(url, data={"csrf_token": token, "reason": "wrong rule"}, follow_redirects=True)
    assert "Wave canceled." in r.get_data(as_text=True)
    assert client.get(f"/waves/{wave_id}").get_json()["status"] == "canceled"


def test_planning_with_nothing_waiting_says_so(client, sessions):
    """With no order waiting, Plan flashed "Planned 0 wave(s)." as if it had done something."""
    login(client, username="sam", password="supervisor-demo")
    page = client.get("/dashboard/waves").get_data(as_text=True)
    assert "0 order(s) waiting" in page
    r = client.post(
        "/dashboard/waves/plan",
        data={"csrf_token": csrf_token(page), "rule_id": "1"},
        follow_redirects=True,
    )
    html = r.get_data(as_text=True)
    assert "No orders are waiting to be waved." in html
    assert "Planned 0" not in html
    with unit_of_work(sessions) as s:  # waiting, yet nothing reserved to pick: said as such
        order = add_order(s, [("SKU-00100", 1)], reserve=False)
        order.status = OrderStatus.allocated
        ext = order.external_id
    r = client.post(
        "/dashboard/waves/plan",
        data={"csrf_token": csrf_token(page), "rule_id": "1"},
        follow_redirects=True,
    )
    html = r.get_data(as_text=True)
    assert (
        f"No wave planned: 1 waiting order(s) could not be waved ({ext}: no open reservation"
        in html
    )


def test_the_waves_page_counts_down_to_the_cut_off_only_for_waves_still_to_pick(client, sessions):
    """A completed or canceled wave showed "N h M min late" against its cut-off, as if it
    still had to make it (the dashboard already left it out)."""
    late = utcnow() - dt.timedelta(hours=2)
    ids = _orders(
        sessions, [("SKU-00100", 1)], [("SKU-00101", 1)], [("SKU-00102", 1)], ship_by=late
    )
    with unit_of_work(sessions) as s:
        sup = supervisor(s)
        done, canceled, open_ = (
            plan_waves(s, RuleSpec(split_by_zone=False), sup, order_ids=[i]).waves[0].id
            for i in ids
        )
        release_wave(s, done, sup)
        cancel_wave(s, canceled, sup, "test")
    headers = _sup(client)
    for task in client.get(f"/waves/{done}").get_json()["lists"][0]["tasks"]:
        r = client.post(
            f"/tasks/{task['id']}/override", json={"reason": "scanner broken"}, headers=headers
        )
        assert r.status_code == 200
    html = client.get("/dashboard/waves").get_data(as_text=True)

    def time_to_cutoff(wave_id: int) -> tuple[str, str]:
        row = re.search(rf'<tr data-wave="{wave_id}">(.*?)</tr>', html, re.S).group(1)
        cells = re.findall(r"<td>(.*?)</td>", row, re.S)
        return cells[1], cells[7]

    assert time_to_cutoff(done) == ("completed", "")
    assert time_to_cutoff(canceled) == ("canceled", "")
    status, countdown = time_to_cutoff(open_)
    assert status == "planned" and "late" in countdown


LISTEN = ("task.available", "wave.progress", "exception.opened", "task.canceled")


def test_release_makes_tasks_visible_to_a_real_socket_client(live_server, sessions):
    _orders(sessions, [("SKU-00005", 2), ("SKU-00250", 1)], policy=ShortPolicy.ship_partial)
    picker = socket_for(live_server.url, listen=LISTEN, badge="BADGE-PICKER-1")
    sup_sio = socket_for(live_server.url, listen=LISTEN, username="sam", password="supervisor-demo")
    sup_http = sup_sio.http
    try:
        ack = picker.call("task:next", {}, namespace="/floor", timeout=5)
        assert ack == {"ok": True, "task": None}
        denied = sup_sio.call("task:next", {}, namespace="/floor", timeout=5)
        assert denied["ok"] is False and denied["error"]["code"] == "forbidden"
        token = csrf_token(sup_http.get(live_server.url + "/dashboard").text)
        r = sup_http.post(
            live_server.url + "/waves", json={"rule_id": 1}, headers={"X-CSRFToken": token}
        )
        wave = r.json()["waves"][0]
        assert picker.call("task:next", {}, namespace="/floor", timeout=5)["task"] is None
        sup_http.post(
            live_server.url + f"/waves/{wave['id']}/release", headers={"X-CSRFToken": token}
        )
        assert picker.wait_for("task.available")[0]["wave_id"] == wave["id"]
        assert sup_sio.wait_for("wave.progress")[0]["status"] == "released"

        task = picker.call("task:next", {}, namespace="/floor", timeout=5)["task"]
        assert task["wave_code"] == wave["code"] and task["seq"] == 1
        assert set(task["location"]) == {"code", "aisle", "bay", "level", "slot", "check_code"}
        assert set(task["sku"]) == {"code", "name", "gtins"}
        # Wrong item: nothing changes.
        other = "4000000000998" if "4000000000998" not in task["sku"]["gtins"] else "SKU-00001"
        ack = picker.call(
            "scan",
            {
                "client_scan_id": "w-1",
                "task_id": task["id"],
                "code": other,
                "scanned_at": utcnow().isoformat(),
            },
            namespace="/floor",
            timeout=5,
        )
        assert ack["ok"] and ack["result"] == "wrong_item" and ack["task"]["picked_qty"] == 0
        # Walk the list: pick SKU-00005 fully, report SKU-00250 short (no stock elsewhere).
        n = 0
        while task is not None:
            n += 1
            if task["sku"]["code"] == "SKU-00250":
                ack = picker.call(
                    "short",
                    {"client_scan_id": f"s-{n}", "task_id": task["id"], "reason": "empty"},
                    namespace="/floor",
                    timeout=5,
                )
                assert ack["ok"] and ack["result"] == "short" and ack["short_qty"] == 1
                assert sup_sio.wait_for("exception.opened")[0]["sku"] == "SKU-00250"
            else:
                payload = {
                    "client_scan_id": f"g-{n}",
                    "task_id": task["id"],
                    "code": task["sku"]["gtins"][0],
                    "scanned_at": None,
                }
                ack = picker.call("scan", payload, namespace="/floor", timeout=5)
                assert ack["ok"] and ack["result"] == "ok", ack
                replay = picker.call("scan", payload, namespace="/floor", timeout=5)
                assert replay["replayed"] and replay["result"] == "ok"
                assert replay["task"]["picked_qty"] == ack["task"]["picked_qty"]
                if ack["kind"] == "item_held":  # a cart of several totes: the tote books it
                    tote = {**payload, "client_scan_id": f"t-{n}", "code": ack["await_tote"]}
                    ack = picker.call("scan", tote, namespace="/floor", timeout=5)
                    assert ack["ok"] and ack["result"] == "ok" and ack["kind"] == "tote", ack
            task = ack["next_task"]
        bad = picker.call(
            "short",
            {"client_scan_id": "z", "task_id": 1, "reason": "lost"},
            namespace="/floor",
            timeout=5,
        )
        assert bad["ok"] is False and bad["error"]["code"] == "invalid_reason"
        r = sup_http.get(live_server.url + f"/waves/{wave['id']}")
        assert r.json()["status"] == "completed" and r.json()["tasks"]["short"] == 1
        exc = sup_http.get(live_server.url + "/exceptions").json()["exceptions"][0]
        r = sup_http.post(
            live_server.url + f"/exceptions/{exc['id']}/resolve",
            json={"resolution": "shipped partial"},
            headers={"X-CSRFToken": token},
        )
        assert r.json()["status"] == "resolved"
    finally:
        picker.disconnect()
        sup_sio.disconnect()
    with unit_of_work(sessions) as s:
        assert s.scalars(select(AuditEntry).where(AuditEntry.action == "exception.resolve")).one()


def test_the_scheduled_job_plans_and_releases_due_waves(app, sessions):
    assert app.extensions["floor"].scheduler.get_job("waves.plan_and_release_due") is not None
    soon = utcnow() + dt.timedelta(minutes=30)
    later = utcnow() + dt.timedelta(days=2)
    ids = _orders(sessions, [("SKU-00100", 1)], ship_by=soon)
    far = _orders(sessions, [("SKU-00101", 1)], ship_by=later)
    with unit_of_work(sessions) as s:
        s.add(
            WaveRule(
                name="Every 5", schedule_every_min=5, auto_release=True, cutoff_horizon_min=120
            )
        )
    now = utcnow()
    assert plan_and_release_due_waves(sessions, now=now) != []
    with unit_of_work(sessions) as s:
        from orders.models import Order

        assert s.get(Order, ids[0]).status == OrderStatus.waved
        assert s.get(Order, far[0]).status == OrderStatus.allocated  # beyond the horizon
        wave = s.scalars(select(Wave)).one()
        assert wave.status == WaveStatus.released
        assert s.scalars(select(PickTask)).one().status == TaskStatus.pending
    _orders(sessions, [("SKU-00102", 1)], ship_by=soon)
    assert plan_and_release_due_waves(sessions, now=now + dt.timedelta(minutes=1)) == []
    assert len(plan_and_release_due_waves(sessions, now=now + dt.timedelta(minutes=5))) == 1


def test_canceling_a_wave_tells_the_picker_holding_its_task(live_server, sessions):
    _orders(sessions, [("SKU-00100", 1)])
    picker = socket_for(live_server.url, listen=LISTEN, badge="BADGE-PICKER-1")
    sup_sio = socket_for(live_server.url, username="sam", password="supervisor-demo")
    sup_http = sup_sio.http
    try:
        token = csrf_token(sup_http.get(live_server.url + "/dashboard").text)
        headers = {"X-CSRFToken": token}
        wave = sup_http.post(
            live_server.url + "/waves", json={"rule_id": 1, "release": True}, headers=headers
        ).json()["waves"][0]
        task = picker.call("task:next", {}, namespace="/floor", timeout=5)["task"]
        r = sup_http.post(live_server.url + f"/waves/{wave['id']}/cancel", json={}, headers=headers)
        assert r.json()["status"] == "canceled"
        [event] = picker.wait_for("task.canceled")
        assert event["task_id"] == task["id"] and event["wave_id"] == wave["id"]
        assert picker.call("task:next", {}, namespace="/floor", timeout=5)["task"] is None
    finally:
        picker.disconnect()
        sup_sio.disconnect()


def test_a_scan_is_answered_on_its_handheld_once_and_mirrored_to_the_pickers_other_device(
    live_server, sessions
):
    """The ack carries the scanned task's view, so ``task.updated`` is not echoed to the
    handheld that scanned; another device of the same picker (and the wave's room) still gets
    it."""
    _orders(sessions, [("SKU-00005", 3)])
    with unit_of_work(sessions) as s:
        sup = supervisor(s)
        [wave] = plan_waves(s, RuleSpec(split_by_zone=False), sup).waves
        release_wave(s, wave.id, sup)
    listen = ("task.updated",)
    first = socket_for(live_server.url, listen=listen, badge="BADGE-PICKER-1")
    second = socket_for(live_server.url, listen=listen, badge="BADGE-PICKER-1")
    try:
        task = first.call("task:next", {}, namespace="/floor", timeout=5)["task"]
        for n, (scanner, mirror) in enumerate(((first, second), (second, first)), 1):
            payload = {"client_scan_id": f"m-{n}", "task_id": task["id"], "code": gtin("SKU-00005")}
            ack = scanner.call("scan", payload, namespace="/floor", timeout=5)
            assert ack["ok"] and ack["result"] == "ok", ack
            if ack["kind"] == "item_held":
                tote = {**payload, "client_scan_id": f"t-{n}", "code": ack["await_tote"]}
                ack = scanner.call("scan", tote, namespace="/floor", timeout=5)
            assert ack["task"]["picked_qty"] == n
            end = time.monotonic() + 5
            while mirror.wait_for("task.updated")[-1]["picked_qty"] != n:
                assert time.monotonic() < end, mirror.received
                time.sleep(0.02)
            seen = mirror.received["task.updated"]
            time.sleep(0.3)  # anything on its way to the scanner arrives meanwhile
            echoed = [e for e in scanner.received.get("task.updated", []) if e["picked_qty"] == n]
            assert echoed == [] and seen[-1]["id"] == task["id"]
    finally:
        first.disconnect()
        second.disconnect()

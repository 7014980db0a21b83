"""An order the OMS cancels after part of it was picked: its units sit in its tote until a
supervisor confirms "returned to stock" (``floor.fulfilment.picking.returns``). Before, the
pack station said "its picked items go back to stock (tell a supervisor)" and nothing could do
it: the stock stayed low at the pick face and the tote stayed the canceled order's forever."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from core.actors import Actor
from core.db import unit_of_work
from core.exception_queue import ExceptionReason, ExceptionStatus, FloorException
from core.users import AuditEntry, Role
from floor.fulfilment.models import PickTask, Tote
from floor.fulfilment.picking.cancellation import cancel_order
from floor.fulfilment.picking.returns import return_to_stock
from floor.fulfilment.picking.scans import next_task
from floor.fulfilment.waves.planning import RuleSpec, plan_waves, release_wave
from floor.site.layout import Location
from floor.site.stock import Reservation, Stock
from orders.models import Order
from tests.factories import (
    OMS_AUTH,
    actor_for,
    add_order,
    csrf_headers,
    gtin,
    login,
    page_csrf,
    pick_scan,
    supervisor,
)


def _released(s, lines):
    order = add_order(s, lines)
    for wave in plan_waves(s, RuleSpec(split_by_zone=False), supervisor(s)).waves:
        release_wave(s, wave.id, supervisor(s))
    return order


def _partly_picked(sessions) -> dict:
    """A two-line order, released; ``pat`` picks all of the first task and nothing more."""
    with unit_of_work(sessions) as s:
        order = _released(s, [("SKU-00005", 2), ("SKU-00030", 1)])
        pat = actor_for(s, "pat")
        task = next_task(s, pat)
        stock = s.get(Stock, s.get(Reservation, task.reservation_id).stock_id)
        before = {"on_hand": stock.on_hand, "reserved": stock.reserved}
        code = gtin(task.sku.code)
        for n in range(task.quantity):
            assert pick_scan(s, pat, task.id, code, f"rts-{order.id}-{n}").result == "ok"
        s.refresh(stock)
        assert stock.on_hand == before["on_hand"] - task.quantity
        tote = s.scalar(select(Tote.code).where(Tote.order_id == order.id))
        assert tote is not None
        return {
            "order": order.external_id,
            "tote": tote,
            "stock_id": stock.id,
            "before": before,
            "units": task.quantity,
            "sku": task.sku.code,
            "location": s.get(Location, task.location_id).code,
        }


def _sup(client):
    login(client, username="sam", password="supervisor-demo")
    return csrf_headers(client)


def _cancel(client, external_id):
    r = client.post(f"/api/v1/orders/{external_id}/cancel", headers=OMS_AUTH)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["status"] == "canceled"


def test_a_partly_picked_canceled_order_is_returned_to_stock_once(client, sessions):
    got = _partly_picked(sessions)
    ext, tote = got["order"], got["tote"]
    _cancel(client, ext)

    # the supervisor's queue names the order, its tote and what is in it
    headers = _sup(client)
    [exc] = [e for e in client.get("/exceptions").get_json()["exceptions"] if e["order"] == ext]
    assert exc["reason"] == "return_to_stock" and exc["status"] == "open"
    assert exc["details"]["totes"] == [
        {
            "tote": tote,
            "items": [{"sku": got["sku"], "units": got["units"], "location": got["location"]}],
        }
    ]
    assert tote in exc["message"] and got["sku"] in exc["message"]
    page = client.get("/dashboard/exceptions").get_data(as_text=True)
    assert f"/dashboard/orders/{ext}/return-to-stock" in page and "Returned to stock" in page
    dashboard = client.get("/dashboard").get_data(as_text=True)
    assert f'data-api="/orders/{ext}/return-to-stock"' in dashboard
    board = client.get("/dashboard/waves").get_data(as_text=True)
    assert f'action="/dashboard/orders/{ext}/return-to-stock"' in board
    with unit_of_work(sessions) as s:  # until then the tote stays the order's
        assert s.scalar(select(Tote.order_id).where(Tote.code == tote)) is not None

    # a written resolution alone is refused: it would leave stock and tote as they are
    r = client.post(
        f"/exceptions/{exc['id']}/resolve", json={"resolution": "done"}, headers=headers
    )
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "use_return_to_stock"

    r = client.post(f"/orders/{ext}/return-to-stock", json={}, headers=headers)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["changed"] is True and body["units"] == got["units"]
    assert body["totes"] == [tote] and body["exception_ids"] == [exc["id"]]
    assert body["returned"] == [
        {"sku": got["sku"], "location": got["location"], "lot": "", "units": got["units"]}
    ]

    def state(s):
        stock = s.get(Stock, got["stock_id"])
        return {
            "stock": (stock.on_hand, stock.reserved),
            "tote": s.execute(
                select(Tote.order_id, Tote.pick_list_id).where(Tote.code == tote)
            ).one(),
            "exception": s.get(FloorException, exc["id"]).status,
            "audit": s.scalar(select(func.count(AuditEntry.id))),
            "returned": s.scalar(select(func.sum(Reservation.returned))),
        }

    with unit_of_work(sessions) as s:
        after = state(s)
        # on hand back where it was picked; the reservation it had is given back by the cancel
        assert after["stock"] == (got["before"]["on_hand"], got["before"]["reserved"] - 2)
        assert after["tote"] == (None, None)
        assert after["exception"] == ExceptionStatus.resolved
        assert after["returned"] == got["units"]
        resolved = s.get(FloorException, exc["id"])
        assert resolved.resolution == "returned to stock"
        assert resolved.resolved_by_id == supervisor(s).user_id
        entries = s.execute(
            select(AuditEntry.action, AuditEntry.reason, AuditEntry.actor).order_by(AuditEntry.id)
        ).all()
        assert ("stock.adjust", "order_canceled:returned", "sam") in entries
        assert ("order.return_to_stock", "returned to stock", "sam") in entries
        assert ("exception.resolve", "returned to stock", "sam") in entries

    # a retry changes nothing and says so
    again = client.post(f"/orders/{ext}/return-to-stock", json={}, headers=headers)
    assert again.status_code == 200 and again.get_json()["changed"] is False
    assert "already returned" in again.get_json()["message"]
    with unit_of_work(sessions) as s:
        assert state(s) == after

    # the tote is back in the pool: the next cart takes it (free totes go by code)
    with unit_of_work(sessions) as s:
        nxt = _released(s, [("SKU-00030", 1)])
        task = next_task(s, actor_for(s, "pat"))
        assert task is not None
        assert s.scalar(select(Tote.code).where(Tote.order_id == nxt.id)) == tote


def test_pickers_and_packers_are_refused(client, sessions):
    got = _partly_picked(sessions)
    _cancel(client, got["order"])
    for creds in ({"badge": "BADGE-PICKER-1"}, {"username": "paco", "password": "packer-demo"}):
        login(client, **creds)
        headers = {"X-CSRFToken": page_csrf(client, "/login")}
        r = client.post(f"/orders/{got['order']}/return-to-stock", json={}, headers=headers)
        assert r.status_code == 403 and r.get_json()["error"]["code"] == "forbidden"
        client.post("/logout", data={"csrf_token": page_csrf(client, "/login")})
    with unit_of_work(sessions) as s:
        assert s.get(Stock, got["stock_id"]).on_hand == got["before"]["on_hand"] - got["units"]
        assert s.scalar(select(Tote.order_id).where(Tote.code == got["tote"])) is not None


def test_what_is_not_a_canceled_order_with_picked_units_is_refused(client, sessions):
    with unit_of_work(sessions) as s:
        waiting = add_order(s, [("SKU-00030", 1)]).external_id
        nothing_picked = add_order(s, [("SKU-00031", 1)]).external_id
    _cancel(client, nothing_picked)
    headers = _sup(client)

    def code(ext):
        r = client.post(f"/orders/{ext}/return-to-stock", json={}, headers=headers)
        return r.status_code, r.get_json()["error"]["code"]

    assert code(waiting) == (409, "order_not_canceled")
    assert code(nothing_picked) == (409, "nothing_to_return")
    assert code("NO-SUCH-ORDER")[0] == 404
    with unit_of_work(sessions) as s:  # a cancel with nothing picked opens no such exception
        assert not s.scalar(
            select(func.count(FloorException.id)).where(
                FloorException.reason == ExceptionReason.return_to_stock
            )
        )


def test_the_exception_page_form_returns_the_units(client, sessions):
    got = _partly_picked(sessions)
    _cancel(client, got["order"])
    login(client, username="sam", password="supervisor-demo")
    token = page_csrf(client, "/dashboard/exceptions")
    r = client.post(
        f"/dashboard/orders/{got['order']}/return-to-stock",
        data={"csrf_token": token, "next": "/dashboard/exceptions"},
    )
    assert r.status_code == 302 and r.headers["Location"].endswith("/dashboard/exceptions")
    page = client.get("/dashboard/exceptions").get_data(as_text=True)
    assert "returned to stock" in page and "1 tote(s) freed" in page
    order_page = client.get(f"/orders/{got['order']}").get_data(as_text=True)
    assert f"{got['units']} returned to stock" in order_page
    with unit_of_work(sessions) as s:
        assert s.get(Stock, got["stock_id"]).on_hand == got["before"]["on_hand"]
        assert s.scalar(select(Order.status).where(Order.external_id == got["order"])) == (
            "canceled"
        )
        picked = s.scalar(select(func.sum(PickTask.picked_qty)).where(PickTask.sku_id.is_not(None)))
        assert picked == got["units"]  # the pick history stays as it was


def test_two_supervisors_confirming_at_once_return_the_units_once(sessions):
    """PostgreSQL: the second confirmation waits for the first (the order row is locked) and
    then finds nothing left: on hand is raised once, not twice."""
    if sessions.kw["bind"].dialect.name != "postgresql":
        pytest.skip("SQLite: every transaction is the one writer from its first statement")
    got = _partly_picked(sessions)
    with unit_of_work(sessions) as s:
        cancel_order(s, got["order"], Actor("oms:test", Role.admin, None), "customer called")
    answers: list[dict] = []

    def second() -> None:
        with unit_of_work(sessions) as s:
            answers.append(return_to_stock(s, got["order"], supervisor(s)))

    with unit_of_work(sessions) as first:
        answers.append(return_to_stock(first, got["order"], supervisor(first)))
        thread = threading.Thread(target=second)
        thread.start()
        thread.join(0.5)
        assert thread.is_alive()  # waiting for the first transaction's lock
    thread.join(10)
    assert [a["changed"] for a in answers] == [True, False]
    with unit_of_work(sessions) as s:
        assert s.get(Stock, got["stock_id"]).on_hand == got["before"]["on_hand"]

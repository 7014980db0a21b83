"""POST /api/v1/orders/batch: one result per order, each order all-or-nothing on its own."""

from __future__ import annotations

from sqlalchemy import func, select

from core.db import unit_of_work
from floor.site.reservation import available_to_promise
from orders.models import Order, OrderLine
from orders.outbox import OutboxEvent
from tests.factories import counts, order_payload


def test_mixed_batch_answers_each_order_and_writes_only_the_valid_ones(api, sessions):
    assert api.post("/orders", json=order_payload("EXISTING")).status_code == 201
    changed = order_payload("EXISTING")
    changed["notes"] = "different"
    bad = order_payload("BAD-1", carrier="pigeon")
    bad["lines"][0]["quantity"] = -1
    batch = [
        order_payload("B-1"),
        bad,
        order_payload("EXISTING"),
        changed,
        order_payload("B-2"),
        order_payload("B-1"),  # repeated in the same batch, same content
        {**order_payload("B-2"), "notes": "other"},  # repeated, other content
    ]
    r = api.post("/orders/batch", json={"orders": batch})
    assert r.status_code == 200
    body = r.get_json()
    got = [(x["index"], x["external_id"], x["outcome"], x["http_status"]) for x in body["results"]]
    assert got == [
        (0, "B-1", "created", 201),
        (1, "BAD-1", "invalid", 422),
        (2, "EXISTING", "unchanged", 200),
        (3, "EXISTING", "conflict", 409),
        (4, "B-2", "created", 201),
        (5, "B-1", "unchanged", 200),
        (6, "B-2", "conflict", 409),
    ]
    assert {(e["code"], e["field"]) for e in body["results"][1]["errors"]} == {
        ("unsupported_carrier", "carrier"),
        ("invalid_quantity", "lines[0].quantity"),
    }
    assert body["results"][3]["error"]["code"] == "external_id_conflict"
    assert body["results"][5]["status"] == "allocated"
    assert body["summary"] == {"created": 2, "unchanged": 2, "conflict": 2, "invalid": 1}
    with unit_of_work(sessions) as s:
        ids = set(s.scalars(select(Order.external_id)))
        assert ids == {"EXISTING", "B-1", "B-2"}
        assert s.scalar(select(func.count()).select_from(OrderLine)) == 9
    for ext in ("B-1", "B-2"):
        order = api.get(f"/orders/{ext}").get_json()
        assert order["status"] == "allocated" and order["notes"] == ""
        assert all(ln["reserved"] == ln["ordered"] for ln in order["lines"])


def test_batch_orders_compete_for_stock_in_request_order(api, sessions):
    with unit_of_work(sessions) as s:
        avail = available_to_promise(s, ["SKU-00250"])["SKU-00250"]
    first = order_payload(
        "S-1", lines=[{"line_id": "1", "sku": "SKU-00250", "quantity": avail - 1}]
    )
    second = order_payload("S-2", lines=[{"line_id": "1", "sku": "SKU-00250", "quantity": 3}])
    r = api.post("/orders/batch", json=[first, second])  # a bare array is accepted too
    results = r.get_json()["results"]
    assert [x["status"] for x in results] == ["allocated", "short"]
    assert results[1]["missing"] == [
        {"line_id": "1", "sku": "SKU-00250", "ordered": 3, "reserved": 1, "missing": 2}
    ]
    assert api.get("/orders/S-2").get_json()["missing"][0]["missing"] == 2
    with unit_of_work(sessions) as s:
        assert available_to_promise(s, ["SKU-00250"])["SKU-00250"] == 0


def test_batch_events_are_one_received_and_one_outcome_per_order_in_order(api, sessions):
    batch = [order_payload(f"E-{n}") for n in range(5)]
    api.post("/orders/batch", json={"orders": batch})
    with unit_of_work(sessions) as s:
        rows = s.execute(
            select(OutboxEvent.aggregate_id, OutboxEvent.type).order_by(OutboxEvent.id)
        ).all()
    assert rows == [
        (f"E-{n}", kind) for n in range(5) for kind in ("order.received", "order.allocated")
    ]


def test_batch_limits_and_shape(api, sessions):
    before = counts(sessions)
    r = api.post("/orders/batch", json={"orders": [order_payload(f"L-{n}") for n in range(1001)]})
    assert r.status_code == 422
    assert r.get_json()["errors"][0]["code"] == "too_many_orders"
    r = api.post("/orders/batch", json={"order": []})
    assert r.status_code == 422 and r.get_json()["errors"][0]["code"] == "invalid_type"
    r = api.post("/orders/batch", data="[{", content_type="application/json")
    assert r.status_code == 400
    assert counts(sessions) == before
    r = api.post("/orders/batch", json={"orders": []})
    assert r.status_code == 200 and r.get_json()["results"] == []


def test_full_batch_of_1000_is_accepted(api, sessions):
    skus = [f"SKU-{n:05d}" for n in range(1, 241)]
    batch = [
        order_payload(
            f"F-{n}",
            lines=[
                {"line_id": str(k), "sku": skus[(n * 3 + k) % len(skus)], "quantity": 1}
                for k in range(3)
            ],
        )
        for n in range(1000)
    ]
    r = api.post("/orders/batch", json={"orders": batch})
    assert r.get_json()["summary"]["created"] == 1000
    with unit_of_work(sessions) as s:
        assert s.scalar(select(func.count()).select_from(Order)) == 1000
        assert s.scalar(select(func.count()).select_from(OutboxEvent)) == 2000

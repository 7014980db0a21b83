"""GET /api/v1/events (resumable feed, each change once), GET /api/v1/orders (keyset paging,
filters) and GET /api/v1/inventory (available to promise)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import urllib.parse

from jsonschema import Draft202012Validator
from sqlalchemy import func, select

from core.db import unit_of_work
from floor.site.layout import Location, LocationType, Sku
from floor.site.stock import Stock
from orders.outbox import OutboxEvent
from sync.webhooks import encode_body, event_body
from tests.factories import order_payload


def _drain(api, after=None, limit=3):
    seen, cursor = [], after
    while True:
        q = f"/events?limit={limit}" + (f"&after={cursor}" if cursor else "")
        body = api.get(q).get_json()
        seen += body["events"]
        if not body["has_more"]:
            return seen, body["next_cursor"]
        cursor = body["next_cursor"]


def test_event_feed_is_ordered_complete_once_and_resumable(api):
    api.post("/orders/batch", json=[order_payload(f"EV-{n}") for n in range(3)])
    api.post("/orders/EV-1/hold")
    events, cursor = _drain(api)
    got = [(e["order"], e["type"], e["from"], e["to"]) for e in events]
    assert got == [
        ("EV-0", "order.received", None, "received"),
        ("EV-0", "order.allocated", "received", "allocated"),
        ("EV-1", "order.received", None, "received"),
        ("EV-1", "order.allocated", "received", "allocated"),
        ("EV-2", "order.received", None, "received"),
        ("EV-2", "order.allocated", "received", "allocated"),
        ("EV-1", "order.on_hold", "allocated", "on_hold"),
    ]
    assert len({e["event_id"] for e in events}) == 7
    assert [int(e["cursor"]) for e in events] == sorted(int(e["cursor"]) for e in events)
    assert events[-1]["payload"]["status"] == "on_hold"
    dt.datetime.fromisoformat(events[0]["at"])
    # Resume: nothing new yet, then exactly the new changes.
    body = api.get(f"/events?after={cursor}").get_json()
    assert body["events"] == [] and body["next_cursor"] == cursor
    api.post("/orders/EV-1/release")
    api.post("/orders/EV-2/cancel")
    more, _ = _drain(api, after=cursor)
    assert [(e["order"], e["to"]) for e in more] == [("EV-1", "allocated"), ("EV-2", "canceled")]


def test_a_webhook_body_is_exactly_an_item_of_the_feed(api, sessions, spec_checker):
    """One serialiser: the bytes a webhook signs decode to the feed's item, cursor a string in
    both, and both validate against the OpenAPI ``Event`` (the webhook via ``webhooks``)."""
    api.post("/orders/batch", json=[order_payload(f"WH-{n}") for n in range(2)])
    api.post("/orders/WH-1/cancel")
    feed = api.get("/events?limit=1000").get_json()["events"]
    spec = spec_checker.spec
    webhook = spec["webhooks"]["orderEvent"]["post"]["requestBody"]["content"]
    validator = Draft202012Validator(
        {**webhook["application/json"]["schema"], "components": spec["components"]}
    )
    with unit_of_work(sessions) as s:
        rows = s.scalars(select(OutboxEvent).order_by(OutboxEvent.id)).all()
        bodies = [json.loads(encode_body(event_body(ev))) for ev in rows]
    assert bodies == feed and len(feed) == 5
    for body in bodies:
        assert isinstance(body["cursor"], str)
        validator.validate(body)


def test_event_feed_rejects_bad_cursor_and_limit(api):
    for q in ("after=abc", "after=-1", "limit=0", "limit=5000", "limit=x"):
        r = api.get(f"/events?{q}")
        assert r.status_code == 422, q
        assert r.get_json()["errors"][0]["code"] in ("invalid_cursor", "invalid_limit")


def test_orders_list_pages_through_every_order_once(api):
    api.post("/orders/batch", json=[order_payload(f"P-{n}") for n in range(7)])
    seen, cursor = [], None
    while True:
        q = "/orders?limit=3" + (f"&cursor={cursor}" if cursor else "")
        body = api.get(q).get_json()
        seen += [o["external_id"] for o in body["orders"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(f"P-{n}" for n in range(7)) and len(seen) == 7
    # An order changed after it was paged past comes round again at the end.
    api.post("/orders/P-0/hold")
    body = api.get("/orders?limit=100").get_json()
    assert body["orders"][-1]["external_id"] == "P-0"
    assert body["orders"][-1]["lines"][0]["sku"] == "SKU-00001"


def test_orders_list_filters_by_status_and_updated_since(api):
    api.post("/orders/batch", json=[order_payload(f"Q-{n}") for n in range(4)])
    api.post("/orders/Q-1/hold")
    api.post("/orders/Q-2/cancel")
    held = api.get("/orders?status=on_hold").get_json()["orders"]
    assert [o["external_id"] for o in held] == ["Q-1"]
    both = api.get("/orders?status=on_hold,canceled").get_json()["orders"]
    assert {o["external_id"] for o in both} == {"Q-1", "Q-2"}
    since = api.get("/orders/Q-2").get_json()["updated_at"]
    recent = api.get("/orders?updated_since=" + urllib.parse.quote(since)).get_json()["orders"]
    assert [o["external_id"] for o in recent] == ["Q-2"]
    future = "2999-01-01T00:00:00Z"
    assert api.get(f"/orders?updated_since={future}").get_json()["orders"] == []


def test_orders_list_rejects_bad_parameters(api):
    for q, code in (
        ("status=lost", "invalid_status"),
        ("updated_since=yesterday", "invalid_datetime"),
        ("updated_since=2026-01-01T00:00:00", "invalid_datetime"),
        ("limit=0", "invalid_limit"),
        ("limit=501", "invalid_limit"),
        ("cursor=not-a-cursor", "invalid_cursor"),
    ):
        r = api.get(f"/orders?{q}")
        assert r.status_code == 422, q
        assert r.get_json()["errors"][0]["code"] == code


def test_inventory_is_on_hand_minus_reserved(api, sessions):
    def on_hand_minus_reserved(code):
        with unit_of_work(sessions) as s:
            return s.scalar(
                select(func.sum(Stock.on_hand - Stock.reserved))
                .join(Sku)
                .join(Location)
                .where(
                    Sku.code == code,
                    Location.type.in_([LocationType.pick_face, LocationType.reserve]),
                )
            )

    everything = api.get("/inventory").get_json()["inventory"]
    assert len(everything) == 300
    start = {row["sku"]: row["available"] for row in everything}
    assert start["SKU-00001"] == on_hand_minus_reserved("SKU-00001")
    api.post("/orders", json=order_payload("INV-1"))  # 2 x SKU-00001, 1 x SKU-00002
    body = api.get("/inventory?sku=SKU-00001&sku=SKU-00002,NOPE").get_json()
    assert body["inventory"] == [
        {"sku": "SKU-00001", "available": start["SKU-00001"] - 2},
        {"sku": "SKU-00002", "available": start["SKU-00002"] - 1},
    ]
    assert body["unknown_skus"] == ["NOPE"]
    api.post("/orders/INV-1/cancel")
    body = api.get("/inventory?sku=SKU-00001").get_json()
    assert body["inventory"] == [{"sku": "SKU-00001", "available": start["SKU-00001"]}]


def test_orders_list_refuses_forged_cursors(api):
    def forged(raw: str) -> str:
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    for raw in (
        '["2026-01-01T00:00:00+00:00", 9223372036854775808]',  # past 64 bits
        '["2026-01-01T00:00:00+00:00", -99999999999999999999]',
        "[" * 3000 + "]" * 3000,  # past the JSON decoder's nesting limit
    ):
        r = api.get(f"/orders?cursor={forged(raw)}")
        assert r.status_code == 422, raw[:40]
        assert r.get_json()["errors"][0]["code"] == "invalid_cursor"


def test_event_feed_refuses_a_cursor_from_beyond_its_last_event(api):
    """A cursor this feed never gave out - the OMS kept it from before the floor's database was
    restored from a backup, or rebuilt - was taken and echoed back as ``next_cursor``: every
    event up to it was skipped without a word. It is refused, so the OMS knows to resync."""
    api.post("/orders", json=order_payload("FUT-1"))
    events, cursor = _drain(api, limit=1000)
    last = int(cursor)
    assert api.get(f"/events?after={last}").get_json()["events"] == []  # caught up: fine
    for after in (last + 1, last + 500_000):
        r = api.get(f"/events?after={after}")
        assert r.status_code == 422, r.get_json()
        [error] = r.get_json()["errors"]
        assert (error["code"], error["field"]) == ("invalid_cursor", "after")
        assert "beyond the last event" in error["message"]
    api.post("/orders", json=order_payload("FUT-2"))
    body = api.get(f"/events?after={last}").get_json()
    assert [e["order"] for e in body["events"]] == ["FUT-2", "FUT-2"]


def test_event_feed_of_an_empty_database_accepts_only_the_start(api):
    assert api.get("/events").get_json() == {"events": [], "next_cursor": "0", "has_more": False}
    assert api.get("/events?after=0").status_code == 200
    assert api.get("/events?after=7").status_code == 422

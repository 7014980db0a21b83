"""POST /api/v1/orders: created, idempotent, conflicting, invalid (every problem listed),
malformed, too large, wrong media type, unauthorized; reserved at locations or short."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select

from core.actors import Actor
from core.db import unit_of_work
from core.exception_queue import FloorException
from floor.site.layout import Location, LocationType, Sku
from floor.site.reservation import available_to_promise
from floor.site.stock import Reservation, Stock
from orders.models import Order
from orders.outbox import OutboxEvent
from orders.service import create_orders
from tests.api.conftest import ApiClient
from tests.factories import counts, make_test_app, order_payload
from web.demo import DEMO_API_KEY


def test_created_order_is_reserved_and_answered_as_get_shows_it(api, sessions):
    with unit_of_work(sessions) as s:
        before = available_to_promise(s, ["SKU-00001"])["SKU-00001"]
    r = api.post("/orders", json=order_payload("OMS-100"))
    assert r.status_code == 201
    body = r.get_json()
    assert body == api.get("/orders/OMS-100").get_json()
    assert body["status"] == "allocated"
    assert [(ln["line_id"], ln["sku"], ln["ordered"], ln["reserved"]) for ln in body["lines"]] == [
        ("1", "SKU-00001", 2, 2),
        ("2", "SKU-00002", 1, 1),
        ("3", "SKU-00003", 3, 3),
    ]
    assert set(body["status_times"]) == {"received", "allocated"}
    assert body["ship_to"]["country"] == "GB" and body["service"] == "ground"
    with unit_of_work(sessions) as s:
        assert available_to_promise(s, ["SKU-00001"])["SKU-00001"] == before - 2
        # Reserved at pick-face locations first.
        kinds = s.execute(
            select(Location.type)
            .join(Stock, Stock.location_id == Location.id)
            .join(Reservation, Reservation.stock_id == Stock.id)
        ).scalars()
        assert set(kinds) == {LocationType.pick_face}
        events = s.execute(
            select(OutboxEvent.type, OutboxEvent.from_state, OutboxEvent.to_state)
            .where(OutboxEvent.aggregate_id == "OMS-100")
            .order_by(OutboxEvent.id)
        ).all()
        assert events == [
            ("order.received", None, "received"),
            ("order.allocated", "received", "allocated"),
        ]


def test_same_order_again_is_200_with_the_same_order_and_nothing_new(api, sessions):
    first = api.post("/orders", json=order_payload("OMS-101"))
    assert first.status_code == 201
    before = counts(sessions)
    again = api.post("/orders", json=order_payload("OMS-101"))
    assert again.status_code == 200
    assert again.get_json() == first.get_json()
    assert counts(sessions) == before


def test_same_content_written_differently_is_still_the_same_order(api, sessions):
    assert api.post("/orders", json=order_payload("OMS-102")).status_code == 201
    before = counts(sessions)
    variant = order_payload("OMS-102")
    variant["lines"] = list(reversed(variant["lines"]))  # line order does not matter
    variant["ship_to"] = {**variant["ship_to"], "country": "gb", "city": "  London "}
    variant["carrier"] = "UPS"
    variant["ship_by"] = (
        dt.datetime.fromisoformat(variant["ship_by"]).astimezone(dt.timezone(dt.timedelta(hours=2)))
    ).isoformat()  # same instant, another offset
    variant["priority"] = None  # the default, spelled as null
    variant["line_ids_are_ignored_extra"] = True  # unknown fields are ignored
    r = api.post("/orders", json=variant)
    assert r.status_code == 200
    assert counts(sessions) == before


def test_same_external_id_with_other_content_is_409_and_changes_nothing(api, sessions):
    assert api.post("/orders", json=order_payload("OMS-103")).status_code == 201
    before = counts(sessions)
    changed = order_payload("OMS-103")
    changed["lines"][0]["quantity"] = 5
    r = api.post("/orders", json=changed)
    assert r.status_code == 409
    assert r.get_json()["error"]["code"] == "external_id_conflict"
    assert counts(sessions) == before
    assert api.get("/orders/OMS-103").get_json()["lines"][0]["ordered"] == 2


def test_invalid_order_lists_every_problem_with_stable_codes_and_writes_nothing(api, sessions):
    before = counts(sessions)
    bad = order_payload(
        "OMS/104",
        priority="urgent",
        ship_by="2001-01-01T00:00:00+00:00",
        carrier="pigeon",
        channel=42,
        notes="x" * 5000,
    )
    bad["ship_to"] = {
        "name": "",
        "address1": "1 Road",
        "city": "Paris",
        "country": "XX",
        "postal_code": "75001",
        "email": "not-an-email",
    }
    bad["lines"] = [
        {"line_id": "1", "sku": "SKU-00001", "quantity": 0},
        {"line_id": "1", "sku": "NO-SUCH-SKU", "quantity": 1},
        {"line_id": "3", "sku": "SKU-00002", "quantity": "2"},
        {"line_id": "4", "sku": "SKU-00002", "quantity": 1.5},
        {"line_id": "5", "quantity": 1},
        "not a line",
    ]
    r = api.post("/orders", json=bad)
    assert r.status_code == 422
    got = {(e["code"], e["field"]) for e in r.get_json()["errors"]}
    assert got == {
        ("invalid_external_id", "external_id"),
        ("invalid_type", "channel"),
        ("invalid_priority", "priority"),
        ("unsupported_carrier", "carrier"),
        ("missing_field", "ship_to.name"),
        ("invalid_country", "ship_to.country"),
        ("invalid_email", "ship_to.email"),
        ("invalid_quantity", "lines[0].quantity"),
        ("duplicate_line", "lines[1].line_id"),
        ("invalid_quantity", "lines[2].quantity"),
        ("invalid_quantity", "lines[3].quantity"),
        ("missing_field", "lines[4].sku"),
        ("invalid_type", "lines[5]"),
        ("too_long", "notes"),
        ("ship_by_in_past", "ship_by"),
        ("unknown_sku", "lines[1].sku"),
    }
    assert all(e["message"] for e in r.get_json()["errors"])
    assert counts(sessions) == before


def test_more_reason_codes(api):
    def codes(payload):
        r = api.post("/orders", json=payload)
        assert r.status_code == 422
        return {(e["code"], e["field"]) for e in r.get_json()["errors"]}

    assert codes(order_payload("X", ship_by="tomorrow")) == {("invalid_datetime", "ship_by")}
    assert codes(order_payload("X", ship_by="2030-01-01T10:00:00")) == {
        ("invalid_datetime", "ship_by")  # no offset
    }
    assert codes(order_payload("X", service="teleport")) == {("unsupported_service", "service")}
    assert codes(order_payload("X", lines=[])) == {("invalid_lines", "lines")}
    assert codes(order_payload("X", lines={"sku": "SKU-00001"})) == {("invalid_type", "lines")}
    many = [{"line_id": str(n), "sku": "SKU-00001", "quantity": 1} for n in range(1001)]
    assert codes(order_payload("X", lines=many)) == {("too_many_lines", "lines")}
    assert codes(order_payload("x" * 101)) == {("too_long", "external_id")}
    no_id = order_payload()
    del no_id["external_id"], no_id["ship_to"]
    assert codes(no_id) == {("missing_field", "external_id"), ("missing_field", "ship_to")}
    r = api.post("/orders", json=["not", "an", "object"])
    assert r.status_code == 422 and r.get_json()["errors"][0]["code"] == "invalid_type"


def test_postal_code_is_optional_only_where_a_country_has_none(api):
    hk = order_payload("OMS-HK")
    hk["ship_to"] = {**hk["ship_to"], "country": "HK", "postal_code": ""}
    assert api.post("/orders", json=hk).status_code == 201
    de = order_payload("OMS-DE")
    de["ship_to"] = {**de["ship_to"], "country": "DE", "postal_code": ""}
    r = api.post("/orders", json=de)
    assert r.status_code == 422
    assert r.get_json()["errors"] == [
        {
            "code": "missing_field",
            "field": "ship_to.postal_code",
            "message": "ship_to.postal_code is required",
        }
    ]


def test_every_iso_country_is_accepted(api):
    import pycountry

    sample = ["AX", "BQ", "CW", "SS", "XK" if pycountry.countries.get(alpha_2="XK") else "ZW"]
    for n, code in enumerate(sample):
        p = order_payload(f"OMS-C{n}")
        p["ship_to"] = {**p["ship_to"], "country": code}
        assert api.post("/orders", json=p).status_code == 201, code


def test_insufficient_stock_makes_the_order_short_with_missing_quantities(api, sessions):
    with unit_of_work(sessions) as s:
        avail = available_to_promise(s, ["SKU-00005"])["SKU-00005"]
    p = order_payload(
        "OMS-SHORT",
        lines=[
            {"line_id": "a", "sku": "SKU-00005", "quantity": avail + 4},
            {"line_id": "b", "sku": "SKU-00006", "quantity": 1},
        ],
    )
    r = api.post("/orders", json=p)
    assert r.status_code == 201
    body = r.get_json()
    assert body["status"] == "short"
    assert body["missing"] == [
        {"line_id": "a", "sku": "SKU-00005", "ordered": avail + 4, "reserved": avail, "missing": 4}
    ]
    with unit_of_work(sessions) as s:
        exc = s.scalars(select(FloorException)).one()  # the supervisor sees it
        assert exc.reason == "short_allocation" and "SKU-00005 missing 4" in exc.message
        assert available_to_promise(s, ["SKU-00005"])["SKU-00005"] == 0


def test_a_retry_after_ship_by_has_passed_is_still_200(api, sessions):
    payload = order_payload("OMS-OLD", ship_by="2026-01-02T10:00:00+00:00")
    with unit_of_work(sessions) as s:
        [res] = create_orders(
            s, [payload], Actor.oms("t"), now=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        )
        assert res.outcome == "created"
    assert api.post("/orders", json=payload).status_code == 200


def test_malformed_json_is_400(api, sessions):
    before = counts(sessions)
    for raw in ("{bad", '{"external_id": NaN}', "", "\xff"):
        r = api.post("/orders", data=raw, headers={"Content-Type": "application/json"})
        assert r.status_code == 400, raw
        assert r.get_json()["error"]["code"] == "malformed_json"
    assert counts(sessions) == before


def test_non_json_content_type_is_415(api):
    r = api.post("/orders", data="external_id=1", content_type="application/x-www-form-urlencoded")
    assert r.status_code == 415
    assert r.get_json()["error"]["code"] == "unsupported_media_type"


def test_body_over_the_limit_is_413(db_url):
    app = make_test_app(db_url, max_body_bytes=2000)
    try:
        client = app.test_client()
        big = order_payload("OMS-BIG", notes="n" * 3000)
        r = client.post(
            "/api/v1/orders", json=big, headers={"Authorization": f"Bearer {DEMO_API_KEY}"}
        )
        assert r.status_code == 413
        assert r.get_json()["error"]["code"] == "payload_too_large"
        with unit_of_work(app.extensions["floor"].sessions) as s:
            assert s.scalar(select(Order.id)) is None
    finally:
        app.extensions["floor"].engine.dispose()


def test_without_a_valid_key_is_401_and_the_key_is_never_logged(app, spec_checker, caplog):
    caplog.set_level(logging.DEBUG)
    secret = "wrong-key-that-must-not-appear-anywhere"
    for headers in (
        {},
        {"Authorization": f"Bearer {secret}"},
        {"Authorization": f"Basic {secret}"},
        {"Authorization": "Bearer "},
    ):
        client = ApiClient(app, spec_checker, headers=headers)
        for method, path in (
            ("GET", "/orders"),
            ("POST", "/orders"),
            ("GET", "/events"),
            ("GET", "/inventory"),
            ("GET", "/orders/X"),
        ):
            r = client.request(method, path, json=order_payload())
            assert r.status_code == 401
            assert r.get_json()["error"]["code"] == "unauthorized"
            assert r.headers["WWW-Authenticate"].startswith("Bearer")
    good = ApiClient(app, spec_checker)
    assert good.get("/orders").status_code == 200
    assert secret not in caplog.text and DEMO_API_KEY not in caplog.text


def test_configured_env_key_is_accepted(db_url):
    app = make_test_app(db_url, oms_api_key="env-key-123")
    try:
        r = app.test_client().get(
            "/api/v1/inventory", headers={"Authorization": "Bearer env-key-123"}
        )
        assert r.status_code == 200
    finally:
        app.extensions["floor"].engine.dispose()


def test_unknown_api_paths_and_methods_answer_json(api):
    r = api.get("/nothing-here")
    assert r.status_code == 404 and r.get_json()["error"]["code"] == "not_found"
    r = api.request("DELETE", "/orders")
    assert r.status_code == 405 and r.get_json()["error"]["code"] == "method_not_allowed"
    assert r.headers["Allow"] == "GET, POST"
    r = api.get("/orders/NOPE")
    assert r.status_code == 404 and r.get_json()["error"]["code"] == "not_found"


def test_inactive_sku_is_unknown(api, sessions):
    with unit_of_work(sessions) as s:
        s.scalars(select(Sku).where(Sku.code == "SKU-00009")).one().active = False
    r = api.post(
        "/orders",
        json=order_payload(
            "OMS-INACT", lines=[{"line_id": "1", "sku": "SKU-00009", "quantity": 1}]
        ),
    )
    assert r.status_code == 422 and r.get_json()["errors"][0]["code"] == "unknown_sku"


def test_unstorable_characters_are_refused_not_500(api, sessions):
    before = counts(sessions)
    r = api.post("/orders", json=order_payload("NUL\x00", notes="\ud800"))
    assert r.status_code == 422
    assert {(e["code"], e["field"]) for e in r.get_json()["errors"]} == {
        ("invalid_characters", "external_id"),
        ("invalid_characters", "notes"),
    }
    assert api.get("/orders/A%00B").status_code == 404
    assert api.post("/orders/A%00B/cancel").status_code == 404
    body = api.get("/inventory?sku=SKU%00X").get_json()
    assert body == {**body, "inventory": [], "unknown_skus": ["SKU\x00X"]}
    assert counts(sessions) == before

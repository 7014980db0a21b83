"""Property: whatever the OMS throws at POST /orders and /orders/batch — random JSON, mutated
orders, broken bytes — the server never answers 500 and never half-writes an order."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from core.db import unit_of_work
from floor.site.stock import Reservation, Stock
from orders.models import Order, OrderLine
from orders.outbox import OutboxEvent
from tests.factories import OMS_AUTH, counts, make_test_app, order_payload

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**12), max_value=10**12)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
ORDER_KEYS = list(order_payload()) + ["bogus"]
SHIP_TO_KEYS = list(order_payload()["ship_to"])
LINE_KEYS = ["line_id", "sku", "quantity"]
EXT_IDS = (
    st.sampled_from(["P-1", "P-2", 7, "", "a/b"])
    | st.text("ABCDEF-0123456789", min_size=1, max_size=12)
    | st.uuids().map(str)
)
interesting = st.sampled_from(
    [
        "SKU-00001",
        "SKU-00300",
        "NOPE",
        "",
        "US",
        "gb",
        "XX",
        "ups",
        "UPS",
        "fedex",
        "dhl",
        "2001-01-01T00:00:00Z",
        "2099-01-01T00:00:00+05:00",
        "2099-13-01",
        "standard",
        "express",
        "ground",
        0,
        1,
        3,
        -1,
        10**9,
        2.0,
        2.5,
        "3",
        True,
        "SKU\x00",
        "\ud800",
        "x\x00y",
    ]
)
value = interesting | json_values


@st.composite
def mutated_orders(draw: Any) -> Any:
    order = copy.deepcopy(order_payload(draw(EXT_IDS)))
    order["lines"] = [
        {
            "line_id": str(n),
            "sku": draw(st.sampled_from(["SKU-00001", "SKU-00150", "SKU-00299"])),
            "quantity": draw(st.integers(1, 400)),
        }
        for n in range(draw(st.integers(1, 4)))
    ]
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 1, 2, 4]))):
        where = draw(st.sampled_from(["order", "ship_to", "line", "lines"]))
        if where == "order":
            key = draw(st.sampled_from(ORDER_KEYS))
            if draw(st.booleans()):
                order.pop(key, None)
            else:
                order[key] = draw(value)
        elif where == "ship_to" and isinstance(order.get("ship_to"), dict):
            order["ship_to"][draw(st.sampled_from(SHIP_TO_KEYS))] = draw(value)
        elif where == "line" and isinstance(order.get("lines"), list) and order["lines"]:
            line = draw(st.sampled_from(order["lines"]))
            if isinstance(line, dict):
                line[draw(st.sampled_from(LINE_KEYS))] = draw(value)
        elif where == "lines" and isinstance(order.get("lines"), list):
            order["lines"].append(draw(value))
    return order


bodies = st.one_of(
    mutated_orders().map(lambda o: ("json", "/orders", o)),
    st.lists(mutated_orders() | json_values, max_size=5).map(
        lambda os: ("json", "/orders/batch", {"orders": os})
    ),
    json_values.map(lambda v: ("json", "/orders", v)),
    st.binary(max_size=60).map(lambda b: ("raw", "/orders", b)),
    st.text(max_size=60).map(lambda t: ("raw", "/orders/batch", t.encode())),
)


def _consistent(sessions: Any) -> None:
    """No half-written order: lines, events and reservations all match, stock adds up."""
    with unit_of_work(sessions) as s:
        lineless = s.scalar(select(func.count()).where(~Order.lines.any()))
        assert lineless == 0
        received = s.scalar(select(func.count()).where(OutboxEvent.type == "order.received"))
        assert received == s.scalar(select(func.count()).select_from(Order))
        mismatched = s.execute(
            select(OrderLine.id)
            .outerjoin(Reservation, Reservation.order_line_id == OrderLine.id)
            .group_by(OrderLine.id, OrderLine.reserved_qty)
            .having(func.coalesce(func.sum(Reservation.quantity), 0) != OrderLine.reserved_qty)
        ).all()
        assert mismatched == []
        held = s.scalar(
            select(func.coalesce(func.sum(Reservation.quantity), 0)).where(
                Reservation.released.is_(False)
            )
        )
        assert held == s.scalar(select(func.coalesce(func.sum(Stock.reserved), 0)))


def test_random_payloads_never_500_and_never_half_write(db_url):
    app = make_test_app(db_url, max_body_bytes=4096)
    sessions = app.extensions["floor"].sessions
    client = app.test_client()

    @settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
    @given(bodies)
    def check(body: tuple[str, str, Any]) -> None:
        kind, path, data = body
        before = counts(sessions)
        raw = json.dumps(data).encode() if kind == "json" else data
        r = client.post(
            "/api/v1" + path, data=raw, headers={**OMS_AUTH, "Content-Type": "application/json"}
        )
        assert r.status_code in (200, 201, 400, 409, 413, 422), r.get_data(as_text=True)
        assert r.mimetype == "application/json"
        event(f"{path} {r.status_code}")
        after = counts(sessions)
        if r.status_code == 201:
            lines = len(data["lines"])
            assert after["orders"] == before["orders"] + 1
            assert after["order_lines"] == before["order_lines"] + lines
            assert after["outbox_events"] == before["outbox_events"] + 2
        elif path == "/orders" or r.status_code != 200:
            assert after == before
        else:
            created = r.get_json()["summary"]["created"]
            assert after["orders"] == before["orders"] + created
        _consistent(sessions)

    try:
        check()
    finally:
        app.extensions["floor"].engine.dispose()

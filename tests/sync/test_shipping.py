"""Pack → ship → delivered through the real services: SSCCs, the shipment confirmation an OMS
needs to close the order, the demo carrier, the HTTP carrier against a local sandbox."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from biip import parse
from sqlalchemy import select

from core.db import unit_of_work, utcnow
from core.settings import Settings
from floor.fulfilment.models import Package
from floor.fulfilment.packing.packages import (
    PackError,
    PackSpec,
    is_valid_sscc,
    make_sscc,
    pack_order,
)
from floor.fulfilment.packing.shipping import ShipError, mark_delivered, ship_order
from floor.fulfilment.states import PackageStatus
from orders.outbox import OutboxEvent
from orders.states import OrderStatus
from sync.carriers import CarrierError, DemoCarrier, HttpCarrier, carrier_for
from sync.carriers.demo import is_valid_tracking, luhn_digit
from sync.tracking import poll_tracking
from tests.factories import SYSTEM, AnsweringCarrier, RawHttpServer, add_order, walk_to_picked

TWO_CARTONS = [
    PackSpec({"1": 2}, weight_g=1250, length_mm=300, width_mm=200, height_mm=150),
    PackSpec({"2": 1}, weight_g=480, length_mm=200, width_mm=150, height_mm=100),
]


def picked_order(sessions, external_id="SO-1", **kw):
    with unit_of_work(sessions) as s:
        order = add_order(s, external_id=external_id, **kw)
        walk_to_picked(s, order)
        return order.id


def load(s, order_id):
    from orders.models import Order

    return s.get(Order, order_id)


def test_sscc_is_18_digits_with_gs1_check_digit_and_parses_as_gs1():
    code = make_sscc(12345, "0614141", 0)
    assert code == "006141410000123452"
    assert is_valid_sscc(code) and not is_valid_sscc(code[:-1] + "3")
    assert parse(f"00{code}").gs1_message.element_strings[0].sscc is not None
    assert len(make_sscc(7, "1234567890", 9)) == 18
    with pytest.raises(ValueError):
        make_sscc(10**9, "0614141")


def test_pack_validates_quantities_and_changes_nothing_on_error(sessions):
    oid = picked_order(sessions)
    with unit_of_work(sessions) as s:
        order = load(s, oid)
        with pytest.raises(PackError) as err:
            pack_order(
                s,
                order,
                [PackSpec({"1": 3}, weight_g=0), PackSpec({"9": 1}, weight_g=10)],
                "PACK-01",
                SYSTEM,
            )
        codes = {e.code for e in err.value.errors}
        assert codes == {"over_packed", "invalid_weight", "unknown_line"}
        assert err.value.http_status == 422 and err.value.code == "invalid_weight"
        assert {e["field"] for e in err.value.to_json()["errors"]} == {
            "items.1",
            "packages[0].weight_g",
            "packages[1].items.9",
        }
        with pytest.raises(PackError) as err:
            pack_order(s, order, TWO_CARTONS, "A-01-A-1", SYSTEM)
        assert err.value.errors[0].code == "unknown_station"
        assert s.scalars(select(Package)).all() == []
        assert order.status == OrderStatus.picked


def test_partial_pack_keeps_the_order_picked_until_everything_is_packed(sessions):
    oid = picked_order(sessions)
    with unit_of_work(sessions) as s:
        order = load(s, oid)
        [first] = pack_order(s, order, TWO_CARTONS[:1], "PACK-01", SYSTEM)
        assert order.status == OrderStatus.picked and is_valid_sscc(first.sscc)
        pack_order(s, order, TWO_CARTONS[1:], "PACK-02", SYSTEM)
        assert order.status == OrderStatus.packed
        assert [line.packed_qty for line in order.lines] == [2, 1]


def test_ship_with_demo_carrier_confirms_lines_and_packages_then_delivered(sessions):
    oid = picked_order(sessions)
    carrier = DemoCarrier("demo", delivery_after=dt.timedelta(0))
    with unit_of_work(sessions) as s:
        order = load(s, oid)
        packages = pack_order(s, order, TWO_CARTONS, "PACK-01", SYSTEM)
        result = ship_order(s, order, carrier, SYSTEM)
        ssccs = [p.sscc for p in packages]
    assert set(result.labels) == set(ssccs)
    # The demo carrier makes no label of its own: printing/ builds it (marked "demo").
    assert all(label.format == "demo" and label.data == b"" for label in result.labels.values())
    with unit_of_work(sessions) as s:
        order = load(s, oid)
        assert order.status == OrderStatus.shipped
        event = s.scalars(select(OutboxEvent).where(OutboxEvent.type == "order.shipped")).one()
        body = event.payload
        assert body["carrier"] == "demo" and body["service"] == "ground"
        assert dt.datetime.fromisoformat(body["shipped_at"]).tzinfo is not None
        assert [(x["line_id"], x["sku"], x["ordered"], x["shipped"]) for x in body["lines"]] == [
            ("1", "SKU-00001", 2, 2),
            ("2", "SKU-00002", 1, 1),
        ]
        pk = body["packages"]
        assert [p["sscc"] for p in pk] == ssccs
        assert all(is_valid_tracking(p["tracking_number"]) for p in pk)
        assert pk[0]["weight_g"] == 1250
        assert (pk[0]["length_mm"], pk[0]["width_mm"], pk[0]["height_mm"]) == (300, 200, 150)
        assert pk[0]["items"] == [{"line_id": "1", "sku": "SKU-00001", "quantity": 2}]
        assert all(p.status == PackageStatus.shipped for p in s.scalars(select(Package)))

    stats = poll_tracking(sessions, lambda name: carrier)
    assert stats.polled == 2 and stats.delivered_packages == 2 and stats.delivered_orders == 1
    with unit_of_work(sessions) as s:
        assert load(s, oid).status == OrderStatus.delivered
        delivered = s.scalars(
            select(OutboxEvent).where(OutboxEvent.type == "order.delivered")
        ).one()
        assert {p["sscc"] for p in delivered.payload["packages"]} == set(ssccs)
    assert poll_tracking(sessions, lambda name: carrier).polled == 0


def test_ship_refuses_an_order_that_is_not_packed(sessions):
    oid = picked_order(sessions)
    with unit_of_work(sessions) as s, pytest.raises(ShipError) as err:
        ship_order(s, load(s, oid), DemoCarrier(), SYSTEM)
    assert err.value.code == "wrong_status"


def test_demo_tracking_numbers_have_a_luhn_check_digit_and_deliver_later():
    assert luhn_digit("7992739871") == "3"  # the textbook Luhn example
    carrier = DemoCarrier(delivery_after=dt.timedelta(minutes=2))
    number = "DM" + "00614141000001234" + luhn_digit("00614141000001234")
    assert is_valid_tracking(number) and not is_valid_tracking(number[:-1] + "0")
    assert carrier.tracking_status(number, shipped_at=utcnow()).status == "in_transit"
    old = utcnow() - dt.timedelta(minutes=3)
    done = carrier.tracking_status(number, shipped_at=old)
    assert done.delivered and done.delivered_at == old + dt.timedelta(minutes=2)
    with pytest.raises(CarrierError):
        carrier.tracking_status("1Z999")


def test_http_carrier_against_the_sandbox(sessions, carrier_sandbox):
    settings = Settings(carrier_urls=f"acme={carrier_sandbox.url}", carrier_api_key="carrier-key")
    carrier = carrier_for("acme", settings)
    assert isinstance(carrier, HttpCarrier)
    assert isinstance(carrier_for("demo", settings), DemoCarrier)
    oid = picked_order(sessions, carrier="acme", service="express")
    with unit_of_work(sessions) as s:
        order = load(s, oid)
        packages = pack_order(s, order, TWO_CARTONS, "PACK-01", SYSTEM)
        # A retry after a failure does not buy a second label: idempotent by SSCC.
        first = carrier.create_shipment(packages[0], order)
        result = ship_order(s, order, carrier, SYSTEM)
        tracking = [p.tracking_number for p in packages]
    assert tracking[0] == first.tracking_number and len(carrier_sandbox.shipments) == 2
    assert carrier_sandbox.shipments[tracking[0]]["package"]["weight_g"] == 1250
    assert result.labels[packages[0].sscc].data.startswith(b"^XA")
    assert result.confirmation["carrier"] == "acme" and result.confirmation["service"] == "express"

    assert poll_tracking(sessions, lambda n: carrier).delivered_packages == 0
    carrier_sandbox.deliver(tracking[0])
    stats = poll_tracking(sessions, lambda n: carrier)
    assert (stats.delivered_packages, stats.delivered_orders) == (1, 0)
    carrier_sandbox.deliver(tracking[1])
    assert poll_tracking(sessions, lambda n: carrier).delivered_orders == 1
    with unit_of_work(sessions) as s:
        assert load(s, oid).status == OrderStatus.delivered

    bad = HttpCarrier("acme", carrier_sandbox.url, api_key="wrong")
    with pytest.raises(CarrierError) as err:
        bad.tracking_status(tracking[0])
    assert err.value.code == "unauthorised" and not err.value.retryable
    url = carrier_sandbox.url
    carrier_sandbox.stop()
    with pytest.raises(CarrierError) as err:
        HttpCarrier("acme", url, timeout_s=1).tracking_status(tracking[0])
    assert err.value.code == "carrier_unreachable" and err.value.retryable


def test_mark_delivered_is_idempotent(sessions):
    oid = picked_order(sessions)
    with unit_of_work(sessions) as s:
        order = load(s, oid)
        [pkg] = pack_order(s, order, [PackSpec({"1": 2, "2": 1}, weight_g=900)], "PACK-01", SYSTEM)
        ship_order(s, order, DemoCarrier(), SYSTEM)
        assert mark_delivered(s, pkg, utcnow(), SYSTEM) is True
        assert mark_delivered(s, pkg, utcnow(), SYSTEM) is False
        assert order.status == OrderStatus.delivered


@pytest.mark.parametrize("delivered_at", [b'"yesterday"', b"1764500000", b'{"at": 1}'])
def test_a_tracking_answer_with_an_unreadable_delivery_time_is_an_error_not_a_crash(
    sessions, delivered_at
):
    """A carrier's ``delivered_at`` that is no ISO 8601 time raised ValueError / TypeError out
    of ``poll_tracking``: the scheduled poll died at that package, every poll, and no package
    after it was ever reported delivered. It is now a carrier error for that package only."""
    oid = picked_order(sessions)
    with unit_of_work(sessions) as s:
        order = load(s, oid)
        pack_order(s, order, TWO_CARTONS, "PACK-01", SYSTEM)
        ship_order(s, order, DemoCarrier("demo"), SYSTEM)
    answer = b'{"status": "delivered", "delivered_at": ' + delivered_at + b"}"
    with AnsweringCarrier(200, answer) as server:
        carrier = HttpCarrier("demo", server.url, timeout_s=2)
        with pytest.raises(CarrierError) as err:
            carrier.tracking_status("DM1")
        assert err.value.code == "bad_carrier_answer" and "delivered_at" in err.value.message
        stats = poll_tracking(sessions, lambda name: carrier)
    assert (stats.polled, stats.errors, stats.delivered_packages) == (2, 2, 0)
    with unit_of_work(sessions) as s:
        assert load(s, oid).status == OrderStatus.shipped


def _trickled(conn):
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
    for byte in b"X-Slow: " + b"a" * 40 + b"\r\n\r\n" + b'{"status": "in_transit"}':
        conn.sendall(bytes([byte]))
        time.sleep(0.2)  # every read well inside the time-out, the whole far beyond it


def _endless(conn):
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n")
    for _ in range(4096):
        conn.sendall(b" " * 65536)


def test_a_carrier_that_trickles_its_answer_is_cut_off_at_the_time_out():
    """A pack station's close waits on the carrier (holding its locks; on SQLite the floor's
    one writer lock): an answer trickled a byte at a time held it ~15 s with a 1 s time-out."""
    carrier = RawHttpServer(_trickled, "/api")
    try:
        started = time.monotonic()
        with pytest.raises(CarrierError) as err:
            HttpCarrier("acme", carrier.url, timeout_s=1).tracking_status("1Z1")
        took = time.monotonic() - started
    finally:
        carrier.close()
    assert err.value.code == "carrier_unreachable" and err.value.retryable
    assert "within 1 s" in err.value.message and took < 2.5, took


def test_a_carrier_answer_too_long_to_be_a_shipment_is_refused(monkeypatch):
    monkeypatch.setattr("sync.carriers.http.MAX_ANSWER_BYTES", 1 << 20)
    carrier = RawHttpServer(_endless, "/api")
    try:
        with pytest.raises(CarrierError) as err:
            HttpCarrier("acme", carrier.url, timeout_s=5).tracking_status("1Z1")
    finally:
        carrier.close()
    assert err.value.code == "bad_carrier_answer" and "longer than" in err.value.message

"""The pack station over HTTP as a packer: open the tote, verify items, close → SSCC, tracking,
label; the OMS then sees the order shipped with its tracking number."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from core.actors import Actor
from core.db import unit_of_work
from core.settings import Settings
from core.users import AuditEntry, Role
from floor.fulfilment.models import Package, Tote
from floor.fulfilment.packing.packages import is_valid_sscc
from floor.fulfilment.packing.station import StationError, close_package, find_order
from floor.fulfilment.picking.cancellation import cancel_order
from floor.site.layout import Sku, SkuGtin
from orders.models import Order
from orders.outbox import OutboxEvent
from sync.carriers import carrier_for
from tests.factories import (
    OMS_AUTH,
    AnsweringCarrier,
    actor_for,
    add_order,
    log_in_packer,
    login,
    page_csrf,
    picked_order,
)


def _post(client, url, body, token):
    return client.post(url, json=body, headers={"X-CSRFToken": token})


def _packer_at_station(client, station="PACK-01"):
    """Paco logged in at the pack page; a function that scans a code at ``station`` (as the
    page or a wedge scanner does) and returns the answer."""
    login(client, username="paco", password="packer-demo")
    token = page_csrf(client, "/pack")

    def scan(code):
        return _post(client, "/pack/scan", {"station": station, "code": code}, token).get_json()

    return scan


def test_packer_verifies_items_closes_and_the_oms_sees_tracking(client, sessions):
    external_id, tote = picked_order(sessions, [("SKU-00005", 2), ("SKU-00006", 1)])
    login(client, username="paco", password="packer-demo")
    token = page_csrf(client, "/pack")

    opened = _post(client, "/pack/open", {"code": tote}, token)
    assert opened.status_code == 200, opened.get_json()
    view = opened.get_json()
    assert view["order"] == external_id
    assert [(ln["sku"], ln["to_pack"]) for ln in view["lines"]] == [
        ("SKU-00005", 2),
        ("SKU-00006", 1),
    ]

    wrong = _post(client, "/pack/verify", {"order": external_id, "code": "SKU-00007"}, token)
    assert wrong.get_json()["result"] == "wrong_item"
    gtin = view["lines"][0]["gtins"][0]
    ok = _post(client, "/pack/verify", {"order": external_id, "code": gtin}, token).get_json()
    assert ok == {"ok": True, "result": "ok", "line_id": "1", "units": 1}

    too_many = _post(
        client,
        "/pack/close",
        {"order": external_id, "station": "PACK-01", "items": {"1": 3, "2": 1}, "weight_g": 900},
        token,
    )
    assert too_many.status_code == 422

    closed = _post(
        client,
        "/pack/close",
        {
            "order": external_id,
            "station": "PACK-01",
            "items": {"1": 2, "2": 1},
            "weight_g": 900,
            "dims_mm": [300, 200, 150],
        },
        token,
    )
    assert closed.status_code == 201, closed.get_json()
    result = closed.get_json()
    assert result["status"] == "shipped" and is_valid_sscc(result["sscc"])
    tracking = result["tracking"][result["sscc"]]

    label = client.get(f"/pack/labels/{result['sscc']}.zpl")
    assert label.status_code == 200 and label.data.startswith(b"^XA")
    assert tracking.encode() in label.data

    seen = client.get(f"/api/v1/orders/{external_id}", headers=OMS_AUTH).get_json()
    assert seen["status"] == "shipped"
    assert [(p["sscc"], p["tracking_number"], p["weight_g"]) for p in seen["packages"]] == [
        (result["sscc"], tracking, 900)
    ]
    assert [ln["shipped"] for ln in seen["lines"]] == [2, 1]
    with unit_of_work(sessions) as s:  # the tote is free for the next order
        assert s.scalar(select(Tote.order_id).where(Tote.code == tote)) is None
    again = _post(client, "/pack/open", {"code": external_id}, token)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "already_shipped"


def test_an_order_still_being_picked_cannot_be_packed(client, sessions):
    with unit_of_work(sessions) as s:
        order = add_order(s, [("SKU-00010", 1)])
        external_id = order.external_id
    login(client, username="paco", password="packer-demo")
    r = _post(client, "/pack/open", {"code": external_id}, page_csrf(client, "/pack"))
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "not_ready"


def test_a_picker_cannot_use_the_pack_station(client, sessions):
    login(client, badge="BADGE-PICKER-1")
    assert client.get("/pack").status_code == 403
    with unit_of_work(sessions) as s:
        assert s.scalars(select(AuditEntry).where(AuditEntry.action == "login")).first()


def test_pack_station_page_in_a_browser(sqlite_url, desktop):
    from core.db import make_engine, make_session_factory
    from tests.factories import LiveServer, make_test_app

    app = make_test_app(sqlite_url)
    server = LiveServer(app)
    try:
        engine = make_engine(sqlite_url)
        external_id, tote = picked_order(make_session_factory(engine), [("SKU-00020", 2)])
        engine.dispose()
        page = desktop
        log_in_packer(page, server.url)
        page.locator("#scan").press_sequentially(tote)
        page.keyboard.press("Enter")
        page.wait_for_selector(f"#order-id:has-text('{external_id}')")
        assert page.locator("#close").is_disabled()
        page.locator("#scan").press_sequentially("SKU-00099")
        page.keyboard.press("Enter")
        page.wait_for_selector(".feedback.bad")
        for _ in range(2):
            page.locator("#scan").press_sequentially("SKU-00020")
            page.keyboard.press("Enter")
        page.wait_for_selector("#close:not([disabled])")
        assert page.locator("#weight").input_value() == ""  # nothing pre-filled to wave through
        page.fill("#weight", "640")
        page.click("#close")
        page.wait_for_selector("#shipped:not([hidden])")
        sscc = page.locator("#sscc").inner_text()
        assert is_valid_sscc(sscc) and page.locator("#tracking").inner_text()
        # The walkthrough's "the packing slip opens as a PDF": the packer had no link to it
        # (the order pages and /documents are the supervisor's).
        slip = page.locator("#slip-link")
        assert slip.get_attribute("href") == f"/documents/orders/{external_id}/packing-slip.pdf"
        pdf = page.request.get(server.url + slip.get_attribute("href"))
        assert pdf.ok and pdf.headers["content-type"] == "application/pdf"
    finally:
        server.stop()


def test_bad_input_and_an_unreachable_carrier_change_nothing(sessions, app):
    from floor.fulfilment.models import Package
    from orders.models import Order
    from tests.factories import free_port

    external_id, tote = picked_order(sessions, [("SKU-00030", 1)])
    # The order's carrier is served by an HTTP carrier that does not answer (nothing listens).
    app.extensions["floor"].settings = app.extensions["floor"].settings.with_overrides(
        {"carrier_urls": f"demo=http://127.0.0.1:{free_port()}/api"}
    )
    client = app.test_client()
    login(client, username="paco", password="packer-demo")
    token = page_csrf(client, "/pack")

    malformed = client.post(
        "/pack/close",
        data="{not json",
        headers={"X-CSRFToken": token, "Content-Type": "application/json"},
    )
    assert malformed.status_code == 400
    assert malformed.get_json()["error"]["code"] == "malformed_json"
    unknown = _post(client, "/pack/open", {"code": "T9999"}, token)
    assert unknown.status_code == 404 and unknown.get_json()["error"]["code"] == "unknown_code"
    for bad, code in (
        ({"weight_g": "heavy"}, "invalid_weight"),
        ({"weight_g": 0}, "invalid_weight"),
        ({"weight_g": 500, "items": {"1": "one"}}, "invalid_items"),
    ):
        body = {"order": external_id, "station": "PACK-01", "items": {"1": 1}, **bad}
        r = _post(client, "/pack/close", body, token)
        assert r.status_code == 422 and r.get_json()["error"]["code"] == code

    down = _post(
        client,
        "/pack/close",
        {"order": external_id, "station": "PACK-01", "items": {"1": 1}, "weight_g": 500},
        token,
    )
    assert down.status_code == 502, down.get_json()
    with unit_of_work(sessions) as s:  # rolled back whole: still picked, no carton, tote kept
        order = s.scalar(select(Order).where(Order.external_id == external_id))
        assert order.status == "picked" and order.lines[0].packed_qty == 0
        assert s.scalar(select(Package.id).where(Package.order_id == order.id)) is None
        assert s.scalar(select(Tote.order_id).where(Tote.code == tote)) == order.id


def test_only_a_pack_station_opens_orders_and_fields_must_be_text(client, sessions):
    from floor.fulfilment.models import PackSession
    from floor.site.layout import Location, LocationType

    external_id, tote = picked_order(sessions, [("SKU-00030", 1)])
    login(client, username="paco", password="packer-demo")
    token = page_csrf(client, "/pack")
    with unit_of_work(sessions) as s:
        shelf = s.scalar(select(Location.code).where(Location.type == LocationType.pick_face))
    for station, code in (
        ("NO-SUCH", "unknown_station"),
        ("x" * 100_000, "too_long"),
        (shelf, "unknown_station"),  # a location, not a pack station
    ):
        r = _post(client, "/pack/open", {"code": tote, "station": station}, token)
        assert r.status_code == 422, station[:20]
        assert r.get_json()["error"]["code"] == code
    for body in (
        {"code": [tote], "station": "PACK-01"},
        {"code": tote, "station": True},
        {"code": {"tote": tote}, "station": "PACK-01"},
    ):
        r = _post(client, "/pack/open", body, token)
        assert r.status_code == 422 and r.get_json()["error"]["code"] == "invalid", body
    r = _post(client, "/pack/close", {"order": 7, "station": "PACK-01", "weight_g": 9}, token)
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "invalid"
    with unit_of_work(sessions) as s:
        assert s.scalars(select(PackSession)).all() == []  # nothing opened anywhere
    opened = _post(client, "/pack/open", {"code": tote, "station": "PACK-01"}, token)
    assert opened.status_code == 200 and opened.get_json()["order"] == external_id


def _packer(app):
    client = app.test_client()
    login(client, username="paco", password="packer-demo")
    return client, page_csrf(client, "/pack")


def test_a_retried_close_with_its_close_id_packs_nothing_twice(app, sessions):
    from floor.fulfilment.models import Package
    from printing.models import PrintJob

    client, token = _packer(app)
    external_id, _ = picked_order(sessions, [("SKU-00005", 2), ("SKU-00006", 1)])
    other_id, _ = picked_order(sessions, [("SKU-00030", 1)])
    partial = {"order": external_id, "station": "PACK-01", "items": {"1": 1}, "weight_g": 400}
    first = _post(client, "/pack/close", {**partial, "close_id": "c-1"}, token)
    assert first.status_code == 201, first.get_json()
    again = _post(client, "/pack/close", {**partial, "close_id": "c-1"}, token)
    assert again.status_code == 200 and again.get_json()["replayed"] is True
    assert again.get_json()["sscc"] == first.get_json()["sscc"]
    reused = _post(client, "/pack/close", {**partial, "order": other_id, "close_id": "c-1"}, token)
    assert reused.status_code == 409
    assert reused.get_json()["error"]["code"] == "close_id_reused"
    bad = _post(client, "/pack/close", {**partial, "close_id": "no spaces"}, token)
    assert bad.status_code == 422 and bad.get_json()["error"]["code"] == "invalid"

    rest = {**partial, "items": {"1": 1, "2": 1}, "close_id": "c-2"}  # the last carton ships
    shipped = _post(client, "/pack/close", rest, token)
    assert shipped.status_code == 201 and shipped.get_json()["status"] == "shipped"
    # The order ships with both cartons: a tracking number and a label for each.
    both = {first.get_json()["sscc"], shipped.get_json()["sscc"]}
    assert set(shipped.get_json()["tracking"]) == both == set(shipped.get_json()["labels"])
    retried = _post(client, "/pack/close", rest, token)  # not 'already shipped': its answer
    assert retried.status_code == 200, retried.get_json()
    body = retried.get_json()
    assert body["replayed"] is True and body["status"] == "shipped"
    assert body["tracking"] == shipped.get_json()["tracking"]
    with unit_of_work(sessions) as s:
        ssccs = s.scalars(
            select(Package.sscc).join(Order).where(Order.external_id == external_id)
        ).all()
        assert len(ssccs) == 2  # two cartons for two closes, none for the retries
        jobs = s.scalars(select(PrintJob.job_id).where(PrintJob.kind == "shipping_label")).all()
        assert len(jobs) == len(set(jobs))
        assert s.scalar(select(Order.status).where(Order.external_id == other_id)) == "picked"


def test_two_requests_racing_with_one_close_id_make_one_carton(app, sessions):
    from floor.fulfilment.models import Package

    external_id, _ = picked_order(sessions, [("SKU-00005", 2)])
    desks = [_packer(app) for _ in range(2)]
    body = {"order": external_id, "station": "PACK-01", "items": {"1": 1}, "weight_g": 400}
    body["close_id"] = "race-1"
    start = threading.Barrier(2)
    answers = []

    def close(client, token):
        start.wait()
        r = _post(client, "/pack/close", body, token)
        answers.append((r.status_code, r.get_json()))

    threads = [threading.Thread(target=close, args=desk) for desk in desks]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(code for code, _ in answers) == [200, 201], answers
    assert len({a["sscc"] for _, a in answers}) == 1
    with unit_of_work(sessions) as s:
        count = s.scalar(
            select(func.count())
            .select_from(Package)
            .join(Order)
            .where(Order.external_id == external_id)
        )
        assert count == 1


def test_scanning_a_tote_at_the_station_says_what_it_is(client, sessions):
    external_id, tote = picked_order(sessions, [("SKU-00005", 1)])
    _, other_tote = picked_order(sessions, [("SKU-00030", 1)])
    login(client, username="paco", password="packer-demo")
    token = page_csrf(client, "/pack")
    _post(client, "/pack/open", {"code": tote, "station": "PACK-01"}, token)
    own = _post(client, "/pack/verify", {"code": tote.lower(), "station": "PACK-01"}, token)
    assert own.get_json()["result"] == "wrong_item" and own.get_json()["reason"] == "tote"
    assert "this order's tote" in own.get_json()["message"]
    other = _post(client, "/pack/verify", {"code": other_tote, "station": "PACK-01"}, token)
    assert other.get_json()["reason"] == "tote"
    assert f"close {external_id} first" in other.get_json()["message"]
    unknown = _post(client, "/pack/verify", {"code": "NOPE-1", "station": "PACK-01"}, token)
    assert unknown.get_json()["reason"] == "unknown_code"


def _close(s, order, items: dict[str, int], station: str):
    """The close of POST /pack/close, for an order its transaction has read."""
    return close_package(
        s,
        order,
        items=items,
        weight_g=700,
        station=station,
        carrier=carrier_for(order.carrier, Settings()),
        actor=actor_for(s, "paco"),
    )


def _close_from(s, tote: str, station: str):
    """What POST /pack/close does in its transaction: the tote's order, then the close."""
    order = find_order(s, tote)
    return _close(
        s, order, {ln.line_id: ln.picked_qty - ln.packed_qty for ln in order.lines}, station
    )


def _pg_only(sessions) -> None:
    if sessions.kw["bind"].dialect.name != "postgresql":
        pytest.skip("SQLite: every transaction is the one writer from its first statement")


def test_an_oms_cancel_between_the_tote_scan_and_the_close_is_not_overwritten(sessions):
    """PostgreSQL: the close read the order (picked) without a lock; a cancel committed before
    its UPDATE was overwritten - events picked → canceled, then picked → packed → shipped, a
    label and a tracking number for a canceled order."""
    _pg_only(sessions)
    ext, tote = picked_order(sessions, [("SKU-00100", 1)])
    with sessions() as station, station.begin():
        order = find_order(station, tote)  # the packer's transaction has the order
        with unit_of_work(sessions) as oms:
            cancel_order(oms, ext, Actor("oms:test", Role.admin, None), "customer called")
        with pytest.raises(StationError) as refused:
            _close(station, order, {"1": 1}, "PACK-01")
        assert refused.value.code == "wrong_status" and "canceled" in refused.value.message
    with unit_of_work(sessions) as s:
        assert s.scalar(select(Order.status).where(Order.external_id == ext)) == "canceled"
        assert s.scalar(select(func.count(Package.id))) == 0
        moves = s.execute(
            select(OutboxEvent.from_state, OutboxEvent.to_state)
            .where(OutboxEvent.aggregate_id == ext)
            .order_by(OutboxEvent.id)
        ).all()
    assert moves[-1] == ("picked", "canceled") and ("picked", "packed") not in moves


def test_two_stations_closing_one_order_at_once_make_one_carton(sessions):
    """PostgreSQL: two stations opened the same tote (or one typed the order number) and both
    closed: both packed from what they had read - two cartons, two SSCCs and two shipments."""
    _pg_only(sessions)
    ext, tote = picked_order(sessions, [("SKU-00100", 2)])
    with sessions() as second, second.begin():
        order = find_order(second, tote)  # read before the first close commits
        with unit_of_work(sessions) as first:
            assert _close_from(first, tote, "PACK-01")["status"] == "shipped"
        with pytest.raises(StationError) as refused:
            _close(second, order, {"1": 2}, "PACK-02")
        assert refused.value.code == "wrong_status"
    with unit_of_work(sessions) as s:
        assert s.scalar(select(func.count(Package.id))) == 1
        shipped = s.scalar(
            select(func.count(OutboxEvent.id)).where(
                OutboxEvent.aggregate_id == ext, OutboxEvent.type == "order.shipped"
            )
        )
    assert shipped == 1


def _waits_then(work) -> tuple[threading.Thread, dict]:
    """Run ``work`` in a thread; what it raised or returned lands in the dict."""
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["result"] = work()
        except Exception as exc:  # noqa: BLE001 - the test reads it
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def test_the_close_locks_its_order_as_it_reads_it(sessions):
    """PostgreSQL: POST /pack/close reads its order with the row lock (``find_order(...,
    lock=True)``), in the statement that finds it. A second station's close of the same tote and
    an OMS cancel sent meanwhile wait for the close to commit, then are refused: one carton, the
    order stays shipped."""
    _pg_only(sessions)
    ext, tote = picked_order(sessions, [("SKU-00100", 1)])

    def second_station():
        with unit_of_work(sessions) as s:
            return find_order(s, tote, lock=True)

    def oms_cancel():
        with unit_of_work(sessions) as s:
            return cancel_order(s, ext, Actor("oms:test", Role.admin, None), "customer called")

    with sessions() as station, station.begin():
        order = find_order(station, tote, lock=True)
        waiting = [_waits_then(second_station), _waits_then(oms_cancel)]
        for thread, _ in waiting:
            thread.join(0.5)
            assert thread.is_alive()  # it waits for the close's lock
        assert _close(station, order, {"1": 1}, "PACK-01")["status"] == "shipped"
    for thread, _ in waiting:
        thread.join(10)
        assert not thread.is_alive()
    (_, station_two), (_, cancel) = waiting
    assert station_two["error"].code == "already_shipped"
    assert "already shipped" in str(cancel["error"])
    with unit_of_work(sessions) as s:
        assert s.scalar(select(Order.status).where(Order.external_id == ext)) == "shipped"
        assert s.scalar(select(func.count(Package.id))) == 1


BAD = "bad_carrier_answer"


def _shipment(tracking: bytes, **more: bytes) -> bytes:
    fields = {"tracking_number": tracking, "label_base64": b'"XlhBXlha"', **more}  # ^XA^XZ
    return b"{" + b", ".join(b'"%s": %s' % (k.encode(), v) for k, v in fields.items()) + b"}"


@pytest.mark.parametrize(
    ("status", "answer", "code"),
    [
        (200, b"[]", BAD),
        (200, b'"ok"', BAD),
        (200, _shipment(b'{"no": 1}'), BAD),
        (200, _shipment(b'""'), BAD),
        (200, _shipment(b'"A\\u0000B"'), BAD),
        (200, _shipment(b'"' + b"9" * 65 + b'"'), BAD),
        (200, _shipment(b'"1Z1"', service=b'["x"]'), BAD),
        (200, _shipment(b'"1Z1"', label_base64=b"5"), BAD),
        (500, b"[1]", "http_500"),
        (400, b'{"error": {"code": 5, "message": ["no"]}}', "5"),
    ],
)
def test_a_carrier_answer_that_is_no_shipment_is_refused_with_a_reason(
    sessions, app, status, answer, code
):
    """A carrier's answer that is not a shipment the floor can store and print: before, a list,
    a string or a wrong type was a 500 internal error at the station (an error answer that was
    a list too), and an empty, over-long or NUL-holding tracking number was stored and shipped."""
    external_id, _ = picked_order(sessions, [("SKU-00030", 1)])
    with AnsweringCarrier(status, answer) as carrier:
        app.extensions["floor"].settings = app.extensions["floor"].settings.with_overrides(
            {"carrier_urls": f"demo={carrier.url}"}
        )
        client = app.test_client()
        login(client, username="paco", password="packer-demo")
        body = {"order": external_id, "station": "PACK-01", "items": {"1": 1}, "weight_g": 500}
        r = _post(client, "/pack/close", body, page_csrf(client, "/pack"))
    assert r.status_code == 502, r.get_json()
    error = r.get_json()["error"]
    assert error["code"] == code and isinstance(error["message"], str)
    with unit_of_work(sessions) as s:  # rolled back whole: still picked, no carton
        assert s.scalar(select(Order.status).where(Order.external_id == external_id)) == "picked"
        assert s.scalar(select(func.count(Package.id))) == 0


def test_a_numeric_tracking_number_is_kept_as_text(sessions, app):
    external_id, _ = picked_order(sessions, [("SKU-00030", 1)])
    answer = _shipment(b"794600000001")
    with AnsweringCarrier(200, answer) as carrier:
        app.extensions["floor"].settings = app.extensions["floor"].settings.with_overrides(
            {"carrier_urls": f"demo={carrier.url}"}
        )
        client = app.test_client()
        login(client, username="paco", password="packer-demo")
        body = {"order": external_id, "station": "PACK-01", "items": {"1": 1}, "weight_g": 500}
        r = _post(client, "/pack/close", body, page_csrf(client, "/pack"))
    assert r.status_code == 201, r.get_json()
    assert list(r.get_json()["tracking"].values()) == ["794600000001"]


def test_the_tote_of_an_order_the_oms_canceled_or_held_says_so_at_the_station(client, sessions):
    """The OMS cancels (or holds) an order whose tote is on its way to packing. Before, the
    packer read "order X is canceled; it can be packed once picked" - wait for it - for an
    order that must not be packed at all."""
    canceled, canceled_tote = picked_order(sessions, [("SKU-00010", 1)])
    held, held_tote = picked_order(sessions, [("SKU-00011", 1)])
    assert client.post(f"/api/v1/orders/{canceled}/cancel", headers=OMS_AUTH).status_code == 200
    assert client.post(f"/api/v1/orders/{held}/hold", headers=OMS_AUTH).status_code == 200
    login(client, username="paco", password="packer-demo")
    token = page_csrf(client, "/pack")
    r = _post(client, "/pack/open", {"code": canceled_tote, "station": "PACK-01"}, token)
    assert r.status_code == 409, r.get_json()
    error = r.get_json()["error"]
    assert error["code"] == "order_canceled" and "do not pack it" in error["message"]
    r = _post(client, "/pack/open", {"code": held_tote, "station": "PACK-01"}, token)
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "not_ready"
    assert "on hold" in r.get_json()["error"]["message"]
    assert "once picked" not in r.get_json()["error"]["message"]


def test_a_station_whose_open_order_the_oms_cancels_refuses_its_items_and_opens_the_next(
    client, sessions
):
    """The OMS cancels the order open at a station, mid-verification. Before: its item scans
    still counted ("ok"), its close was refused, and the next tote was refused too ("holds
    another order: close X first") - the station was stuck on an order it could never close."""
    external_id, tote = picked_order(sessions, [("SKU-00005", 2)])
    next_id, next_tote = picked_order(sessions, [("SKU-00030", 1)])
    with unit_of_work(sessions) as s:
        gtin = s.scalar(
            select(SkuGtin.gtin).join(Sku, Sku.id == SkuGtin.sku_id).where(Sku.code == "SKU-00005")
        )
    scan = _packer_at_station(client)

    assert scan(tote)["result"] == "ok"
    assert scan(gtin)["result"] == "ok"
    assert client.post(f"/api/v1/orders/{external_id}/cancel", headers=OMS_AUTH).status_code == 200
    refused = scan(gtin)
    assert refused["result"] == "order_canceled" and external_id in refused["message"]
    assert scan(next_tote)["result"] == "ok"
    state = client.get("/pack/state?station=PACK-01").get_json()
    assert state["order"]["order"] == next_id and state["scanned"] == {}


def test_a_wrong_item_after_the_order_is_fully_checked_says_so_and_keeps_the_order(
    client, sessions
):
    """Once every unit is checked, a code that is none of the order's items opens the next
    tote or order. A known item that opens nothing was answered "neither a tote in use nor an
    order": the packer could not tell it was a wrong item. It is a wrong item, with what to do."""
    external_id, tote = picked_order(sessions, [("SKU-00005", 1)])
    next_id, next_tote = picked_order(sessions, [("SKU-00030", 1)])
    scan = _packer_at_station(client)

    assert scan(tote)["result"] == "ok"
    assert scan("SKU-00005")["complete"] is True
    wrong = scan("SKU-00299")
    assert (wrong["result"], wrong["reason"]) == ("wrong_item", "other_sku"), wrong
    assert f"SKU-00299 is not in order {external_id}" in wrong["message"]
    assert "fully checked: close the package, or scan the next tote" in wrong["message"]
    state = client.get("/pack/state?station=PACK-01").get_json()
    assert state["order"]["order"] == external_id and state["complete"] is True
    assert scan("NO-SUCH-CODE")["result"] == "unknown_code"  # neither item, tote nor order
    assert scan(next_tote)["result"] == "ok"
    state = client.get("/pack/state?station=PACK-01").get_json()
    assert state["order"]["order"] == next_id


def test_a_tote_scanned_with_an_aim_identifier_is_a_tote_while_an_order_is_open(client, sessions):
    """A scanner sending AIM identifiers opens a tote ("]C0T0001", 31fbd9e), but with an order
    open the same scan of its tote, or of the next order's, was "not a known item barcode"
    instead of "this order's tote" / "holds another order: close X first"."""
    external_id, tote = picked_order(sessions, [("SKU-00005", 2)])
    _next_id, next_tote = picked_order(sessions, [("SKU-00030", 1)])
    scan = _packer_at_station(client)

    assert scan("]C0" + tote)["result"] == "ok"
    own = scan("]C0" + tote)
    assert (own["result"], own["reason"]) == ("wrong_item", "tote"), own
    assert "this order's tote" in own["message"]
    other = scan("]C0" + next_tote)
    assert (other["result"], other["reason"]) == ("wrong_item", "tote"), other
    assert f"close {external_id} first" in other["message"]
    for code in ("]C0", "]"):  # an identifier alone, a lone "]": still unknown
        assert scan(code)["reason"] == "unknown_code"


def test_a_long_ship_to_name_fits_the_pack_page(sqlite_url, desktop):
    """A ship-to name of 200 letters without a space (the API takes it) ran the pack page's
    ship-to line 1,900 px past a 1280 screen: the packer scrolled sideways for the Close button
    area. Long words wrap now."""
    from core.db import make_engine, make_session_factory
    from tests.factories import SHIP_TO, LiveServer, make_test_app

    app = make_test_app(sqlite_url)
    server = LiveServer(app)
    try:
        engine = make_engine(sqlite_url)
        ship_to = dict(SHIP_TO) | {"name": "W" * 200}
        _, tote = picked_order(make_session_factory(engine), [("SKU-00020", 1)], ship_to=ship_to)
        engine.dispose()
        page = desktop
        log_in_packer(page, server.url)
        page.locator("#scan").press_sequentially(tote)
        page.keyboard.press("Enter")
        page.wait_for_selector("#order-ship-to:has-text('WWWW')")
        assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    finally:
        server.stop()


@pytest.mark.parametrize("url", ["/pack/scan", "/pack/open", "/pack/verify"])
def test_a_code_longer_than_any_barcode_is_refused_and_not_stored(client, sessions, url):
    """A 100,000-character "scan" (a stuck key, a pasted file) was stored in ``scans`` and
    echoed whole in the answer; now 422 ``too_long`` and nothing is written."""
    from floor.fulfilment.models import Scan

    external_id, tote = picked_order(sessions, [("SKU-00005", 1)])
    login(client, username="paco", password="packer-demo")
    token = page_csrf(client, "/pack")
    _post(client, "/pack/open", {"code": tote, "station": "PACK-01"}, token)
    code = "X" * 100_000
    body = {"code": code, "station": "PACK-01", "order": external_id}
    r = _post(client, url, body, token)
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "too_long"
    assert len(r.get_data()) < 2_000
    with unit_of_work(sessions) as s:
        assert not s.scalars(select(Scan).where(func.length(Scan.raw) > 200)).all()
    fine = _post(client, "/pack/verify", {**body, "code": "SKU-00005"}, token).get_json()
    assert fine["result"] == "ok"

"""The input layer (core/inputs.py, web/inputs.py): every number bounded, NUL and over-long text
refused, timestamps bounded, a JSON 4xx with a reason on JSON surfaces, every socket event
acknowledged — by example, then property-based (hypothesis) over bodies, queries and events."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from core.audit import AuditEntry
from core.inputs import (
    MAX_ID,
    InputError,
    check_json,
    check_text,
    parse_id,
    parse_int,
    parse_quantity,
    parse_timestamp,
)
from floor.fulfilment.models import PickTask, Scan
from orders.csv_import import parse
from orders.intake import validate
from orders.models import Order
from tests.factories import login, make_test_app, order_payload
from web.demo import DEMO_API_KEY
from web.sockets import NAMESPACE

JSON = {"Accept": "application/json"}
NOW = dt.datetime(2026, 11, 29, 12, tzinfo=dt.UTC)


# --- core.inputs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw", ["²", "٣", "1_0", "+3", " 3", "3 ", "1e3", "", "-", "0x10", "9" * 20, True, 3.0, None]
)
def test_parse_int_takes_ascii_digits_only(raw):
    with pytest.raises(InputError) as err:
        parse_int(raw, "n")
    assert err.value.fields[0].field == "n"


@pytest.mark.parametrize(
    ("raw", "low", "high", "ok"),
    [
        ("1", 1, 10, True),
        ("0", 1, 10, False),
        ("11", 1, 10, False),
        ("-1", -5, 0, True),
        (MAX_ID, 1, MAX_ID, True),
        (MAX_ID + 1, 1, MAX_ID, False),
        (str(MAX_ID + 1), 1, MAX_ID, False),
    ],
)
def test_parse_int_ranges(raw, low, high, ok):
    if ok:
        assert parse_int(raw, "n", low=low, high=high) == int(raw)
    else:
        with pytest.raises(InputError) as err:
            parse_int(raw, "n", low=low, high=high)
        assert err.value.code == "out_of_range"


def test_ids_and_quantities_have_their_ranges():
    assert parse_id("9223372036854775807", "id") == MAX_ID
    for bad in (0, MAX_ID + 1):
        with pytest.raises(InputError):
            parse_id(bad, "id")
    assert parse_quantity(100_000, "q") == 100_000
    with pytest.raises(InputError):
        parse_quantity(100_001, "q")


def test_text_refuses_nul_surrogates_and_length():
    assert check_text("ok", "t") == "ok"
    for bad, code in (
        ("a\x00b", "invalid_characters"),
        ("\ud800", "invalid_characters"),
        ("x" * 11, "too_long"),
        (5, "not_text"),
    ):
        with pytest.raises(InputError) as err:
            check_text(bad, "t", max_len=10)
        assert err.value.code == code


def test_timestamps_are_bounded():
    assert parse_timestamp("2026-11-29T11:59:00Z", "at", now=NOW) == NOW - dt.timedelta(minutes=1)
    assert parse_timestamp(int(NOW.timestamp() * 1000), "at", now=NOW) == NOW
    for bad in ("2099-01-01T00:00:00Z", 10**30, float("nan"), "not a time", True, "2026-\x00"):
        with pytest.raises(InputError):
            parse_timestamp(bad, "at", now=NOW)


def test_json_walk_refuses_huge_numbers_nul_and_depth():
    check_json({"a": [1, "x", None, True, 1.5]})
    for bad in ({"a": 2**64}, {"a": ["x\x00"]}, {"k\x00": 1}, {"a": float("inf")}):
        with pytest.raises(InputError):
            check_json(bad)
    deep: Any = 1
    for _ in range(40):
        deep = [deep]
    with pytest.raises(InputError):
        check_json(deep)


# --- CSV quantities and external ids (orders) ---------------------------------------------


@pytest.mark.parametrize("qty", ["1_0", "٣", "+3", "²", "3.0", "-3", "9" * 30])
def test_csv_quantities_are_ascii_digits(qty):
    head = "external_id,ship_by,carrier,service,ship_to_name,ship_to_line1,ship_to_city,"
    head += "ship_to_postal_code,ship_to_country,sku,quantity\n"
    row = f"X-1,2030-01-01T00:00:00Z,DEMO,ground,A,B,C,1,US,SKU-1,{qty}\n"
    (group,) = parse(head + row)
    quantity = group.payload["lines"][0]["quantity"]
    assert not isinstance(quantity, int)
    assert any(e.code == "invalid_quantity" for e in validate(group.payload).errors)


@pytest.mark.parametrize("ext", [".", "..", "...", "import", "batch"])
def test_unopenable_external_ids_are_refused_at_intake(ext):
    errors = validate(order_payload(ext)).errors
    assert [(e.code, e.field) for e in errors] == [("invalid_external_id", "external_id")]


def test_openable_external_ids_pass():
    for ext in ("a.b", ".hidden", "Import", "imports", "SO-1"):
        assert validate(order_payload(ext)).errors == []


# --- the web surfaces ---------------------------------------------------------------------


@pytest.fixture
def in_app(sqlite_url):
    app = make_test_app(sqlite_url, WTF_CSRF_ENABLED=False)
    yield app
    app.extensions["floor"].close()


def _as(app, username, password):
    client = app.test_client()
    login(client, username=username, password=password)
    return client


def _rows(app) -> dict[str, int]:
    with app.extensions["floor"].sessions() as s:
        return {
            m.__tablename__: s.scalar(select(func.count()).select_from(m)) or 0
            for m in (AuditEntry, Order, Scan, PickTask)
        }


def _json_refusal(r, status=None):
    assert r.status_code < 500, r.get_data(as_text=True)[:300]
    assert 400 <= r.status_code < 500
    if status:
        assert r.status_code == status
    assert r.mimetype == "application/json", r.get_data(as_text=True)[:200]
    body = r.get_json()
    assert "error" in body or "errors" in body
    return body


def test_odd_query_parameters_and_path_ids_answer_json_4xx(in_app):
    sup = _as(in_app, "sam", "supervisor-demo")
    oms = {"Authorization": f"Bearer {DEMO_API_KEY}"}
    api = in_app.test_client()
    for value in ("²", "٣", "1_0", "+1", "9" * 40, "-1"):
        body = _json_refusal(api.get(f"/api/v1/events?after={value}", headers=oms), 422)
        assert body["errors"][0]["field"] == "after"
        _json_refusal(api.get(f"/api/v1/orders?limit={value}", headers=oms), 422)
        _json_refusal(sup.get(f"/api/v1/reconciliation?stuck_after_min={value}"), 422)
        assert sup.get(f"/orders?before={value}").status_code == 400  # a page: plain 400
    for path in ("/waves/99999999999999999999", "/waves/9223372036854775808", "/waves/0"):
        body = _json_refusal(sup.get(path, headers=JSON), 404)
        assert body["error"]["code"] == "not_found"
    assert sup.get("/waves/9223372036854775807", headers=JSON).status_code == 404  # no such wave
    body = _json_refusal(sup.get("/exceptions?status=open\x00", headers=JSON), 400)
    assert body["errors"][0]["code"] == "invalid_characters"
    assert sup.get("/dashboard/exceptions/search?q=" + "x" * 3000).status_code == 400
    # the last day of the calendar has no next midnight to count up to (it was a 500)
    body = _json_refusal(sup.get("/dashboard/figures?day=9999-12-31", headers=JSON), 422)
    assert body["errors"][0]["code"] == "invalid_datetime"
    assert body["errors"][0]["field"] == "day"
    assert sup.get("/dashboard/figures.csv?day=9999-12-31").status_code == 422
    assert sup.get("/dashboard/figures?day=9998-12-31", headers=JSON).status_code == 200


def test_huge_numbers_and_nul_in_supervisor_and_pack_bodies(in_app):
    sup = _as(in_app, "sam", "supervisor-demo")
    packer = _as(in_app, "paco", "packer-demo")
    before = _rows(in_app)  # after the logins (each writes an audit entry)
    for body in (
        {"quantity": 2**70},
        {"quantity": 10**6},
        {"quantity": True},
        {"reason": "a\x00b", "quantity": 1},
    ):
        _json_refusal(sup.post("/tasks/1/override", json=body))
        _json_refusal(sup.post("/replenishments/1/complete", json=body))
    _json_refusal(sup.post("/waves", json={"rule_id": 2**64}))
    for path in ("/waves/1/cancel", "/replenishments/1/cancel"):  # refused, not made text
        for reason, code in ((["x"], "not_text"), ({"a": 1}, "not_text"), ("r" * 501, "too_long")):
            r = sup.post(path, json={"reason": reason})
            assert r.status_code == 422 and r.get_json()["errors"][0]["code"] == code, path
    _json_refusal(sup.post("/dashboard/pick-lists/1/reassign", json={"to_user_id": "٣"}), 422)
    form = sup.post("/dashboard/exceptions/1/resolve", data={"resolution": "x\x00"})
    assert form.status_code == 400
    for body in (
        {"order": "X", "items": {"1": 2**70}, "weight_g": 1},
        {"order": "X", "items": {"1": 1}, "weight_g": 10**12},
        {"order": "X", "items": {"1": 1}, "weight_g": 1, "dims_mm": [1, 2, 10**9]},
        {"order": "X\x00", "items": {}, "weight_g": 1},
    ):
        _json_refusal(packer.post("/pack/close", json=body))  # 400 (past 64 bits) or 422
    _json_refusal(packer.post("/pack/open", json={"code": "\x00"}), 400)
    assert _rows(in_app) == before


def test_json_nested_past_the_decoders_limit_is_a_400_not_a_crash(in_app):
    packer = _as(in_app, "paco", "packer-demo")
    before = _rows(in_app)
    for raw in ("[" * 1500 + "]" * 1500, '{"a":' * 1500 + "1" + "}" * 1500):
        for path in ("/pack/open", "/printers/jobs/label-1/reprint"):
            r = packer.post(path, data=raw, content_type="application/json")
            assert r.status_code == 400, (path, r.get_data(as_text=True)[:200])
            assert r.get_json()["errors"][0]["code"] == "too_deep"
    assert _rows(in_app) == before


@pytest.fixture
def picker(in_app):
    client = in_app.test_client()
    login(client, badge="BADGE-PICKER-1")
    sio = in_app.extensions["floor"].socketio.test_client(
        in_app, namespace=NAMESPACE, flask_test_client=client
    )
    assert sio.is_connected(NAMESPACE)
    yield sio
    sio.disconnect(namespace=NAMESPACE)


def test_odd_socket_payloads_are_always_acknowledged(in_app, picker):
    ack = picker.emit(
        "scan",
        {"client_scan_id": "a", "code": "X", "task_id": 2**70},
        namespace=NAMESPACE,
        callback=True,
    )
    assert ack["ok"] is False and ack["error"]["code"] == "out_of_range"
    ack = picker.emit(
        "scan",
        {"client_scan_id": "b", "code": "X", "task_id": "99999999999999999999"},
        namespace=NAMESPACE,
        callback=True,
    )
    assert ack["result"] == "task_not_found"  # a huge id is no task, not a crash
    ack = picker.emit(
        "scan",
        {"client_scan_id": "c", "code": "X", "scanned_at": "2999-01-01T00:00:00Z"},
        namespace=NAMESPACE,
        callback=True,
    )
    assert ack["ok"] is False and ack["error"]["code"] == "invalid_scanned_at"
    before = _rows(in_app)
    for payload in (
        {"client_scan_id": "d", "code": "X\x00"},
        {"client_scan_id": "e\x00", "code": "X"},
        {"client_scan_id": "f", "code": "X" * 201},
    ):
        ack = picker.emit("scan", payload, namespace=NAMESPACE, callback=True)
        assert ack["ok"] is False and ack["error"]["code"] != "internal_error"
    ack = picker.emit(
        "short", {"client_scan_id": "g", "reason": "r" * 501}, namespace=NAMESPACE, callback=True
    )
    assert ack["ok"] is False and ack["error"]["code"] == "too_long"
    assert _rows(in_app) == before


def test_pack_join_takes_only_a_pack_station(in_app):
    """``pack:join`` joined a room named after whatever was sent (an object turned into text,
    a station that does not exist) and answered a missing station with a code and no message.
    Now as ``join_station``: a pack station, else ``unknown_station`` with its message."""
    client = _as(in_app, "paco", "packer-demo")
    sio = in_app.extensions["floor"].socketio.test_client(
        in_app, namespace=NAMESPACE, flask_test_client=client
    )
    try:
        for station in ({"a": 1}, ["PACK-01"], "NOPE", "", None, 7):
            ack = sio.emit("pack:join", {"station": station}, namespace=NAMESPACE, callback=True)
            assert ack["ok"] is False, (station, ack)
            assert ack["error"]["code"] == "unknown_station" and ack["error"]["message"]
        ack = sio.emit("pack:join", {"station": "PACK-01"}, namespace=NAMESPACE, callback=True)
        assert ack == {"ok": True, "scale": None}
        rooms = in_app.extensions["floor"].socketio.server.manager.rooms[NAMESPACE]
        assert not [
            r
            for r in rooms
            if isinstance(r, str) and r.startswith("station:") and r != "station:PACK-01"
        ]
    finally:
        sio.disconnect(namespace=NAMESPACE)


def test_unknown_events_and_extra_arguments_are_answered_with_a_reason(in_app, picker):
    before = _rows(in_app)
    ack = picker.emit("no-such-event", {"x": 1}, namespace=NAMESPACE, callback=True)
    assert ack["ok"] is False and ack["error"]["code"] == "unknown_event"
    for event in ("scan", "short", "task:next", "whoami"):
        ack = picker.emit(
            event,
            {"client_scan_id": "two", "code": "X"},
            {"b": 2},
            namespace=NAMESPACE,
            callback=True,
        )
        assert ack["ok"] is False and ack["error"]["code"] == "bad_request", (event, ack)
    assert _rows(in_app) == before


def test_a_closed_socket_leaves_the_registry_and_the_device_list(in_app):
    floor = in_app.extensions["floor"]
    client = in_app.test_client()
    login(client, badge="BADGE-PICKER-1")
    open_before = len(floor.sockets)
    sio = floor.socketio.test_client(in_app, namespace=NAMESPACE, flask_test_client=client)
    ack = sio.emit("device:status", {"queue": 0}, namespace=NAMESPACE, callback=True)
    assert ack["ok"] is True
    assert len(floor.sockets) == open_before + 1
    [handheld] = [h for h in floor.devices.handhelds.values() if h.connected]
    sio.disconnect(namespace=NAMESPACE)
    assert len(floor.sockets) == open_before  # forgotten: no registry growing for ever
    assert handheld.connected is False  # and the devices page shows it gone


# --- property-based -----------------------------------------------------------------------

SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(["²", "٣", "1_0", "+3", "\x00", "9" * 25, "2999-01-01T00:00:00Z"])
)
json_values = st.recursive(
    scalars,
    lambda kids: (
        st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids, max_size=4)
    ),
    max_leaves=8,
)
keys = st.sampled_from(
    [
        "quantity",
        "reason",
        "rule_id",
        "due_within_min",
        "to_user_id",
        "items",
        "weight_g",
        "dims_mm",
        "order",
        "code",
        "resolution",
        "task_id",
        "rule",
    ]
)
bodies = st.dictionaries(keys, json_values, max_size=5) | json_values

SUP_POSTS = [
    "/tasks/1/override",
    "/replenishments/1/complete",
    "/replenishments/1/cancel",
    "/waves",
    "/waves/1/cancel",
    "/exceptions/1/resolve",
    "/dashboard/pick-lists/1/reassign",
]
PACK_POSTS = ["/pack/open", "/pack/verify", "/pack/close"]


def _no_crash_no_write(app, response, before):
    assert response.status_code < 500, response.get_data(as_text=True)[:300]
    if response.status_code >= 400:
        assert response.mimetype == "application/json"
        assert _rows(app) == before


def test_property_json_bodies_never_500_nothing_written_on_refusal(in_app):
    sup = _as(in_app, "sam", "supervisor-demo")
    packer = _as(in_app, "paco", "packer-demo")

    @SETTINGS
    @given(path=st.sampled_from(SUP_POSTS + PACK_POSTS), body=bodies)
    def check(path, body):
        before = _rows(in_app)
        client = packer if path in PACK_POSTS else sup
        r = client.post(path, json=body)
        _no_crash_no_write(in_app, r, before)

    check()


QUERY_PATHS = [
    "/api/v1/events",
    "/api/v1/orders",
    "/api/v1/inventory",
    "/api/v1/reconciliation",
    "/waves",
    "/exceptions",
    "/replenishments",
    "/dashboard/people",
    "/dashboard/figures",
    "/dashboard/state",
    "/orders",
    "/dashboard/exceptions/search",
]
PARAMS = st.sampled_from(
    [
        "after",
        "before",
        "limit",
        "cursor",
        "status",
        "stuck_after_min",
        "updated_since",
        "sku",
        "day",
        "q",
        "reason",
    ]
)


def test_property_query_parameters_never_500(in_app):
    sup = _as(in_app, "sam", "supervisor-demo")
    oms = {"Authorization": f"Bearer {DEMO_API_KEY}"}
    api = in_app.test_client()

    @SETTINGS
    @given(
        path=st.sampled_from(QUERY_PATHS),
        params=st.dictionaries(PARAMS, scalars.map(str), max_size=3),
    )
    def check(path, params):
        r = (
            api.get(path, query_string=params, headers=oms)
            if path.startswith("/api/v1/") and "reconciliation" not in path
            else sup.get(path, query_string=params, headers=JSON)
        )
        assert r.status_code < 500, (path, params, r.get_data(as_text=True)[:300])
        if r.status_code >= 400:
            assert r.mimetype == "application/json"

    check()


def test_property_socket_events_always_acknowledged_nothing_written_on_refusal(in_app, picker):
    events = sorted(
        set(in_app.extensions["floor"].socketio.server.handlers[NAMESPACE])
        - {"connect", "disconnect", "*"}  # "*": the catch-all for events nothing else serves
    ) + ["no-such-event"]

    @SETTINGS
    @given(event=st.sampled_from(events), payload=bodies)
    def check(event, payload):
        before = _rows(in_app)
        ack = picker.emit(event, payload, namespace=NAMESPACE, callback=True)
        assert isinstance(ack, dict) and "ok" in ack, (event, payload, ack)  # never silent
        if ack["ok"] is False:
            assert ack["error"]["code"] != "internal_error", (event, payload, ack)
            assert _rows(in_app) == before

    check()


def test_every_odd_path_id_is_a_404_not_a_crash(in_app):
    admin = _as(in_app, "ada", "admin-demo")
    rules = [rule for rule in in_app.url_map.iter_rules() if "<int:" in rule.rule]
    assert rules
    for rule in rules:
        method = "GET" if "GET" in rule.methods else sorted(rule.methods - {"OPTIONS"})[0]
        for value in ("99999999999999999999", "9223372036854775808", "0", "²"):
            path = re.sub(r"<[^>]+>", value, rule.rule)
            r = admin.open(path, method=method, headers=JSON)
            assert r.status_code == 404 and r.mimetype == "application/json", (path, r.status_code)

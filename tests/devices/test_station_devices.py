"""Serial scanners and a scale on real socat pty pairs, seen the way people see them: through
the pack station (``/pack/state``, ``/pack/close``) and the device registry (``GET /devices``).
The app is configured by FLOOR_SCANNERS / FLOOR_SCALES values, as in production."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from core.db import make_engine, make_session_factory, unit_of_work
from floor.fulfilment.models import Package, Scan
from floor.site.gtin import check_digit
from tests.devices.conftest import SOCAT, PtyPair, wait_for
from tests.factories import log_in_packer, login, make_test_app, picked_order


@pytest.fixture
def bench(tmp_path: Path, sqlite_url: str):
    """PACK-01 with a serial scanner (CR, '~' for GS) and a scale (CR LF), and a packer."""
    if SOCAT is None:
        pytest.skip("socat is not installed")
    (tmp_path / "scanner").mkdir()
    (tmp_path / "scale").mkdir()
    scanner, scale = PtyPair(tmp_path / "scanner"), PtyPair(tmp_path / "scale")
    scanner.plug()
    scale.plug()
    app = make_test_app(
        sqlite_url,
        scanners=f"PACK-01=serial://{scanner.device}?suffix=cr&gs=~&max_len=40&retry_ms=50",
        scales=f"PACK-01=serial://{scale.device}?retry_ms=50",
        run_devices=True,
    )
    hub = app.extensions["floor"].devices
    engine = make_engine(sqlite_url)
    sessions = make_session_factory(engine)
    client = app.test_client()
    login(client, username="paco", password="packer-demo")
    boss = app.test_client()
    login(boss, username="sam", password="supervisor-demo")
    wait_for(lambda: all(d["online"] for d in hub.snapshot()["scanners"]), "scanner online")
    yield {
        "app": app,
        "scanner": scanner,
        "scale": scale,
        "client": client,
        "boss": boss,
        "sessions": sessions,
    }
    hub.stop()
    for pair in (scanner, scale):
        if pair._proc is not None:
            pair.unplug()
    engine.dispose()
    app.extensions["floor"].engine.dispose()


def _state(client):
    return client.get("/pack/state?station=PACK-01").get_json()


def _scanner(boss):
    [scanner] = boss.get("/devices").get_json()["scanners"]
    return scanner


def _gtin(sessions, sku: str) -> str:
    from floor.site.layout import Sku, SkuGtin

    with unit_of_work(sessions) as s:
        return s.scalar(
            select(SkuGtin.gtin).join(Sku, Sku.id == SkuGtin.sku_id).where(Sku.code == sku)
        )


def test_serial_scans_pack_an_order_without_typing(bench):
    client, boss, scanner = bench["client"], bench["boss"], bench["scanner"]
    external_id, tote = picked_order(bench["sessions"], [("SKU-00020", 2), ("SKU-00021", 1)])

    scanner.send(tote.encode() + b"\r")
    wait_for(lambda: (_state(client)["order"] or {}).get("order") == external_id, "order opened")
    seen = _scanner(boss)
    assert seen["station"] == "PACK-01" and seen["online"] is True
    assert seen["last_scan"]["raw"] == tote and seen["last_scan"]["result"] == "ok"

    # A GS1-128 with lot and serial, the scanner sending '~' for the group separator.
    gtin = _gtin(bench["sessions"], "SKU-00020").zfill(14)
    scanner.send(f"]C101{gtin}10LOT-7~21SER1\r".encode())
    wait_for(lambda: _state(client)["scanned"].get("1") == 1, "first unit verified")
    assert _scanner(boss)["last_scan"]["raw"] == f"]C101{gtin}10LOT-7~21SER1"

    # Garbage, an over-long and a partial frame: refused with a reason, nothing counted.
    scanner.send(b"\xff\xfe\x80AB\r")
    wait_for(
        lambda: (_scanner(boss)["last_reject"] or {}).get("reason") == "non_printable", "garbage"
    )
    scanner.send(b"9" * 60 + b"\r")
    wait_for(lambda: _scanner(boss)["last_reject"]["reason"] == "too_long", "over-long")
    scanner.send(b"40123")
    wait_for(lambda: _scanner(boss)["last_reject"]["reason"] == "partial", "partial")
    assert _scanner(boss)["last_reject"]["raw"] == "40123"
    assert _state(client)["scanned"] == {"1": 1}
    with unit_of_work(bench["sessions"]) as s:
        kept = s.scalars(select(Scan.result).where(Scan.kind == "serial_reject")).all()
    assert sorted(kept) == ["non_printable", "partial", "too_long"]

    # A wrong item is a red result on the station, counted nowhere.
    scanner.send(b"SKU-00099\r")
    wait_for(lambda: _scanner(boss)["last_scan"]["result"] == "wrong_item", "wrong item")

    # Unplugged: offline in the registry; plugged back: online, and scans count again.
    scanner.unplug()
    wait_for(lambda: _scanner(boss)["online"] is False, "scanner offline")
    scanner.plug()
    wait_for(lambda: _scanner(boss)["online"] is True, "scanner back online")
    assert _scanner(boss)["last_error"] is None  # online again: the unplug is no error now
    scanner.send(b"SKU-00020\rSKU-00021\r")
    wait_for(lambda: _state(client)["complete"] is True, "everything verified")
    assert _state(client)["scanned"] == {"1": 2, "2": 1}

    # The scale: a moving weight is no weight; a stable one closes the carton.
    bench["scale"].send(b"S D     0.412 kg\r\n")
    wait_for(lambda: (_state(client)["scale"] or {}).get("grams") == 412, "moving weight")
    token = re.search(
        r'name="csrf-token" content="([^"]+)"', client.get("/pack").get_data(as_text=True)
    ).group(1)
    body = {"order": external_id, "station": "PACK-01"}
    refused = client.post("/pack/close", json=body, headers={"X-CSRFToken": token})
    assert refused.status_code == 422
    assert refused.get_json()["error"]["code"] == "no_stable_weight"
    assert "still moving" in refused.get_json()["error"]["message"]
    bench["scale"].send(b"S S     0.655 kg\r\n")
    wait_for(lambda: _state(client)["scale"]["stable_grams"] == 655, "stable weight")
    closed = client.post("/pack/close", json=body, headers={"X-CSRFToken": token})
    assert closed.status_code == 201, closed.get_json()
    assert _state(client)["order"] is None
    [scale] = boss.get("/devices").get_json()["scales"]
    assert scale["online"] and scale["last_reading"]["grams"] == 655


def test_a_scanner_sending_aim_symbology_identifiers_opens_the_tote(bench):
    # Sites turn AIM identifiers on so that GS1 labels read as GS1 ("]C1", "]d2"); the tote's
    # plain Code 128 then arrives as "]C0T0001", which was "neither a tote nor an order".
    client, boss, scanner = bench["client"], bench["boss"], bench["scanner"]
    external_id, tote = picked_order(bench["sessions"], [("SKU-00020", 1)])
    scanner.send(b"]C0" + tote.encode() + b"\r")
    wait_for(lambda: _scanner(boss)["last_scan"] is not None, "the scan recorded")
    assert _scanner(boss)["last_scan"]["result"] == "ok", _scanner(boss)["last_scan"]
    assert _state(client)["order"]["order"] == external_id
    gtin = _gtin(bench["sessions"], "SKU-00020").zfill(14)
    scanner.send(f"]E0{gtin[1:]}\r".encode())  # the item's EAN-13, with its identifier
    wait_for(lambda: _state(client)["complete"] is True, "the item verified")


def _token(client) -> str:
    page = client.get("/pack").get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"OL,+9999999 g", "overload"),
        (b"US,+001.300 kg", None),  # moving: a weight, but not a stable one
        (b"S +", "overload"),
        (b"S I", "not_ready"),
        (b"ES", "scale_error"),
        (b"ST,-000.020 kg", "out_of_range"),
        (b"ST,+999999999 kg", "out_of_range"),
    ],
)
def test_after_a_scale_error_there_is_no_stable_weight_to_close_with(bench, line, reason):
    client = bench["client"]
    scale, token = bench["scale"], _token(client)
    external_id, tote = picked_order(bench["sessions"], [("SKU-00020", 1)])
    for code in (tote, "SKU-00020"):  # open and verify: ready to close
        scanned = client.post(
            "/pack/scan", json={"station": "PACK-01", "code": code}, headers={"X-CSRFToken": token}
        )
        assert scanned.get_json()["result"] == "ok", scanned.get_json()
    assert _state(client)["complete"] is True
    scale.send(b"ST,+001.254 kg\r\n")
    wait_for(lambda: (_state(client)["scale"] or {}).get("stable_grams") == 1254, "stable")
    scale.send(line + b"\r\n")
    wait_for(lambda: _state(client)["scale"]["stable_grams"] is None, "stable weight dropped")
    shown = _state(client)["scale"]
    assert shown["online"] is True and shown["stable"] is False
    assert shown["error"] == reason
    body = {"order": external_id, "station": "PACK-01"}  # nothing typed
    refused = client.post("/pack/close", json=body, headers={"X-CSRFToken": token})
    assert refused.status_code == 422, refused.get_json()
    error = refused.get_json()["error"]
    assert error["code"] == "no_stable_weight"
    assert "no stable weight" in error["message"]
    assert (reason or "moving") in error["message"]
    assert _state(client)["order"]["order"] == external_id  # still open: nothing packed
    with unit_of_work(bench["sessions"]) as s:
        assert s.scalars(select(Package.weight_g)).all() == []  # not at the old 1254 g


def test_a_scale_error_is_sent_to_the_station_page(tmp_path):
    """The pack page learns from ``scale.reading`` that the stable weight is gone (else it
    would keep showing, and sending, the old one)."""
    if SOCAT is None:
        pytest.skip("socat is not installed")
    from devices.config import parse_device
    from devices.hub import DeviceHub

    pair = PtyPair(tmp_path)
    pair.plug()
    sent: list[tuple[str, dict, str]] = []
    config = parse_device(f"PACK-01=serial://{pair.device}?suffix=crlf&retry_ms=50")
    hub = DeviceHub(None, scales=[config], notify=lambda *a: sent.append(a))  # type: ignore[arg-type]
    hub.start()
    try:
        wait_for(lambda: hub.scale_weight("PACK-01")["online"], "scale online")
        pair.send(b"ST,+001.254 kg\r\n")
        wait_for(lambda: hub.scale_weight("PACK-01")["stable_grams"] == 1254, "stable")
        pair.send(b"OL,+9999999 g\r\n")
        wait_for(
            lambda: any(
                name == "scale.reading" and data.get("error") == "overload"
                for name, data, _ in sent
            ),
            "scale.reading with the overload",
        )
        [last] = [d for n, d, _ in sent if n == "scale.reading"][-1:]
        assert last["stable_grams"] is None and last["grams"] is None
        # the same good weight as before the error is news to the page again
        pair.send(b"ST,+001.254 kg\r\n")
        wait_for(
            lambda: [d for n, d, _ in sent if n == "scale.reading"][-1]["stable_grams"] == 1254,
            "scale.reading with the weight back",
        )
    finally:
        hub.stop()
        pair.unplug()


def test_a_noisy_scanner_line_stores_a_bounded_number_of_rejects(bench):
    """Line noise (or a wrong baud rate) makes a rejected frame per burst: they are all
    counted and shown, but only REJECT_ROWS per window reach the scans table; good scans
    still count."""
    from devices.hub import REJECT_ROWS

    client, boss, scanner = bench["client"], bench["boss"], bench["scanner"]
    external_id, tote = picked_order(bench["sessions"], [("SKU-00020", 1)])
    noise = 60
    scanner.send(b"\xff\x80\r" * noise)
    wait_for(lambda: _scanner(boss)["rejects"] == noise, "every noisy frame counted")
    seen = _scanner(boss)
    assert seen["last_reject"]["reason"] == "non_printable"
    assert seen["rejects_not_stored"] == noise - REJECT_ROWS
    with unit_of_work(bench["sessions"]) as s:
        kept = s.scalars(select(Scan.id).where(Scan.kind == "serial_reject")).all()
    assert len(kept) == REJECT_ROWS
    page = boss.get("/dashboard/devices").get_data(as_text=True)
    assert f"{noise} rejected, {noise - REJECT_ROWS} not stored in scans" in page

    scanner.send(tote.encode() + b"\r")  # in the same window: a good scan is never dropped
    wait_for(lambda: (_state(client)["order"] or {}).get("order") == external_id, "order opened")


def test_devices_registry_is_for_supervisors_and_lists_every_kind(bench):
    assert bench["client"].get("/devices").status_code == 403
    reg = bench["boss"].get("/devices").get_json()
    assert set(reg) >= {"handhelds", "scanners", "scales", "printers"}
    assert [s["port"] for s in reg["scanners"]] == [str(bench["scanner"].device)]
    page = bench["boss"].get("/dashboard/devices").get_data(as_text=True)
    assert "PACK-01" in page and "FLOOR_SCANNERS" in page
    bench["scanner"].send(b"HELLO\r")
    wait_for(
        lambda: (
            bench["boss"]
            .get("/dashboard/devices/scanner/PACK-01", headers={"Accept": "application/json"})
            .get_json()["frames"]
        ),
        "frame in the test view",
    )


def test_a_gtin_check_digit_helper_is_real():  # guards _gtin's assumption above
    assert check_digit("590123412345") == "7"


@pytest.mark.browser
def test_a_serial_scan_appears_on_the_pack_page_without_typing(bench, desktop):
    import os

    from playwright.sync_api import expect

    from tests.dash.test_devices_browser import shot
    from tests.factories import LiveServer

    external_id, tote = picked_order(bench["sessions"], [("SKU-00020", 1)])
    server = LiveServer(bench["app"])
    try:
        page = desktop
        log_in_packer(page, server.url)
        expect(page.locator("#scale-info")).to_contain_text("Scale")
        page.locator("#station").focus()  # the cursor is not in the scan box
        bench["scanner"].send(tote.encode() + b"\r")
        expect(page.locator("#order-id")).to_have_text(external_id)
        bench["scanner"].send(b"SKU-00020\r")
        expect(page.locator('#lines tr[data-line="1"]')).to_have_class("done")
        bench["scanner"].send(b"\x01\x02junk\r")
        expect(page.locator("#feedback")).to_contain_text("Scanner:")
        bench["scale"].send(b"S S     0.700 kg\r\n")
        expect(page.locator("#weight")).to_have_value("700")
        if os.environ.get("FLOOR_SCREENSHOTS"):
            shot(page, "pack-serial-scan")
        page.reload()  # the verified scans are the server's: a reload keeps them
        expect(page.locator('#lines tr[data-line="1"]')).to_have_class("done")
        page.click("#close")
        expect(page.locator("#shipped")).to_be_visible()
    finally:
        server.stop()


def test_reject_budget_allows_a_few_per_window_and_counts_the_rest():
    from devices.hub import RejectBudget

    now = [100.0]
    budget = RejectBudget(limit=2, window_s=10.0, clock=lambda: now[0])
    assert [budget.take() for _ in range(5)] == [True, True, False, False, False]
    assert (budget.skipped, budget.skipped_total) == (3, 3)
    now[0] += 9.9
    assert budget.take() is False  # still the same window
    now[0] += 0.1
    assert budget.take() is True  # a new window: the last one's count is handed over once
    assert budget.ended_skipped == 4 and budget.skipped == 0
    assert budget.take() is True and budget.ended_skipped == 0
    assert budget.take() is False
    assert budget.skipped_total == 5


def test_a_serial_scan_the_database_could_not_take_is_refused_on_the_pack_page(tmp_path):
    """The database is away (here: nothing listens where it should be): the scan changes
    nothing, and the packer, who watches the pack page and not the device log, is told to scan
    again. Before: only /devices showed an error; the pack page stayed silent."""
    if SOCAT is None:
        pytest.skip("socat is not installed")
    from devices.config import parse_device
    from devices.hub import DeviceHub
    from tests.factories import free_port

    engine = make_engine(f"postgresql+psycopg://floor@127.0.0.1:{free_port()}/gone")
    pair = PtyPair(tmp_path)
    pair.plug()
    sent: list[tuple[str, dict, str]] = []
    config = parse_device(f"PACK-01=serial://{pair.device}?suffix=cr&retry_ms=50")
    hub = DeviceHub(
        make_session_factory(engine), scanners=[config], notify=lambda *a: sent.append(a)
    )
    hub.start()
    try:
        wait_for(lambda: hub.snapshot()["scanners"][0]["online"], "scanner online")
        pair.send(b"T0001\r")
        wait_for(lambda: any(n == "pack.reject" for n, _, _ in sent), "pack.reject")
        [(data, to)] = [(d, to) for n, d, to in sent if n == "pack.reject"]
        assert to == "station:PACK-01" and data["station"] == "PACK-01"
        assert data["reason"] == "unavailable" and "'T0001' was not recorded" in data["message"]
        [frame] = hub.frames("scanner", "PACK-01")
        assert frame["result"] == "error" and frame["text"] == "T0001"
    finally:
        hub.stop()
        pair.unplug()
        engine.dispose()


def test_one_device_under_two_names_or_as_scanner_and_scale_is_refused(tmp_path, sqlite_url):
    # Two entries naming one port through a symlink (a by-id link and its ttyUSB, a socat
    # link and its /dev/pts) passed, as did a scanner and a scale on one port: the second
    # reader sat offline with a lock error, and after an unplug either station might win
    # the port - the scanner's scans then went to the other station.
    if SOCAT is None:
        pytest.skip("socat is not installed")
    pair = PtyPair(tmp_path)
    pair.plug()
    try:
        real = os.path.realpath(pair.device)
        assert real != str(pair.device)
        for scanners, scales in (
            (f"PACK-01=serial://{pair.device},PACK-02=serial://{real}", ""),
            (f"PACK-01=serial://{pair.device}", f"PACK-02=serial://{real}"),
        ):
            app = make_test_app(sqlite_url, scanners=scanners, scales=scales)
            hub = app.extensions["floor"].devices
            try:
                assert hub.config_error is not None, (scanners, scales)
                assert "configured for two devices (PACK-01 and PACK-02)" in hub.config_error
                assert not hub.scanners and not hub.scales
            finally:
                hub.stop()
                app.extensions["floor"].engine.dispose()
    finally:
        pair.unplug()

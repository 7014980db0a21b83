"""Printers configuration and pages: FLOOR_PRINTERS parsing and sync, the admin page (admin only,
CSRF, audited), /printers for supervisors and packers with each label as a PNG, and ``serve``
starting a virtual Zebra per station when FLOOR_PRINTERS is unset."""

from __future__ import annotations

import re
import socket

import pytest
from sqlalchemy import select

from core.db import unit_of_work
from core.users import AuditEntry
from floor.site.layout import Location
from printing.models import Printer
from printing.printers import (
    PrinterConfigError,
    parse_printer_list,
    station_printer,
    sync_printers,
)
from printing.virtual_zebra import VirtualZebra
from tests.factories import free_port, login, page_csrf, start_server, stop, wait_healthy
from tests.printing.flow import Packer, picked_order, use_printer


def test_floor_printers_parses_every_transport_and_refuses_bad_entries():
    specs = parse_printer_list(
        " PACK-01=tcp://10.0.0.21:9100, OFFICE=cups://zebra_raw ,ARCHIVE=file:///var/labels,"
    )
    assert [(s.name, s.uri) for s in specs] == [
        ("PACK-01", "tcp://10.0.0.21:9100"),
        ("OFFICE", "cups://zebra_raw"),
        ("ARCHIVE", "file:///var/labels"),
    ]
    for bad in ("PACK-01", "PACK-01=http://x", "A=tcp://h:1,a=tcp://h:2", "A B=tcp://h:1"):
        with pytest.raises(PrinterConfigError):
            parse_printer_list(bad)


def test_sync_binds_printers_named_like_stations_one_printer_per_station(db_url):
    from core.db import make_engine, make_session_factory

    engine = make_engine(db_url)
    sessions = make_session_factory(engine)
    try:
        use_printer(sessions, "PACK-01", "tcp://127.0.0.1:9")
        use_printer(sessions, "PACK-01", "file:///tmp")  # changed URI: updated, not duplicated
        with unit_of_work(sessions) as s:
            [p] = s.scalars(select(Printer)).all()
            assert (p.name, p.uri, p.transport.value, p.source) == (
                "PACK-01",
                "file:///tmp",
                "file",
                "env",
            )
            assert station_printer(s, "PACK-01") is p and station_printer(s, "PACK-02") is None
    finally:
        engine.dispose()


def _csrf(client, url: str) -> str:
    return page_csrf(client, url)


def test_admin_adds_and_binds_printers_audited_with_csrf(client, sessions):
    login(client, username="sam", password="supervisor-demo")
    assert client.get("/admin/printers").status_code == 403  # supervisors are not admins
    client.post("/logout", data={"csrf_token": _csrf(client, "/printers")})

    from web.demo import DEMO_USERS

    admin = next(u for u in DEMO_USERS if u.role.value == "admin")
    login(client, username=admin.username, password=admin.password)
    token = _csrf(client, "/admin/printers")
    assert client.post("/admin/printers", data={"name": "X", "uri": "tcp://h:1"}).status_code == 400
    r = client.post(
        "/admin/printers",
        data={"csrf_token": token, "name": "ZEBRA-7", "uri": "tcp://10.0.0.7:9100"},
    )
    assert r.status_code == 303
    bad = client.post("/admin/printers", data={"csrf_token": token, "name": "Y", "uri": "lpd://x"})
    assert bad.status_code == 303
    with unit_of_work(sessions) as s:
        printer = s.scalars(select(Printer).where(Printer.name == "ZEBRA-7")).one()
        assert s.scalar(select(Printer).where(Printer.name == "Y")) is None
        pid = printer.id
    r = client.post(f"/admin/printers/{pid}/bind", data={"csrf_token": token, "station": "PACK-02"})
    assert r.status_code == 303
    with unit_of_work(sessions) as s:
        assert station_printer(s, "PACK-02").name == "ZEBRA-7"
        station = s.scalar(select(Location.id).where(Location.code == "PACK-02"))
        assert s.get(Printer, pid).station_location_id == station
        actions = s.scalars(
            select(AuditEntry.action).where(AuditEntry.entity == "printer").order_by(AuditEntry.id)
        ).all()
        assert actions == ["printer.save", "printer.bind"]


def test_binding_a_printer_says_which_station_it_now_serves(client, sessions):
    """Binding flashed "Printer ZEBRA-7 saved", which says nothing of the station."""
    login(client, username="ada", password="admin-demo")
    token = _csrf(client, "/admin/printers")
    added = client.post(
        "/admin/printers",
        data={"csrf_token": token, "name": "ZEBRA-7", "uri": "tcp://10.0.0.7:9100"},
        follow_redirects=True,
    )
    assert "Printer ZEBRA-7 saved" in added.get_data(as_text=True)  # adding is saving
    with unit_of_work(sessions) as s:
        pid = s.scalars(select(Printer.id).where(Printer.name == "ZEBRA-7")).one()
    for station, said in (
        ("pack-02", "ZEBRA-7 now prints PACK-02&#39;s labels"),
        ("", "ZEBRA-7 serves no station"),
    ):
        r = client.post(
            f"/admin/printers/{pid}/bind",
            data={"csrf_token": token, "station": station},
            follow_redirects=True,
        )
        html = r.get_data(as_text=True)
        assert said in html and "Printer ZEBRA-7 saved" not in html, station


def test_admin_printer_uris_past_the_columns_or_into_the_system_are_refused(client, sessions):
    """On the admin page: a 300-character host answered 500 on PostgreSQL (the address and
    URI columns are 200/300 wide), ``file:///tmp/x%00y`` saved a directory with a NUL in it,
    and ``file:////etc`` saved ``//etc`` - /etc, past the system directories' check."""
    login(client, username="ada", password="admin-demo")
    token = _csrf(client, "/admin/printers")
    for n, uri in enumerate(
        (
            "tcp://" + "h" * 300 + ":9100",
            "file:///labels/" + "d" * 300,
            "file:///tmp/x%00y",
            "file:////etc",
            "file:////var/lib/floor",
        )
    ):
        r = client.post(
            "/admin/printers", data={"csrf_token": token, "name": f"ODD-{n}", "uri": uri}
        )
        assert r.status_code == 303, (uri, r.status_code)
        assert "error" in client.get("/admin/printers").get_data(as_text=True)
    with unit_of_work(sessions) as s:
        assert s.scalars(select(Printer.name).where(Printer.name.like("ODD-%"))).all() == []


def test_printers_page_shows_each_job_as_a_picture_packers_see_their_station(client, sessions):
    zebra = VirtualZebra(0).start()
    try:
        with unit_of_work(sessions) as s:  # FLOOR_PRINTERS with both stations' printers
            sync_printers(
                s,
                parse_printer_list(
                    f"PACK-01=tcp://127.0.0.1:{zebra.port},PACK-02=tcp://127.0.0.1:9"
                ),
            )
        external_id, _ = picked_order(sessions, [("SKU-00005", 1)])
        closed = Packer(client).close(external_id)
        job_id = closed["print_jobs"][0]["job_id"]
        page = client.get("/printers?station=PACK-01").get_data(as_text=True)
        assert f"/printers/jobs/{job_id}.png" in page
        assert 'data-printer="PACK-01"' in page and 'data-printer="PACK-02"' not in page
        png = client.get(f"/printers/jobs/{job_id}.png")
        assert png.status_code == 200 and png.data.startswith(b"\x89PNG")
        assert client.get("/printers/jobs/nope.png").status_code == 404
        assert client.get("/printers?station=NOPE").status_code == 404
    finally:
        zebra.stop()
    anonymous = client.application.test_client()
    assert anonymous.get("/printers/jobs/x.png").status_code in (302, 401)


def test_serve_without_floor_printers_starts_a_virtual_zebra_per_station(tmp_path):
    port = free_port()
    proc = start_server(tmp_path / "floor.sqlite3", port, "--demo")
    try:
        wait_healthy(port, proc)
    finally:
        out = stop(proc)
    found = dict(re.findall(r"^\s+(PACK-0\d)\s+tcp://127\.0\.0\.1:(\d+)$", out, re.M))
    assert set(found) == {"PACK-01", "PACK-02"}, out
    for printer_port in found.values():  # gone with the server
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", int(printer_port)), 1):
            pass


def test_admin_cannot_add_a_printer_whose_name_differs_only_in_case(client, sessions):
    """``pack-01`` beside ``PACK-01`` is refused (the start's FLOOR_PRINTERS sync and the station
    binding read names whatever their case: one of the two would be rebound at the next start)."""
    from web.demo import DEMO_USERS

    admin = next(u for u in DEMO_USERS if u.role.value == "admin")
    login(client, username=admin.username, password=admin.password)
    token = _csrf(client, "/admin/printers")
    first = {"csrf_token": token, "name": "ZEBRA-7", "uri": "tcp://10.0.0.7:9100"}
    assert client.post("/admin/printers", data=first).status_code == 303
    again = {"csrf_token": token, "name": "zebra-7", "uri": "tcp://10.0.0.8:9100"}
    r = client.post("/admin/printers", data=again, follow_redirects=True)
    assert "already named" in r.get_data(as_text=True)
    with unit_of_work(sessions) as s:
        names = s.scalars(select(Printer.name).where(Printer.name.ilike("zebra-7"))).all()
        assert names == ["ZEBRA-7"]
        uri = s.scalar(select(Printer.uri).where(Printer.name == "ZEBRA-7"))
        assert uri == "tcp://10.0.0.7:9100"
    # Its own name in another case is a rename of the same printer, not a clash.
    with unit_of_work(sessions) as s:
        pid = s.scalar(select(Printer.id).where(Printer.name == "ZEBRA-7"))
    rename = {"csrf_token": token, "name": "Zebra-7", "uri": "tcp://10.0.0.7:9100"}
    assert client.post(f"/admin/printers/{pid}", data=rename).status_code == 303
    with unit_of_work(sessions) as s:
        assert s.get(Printer, pid).name == "Zebra-7"


def test_a_printers_state_time_is_the_sites_time_of_day(sqlite_url):
    """The page said ``at 16:22:03 UTC`` on a site whose pages all speak its own time zone
    (``FLOOR_TIMEZONE``, named in the header): the same clock as every other time there."""
    import datetime as dt

    from tests.factories import make_test_app

    app = make_test_app(sqlite_url, timezone="Asia/Kolkata")  # UTC+05:30 all year
    try:
        sessions = app.extensions["floor"].sessions
        use_printer(sessions, "PACK-01", "tcp://127.0.0.1:9")
        with unit_of_work(sessions) as s:
            printer = s.scalars(select(Printer)).one()
            printer.state = "paper_out"
            printer.state_at = dt.datetime(2026, 11, 30, 16, 22, 3, tzinfo=dt.UTC)
        client = app.test_client()
        login(client, username="sam", password="supervisor-demo")
        html = client.get("/printers").get_data(as_text=True)
        assert "paper_out" in html
        assert "at 21:52:03" in html and "16:22:03" not in html
    finally:
        app.extensions["floor"].close()


def test_admin_cannot_add_a_cups_queue_lpstat_would_read_as_an_option(client, sessions):
    """``cups://-E`` (or ``-P``, ``-hHOST``) was saved: the worker then ran ``lpstat -p -E``,
    which lists every queue and exits 0, so the printer showed another queue's state, and
    ``-hHOST`` sent the server's CUPS questions to any host. Refused with the reason."""
    from web.demo import DEMO_USERS

    admin = next(u for u in DEMO_USERS if u.role.value == "admin")
    login(client, username=admin.username, password=admin.password)
    token = _csrf(client, "/admin/printers")
    for uri in ("cups://-E", "cups://-hattacker.example", "cups://%2DP", "cups://q;rm"):
        form = {"csrf_token": token, "name": "OFFICE-2", "uri": uri}
        r = client.post("/admin/printers", data=form, follow_redirects=True)
        assert r.status_code == 200 and "not a CUPS queue name" in r.get_data(as_text=True), uri
    with unit_of_work(sessions) as s:
        assert s.scalar(select(Printer.id).where(Printer.name == "OFFICE-2")) is None
        assert not s.scalars(select(AuditEntry).where(AuditEntry.entity == "printer")).all()

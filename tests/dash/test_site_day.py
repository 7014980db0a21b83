"""The supervisor's day is the site's day: midnight to midnight in ``FLOOR_TIMEZONE``.

The day's figures, their hours, ``?day=`` and the people table's "this shift" were UTC: on a
site in Chicago (UTC-6 in winter) the counters reset at 18:00 local and a scan at 17:30 local
(23:30 UTC) sat in the chart's "23" bar. Worked by hand, Monday 2 March 2026 in Chicago (CST,
UTC-6), its bounds 06:00 UTC on the 2nd to 06:00 UTC on the 3rd:

  scan / order / exception   UTC                local (Chicago)         whose day
  a                          2 Mar 05:30        1 Mar 23:30            Sunday 1 March
  b                          2 Mar 23:30        2 Mar 17:30            Monday (hour 17)
  c                          3 Mar 04:30        2 Mar 22:30            Monday (hour 22)
  d                          3 Mar 06:30        3 Mar 00:30            Tuesday 3 March

Monday: received 2 (b c), units 2 (17:00 one, 22:00 one), exceptions 2. A UTC day of 2 March
would have counted a and b instead. The clocks change on 8 March (23 hours: 02:00 is skipped)
and on 1 November 2026 (25 hours: 01:00-02:00 twice, CDT then CST).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from core.db import unit_of_work
from core.exception_queue import ExceptionReason, FloorException
from core.users import User
from floor.fulfilment import dashboard as floor_dashboard
from floor.fulfilment import people as floor_people
from floor.fulfilment import shift_figures as sf
from floor.fulfilment.models import Scan
from tests.factories import add_order, login, make_test_app

CHICAGO = ZoneInfo("America/Chicago")
MONDAY = dt.date(2026, 3, 2)


def utc(day: int, hh: int, mm: int = 0, month: int = 3) -> dt.datetime:
    return dt.datetime(2026, month, day, hh, mm, tzinfo=dt.UTC)


A, B, C, D = utc(2, 5, 30), utc(2, 23, 30), utc(3, 4, 30), utc(3, 6, 30)
TIMES = {"a": A, "b": B, "c": C, "d": D}


def _rows() -> tuple[list[sf.OrderTimes], list[sf.ScanRow], list[tuple[str, dt.datetime]]]:
    orders = [sf.OrderTimes(k, {"received": t}) for k, t in TIMES.items()]
    scans = [sf.ScanRow(n, 1, None, "item", "ok", t, 1) for n, t in enumerate(TIMES.values(), 1)]
    return orders, scans, [("short_pick", t) for t in TIMES.values()]


def _check_monday(d: dict) -> None:
    assert d["day"] == "2026-03-02" and d["timezone"] == "America/Chicago"
    assert (d["start"], d["end"]) == ("2026-03-02T06:00:00+00:00", "2026-03-03T06:00:00+00:00")
    assert d["orders"]["received"] == 2 and d["exceptions"]["total"] == 2
    assert d["units"] == 2 and len(d["units_by_hour"]) == 24
    assert d["hour_labels"] == [f"{h:02d}:00" for h in range(24)]
    assert d["units_by_hour"][17] == 1 and d["units_by_hour"][22] == 1


def test_the_day_and_its_hours_are_the_sites_from_plain_rows():
    orders, scans, exceptions = _rows()
    monday = sf.compute(MONDAY, orders, scans, exceptions, CHICAGO).to_dict()
    _check_monday(monday)
    tuesday = sf.compute(dt.date(2026, 3, 3), orders, scans, exceptions, CHICAGO).to_dict()
    assert tuesday["orders"]["received"] == 1 and tuesday["units_by_hour"][0] == 1
    sunday = sf.compute(dt.date(2026, 3, 1), orders, scans, exceptions, CHICAGO).to_dict()
    assert sunday["orders"]["received"] == 1 and sunday["units_by_hour"][23] == 1


def test_a_utc_site_keeps_its_utc_day():
    """The default (``FLOOR_TIMEZONE`` unset: UTC) counts what it always counted."""
    orders, scans, exceptions = _rows()
    d = sf.compute(MONDAY, orders, scans, exceptions).to_dict()
    assert d["timezone"] == "UTC" and d["start"] == "2026-03-02T00:00:00+00:00"
    assert d["orders"]["received"] == 2  # a and b
    assert d["units_by_hour"][5] == 1 and d["units_by_hour"][23] == 1
    assert d["hour_labels"] == [f"{h:02d}:00" for h in range(24)]
    assert d["hour_starts"][0] == "2026-03-02T00:00:00+00:00"
    assert sf.day_bounds(MONDAY) == (utc(2, 0), utc(3, 0))
    assert floor_dashboard.shift_start(C) == utc(3, 0)


def test_a_day_the_clocks_change_has_23_or_25_hours():
    spring, fall = dt.date(2026, 3, 8), dt.date(2026, 11, 1)
    start, end = sf.day_bounds(spring, CHICAGO)
    assert (start, end) == (utc(8, 6), utc(9, 5)) and end - start == dt.timedelta(hours=23)
    labels = sf.hour_labels(sf.hour_starts(spring, CHICAGO), CHICAGO)
    assert len(labels) == 23 and labels[:3] == ["00:00", "01:00", "03:00"]
    start, end = sf.day_bounds(fall, CHICAGO)
    assert (start, end) == (utc(1, 5, month=11), utc(2, 6, month=11))
    assert end - start == dt.timedelta(hours=25)
    starts = sf.hour_starts(fall, CHICAGO)
    labels = sf.hour_labels(starts, CHICAGO)
    assert len(labels) == 25 and labels[1:4] == ["01:00 CDT", "01:00 CST", "02:00"]
    # 01:30 CDT (06:30 UTC) and 01:30 CST (07:30 UTC) are two hours of that day, not one.
    scans = [
        sf.ScanRow(1, 1, 7, "item", "ok", utc(1, 6, 30, month=11), 1),
        sf.ScanRow(2, 1, 8, "item", "ok", utc(1, 7, 30, month=11), 3),
        sf.ScanRow(3, 1, 9, "item", "ok", utc(2, 5, 59, month=11), 5),  # 23:59 CST
    ]
    d = sf.compute(fall, [], scans, [], CHICAGO).to_dict()
    assert d["units_by_hour"][1:3] == [1, 3] and d["units_by_hour"][24] == 5
    assert d["hour_labels"][24] == "23:00" and d["units"] == 9
    assert d["hour_starts"][2] == "2026-11-01T07:00:00+00:00"
    rows = sf.csv_rows(sf.compute(fall, [], scans, [], CHICAGO))
    assert ["01:00 CST", 3, 1, "2026-11-01T07:00:00Z"] in rows


def test_this_shift_starts_at_the_sites_midnight():
    assert floor_dashboard.shift_start(C, CHICAGO) == utc(2, 6)  # 22:30 on Monday there
    assert floor_dashboard.shift_start(D, CHICAGO) == utc(3, 6)  # 00:30 on Tuesday there


def _store_the_days(s) -> None:
    pat = s.scalars(select(User).where(User.username == "pat")).one()
    for key, at in TIMES.items():
        order = add_order(s, [("SKU-00001", 1)], external_id=f"SITE-{key}", reserve=False)
        order.created_at, order.status_times = at, {"received": at.isoformat()}
        s.add(
            Scan(
                client_scan_id=f"site-{key}",
                user_id=pat.id,
                task_id=None,
                raw="SKU-00001",
                kind="item",
                result="ok",
                scanned_at=at,
            )
        )
        s.add(FloorException(reason=ExceptionReason.short_pick, message=key, created_at=at))
    # the two hours of the night the clocks go back
    for n, at in enumerate((utc(1, 6, 30, month=11), utc(1, 7, 30, month=11), utc(1, 7, 31, 11))):
        s.add(
            Scan(
                client_scan_id=f"fall-{n}",
                user_id=pat.id,
                task_id=None,
                raw="SKU-00002",
                kind="item",
                result="ok",
                scanned_at=at,
            )
        )


def test_the_sites_day_from_the_database(sessions):
    """The same from the database on both backends (hours grouped in SQL): the ordinary day,
    the day of 25 hours, and the people table's shift on Monday at 22:30 there."""
    with unit_of_work(sessions) as s:
        _store_the_days(s)
    with unit_of_work(sessions) as s:
        monday = sf.load(s, MONDAY, CHICAGO)
        _check_monday(monday.to_dict())
        fall = sf.load(s, dt.date(2026, 11, 1), CHICAGO).to_dict()
        rows = {r["username"]: r for r in floor_people.people(s, C, utc(2, 6))}
        shift = floor_dashboard.live_state(s, C, [], CHICAGO)["people"]
    assert fall["units_by_hour"][1:3] == [1, 2] and fall["units"] == 3
    assert len(fall["units_by_hour"]) == 25
    assert rows["pat"]["shift"]["units"] == 2  # b and c; a was Sunday there
    assert next(r for r in shift if r["username"] == "pat")["shift"]["units"] == 2
    csv_rows = sf.csv_rows(monday)
    assert ["timezone", "America/Chicago"] in csv_rows
    assert csv_rows[csv_rows.index(["hour_local", "units", "lines", "hour_start_utc"]) + 18] == [
        "17:00",
        1,
        0,
        "2026-03-02T23:00:00Z",
    ]


@pytest.fixture
def chicago_app(db_url):
    application = make_test_app(db_url, timezone="America/Chicago")
    yield application
    application.extensions["floor"].close()


def test_the_pages_read_the_sites_day(chicago_app, monkeypatch):
    """``?day=`` is a date in the site's zone, and without it "today" is the site's today;
    the CSV names the zone and the local hours, the dashboard's chart says whose hours."""
    from web import shift_pages

    with unit_of_work(chicago_app.extensions["floor"].sessions) as s:
        _store_the_days(s)
    monkeypatch.setattr(shift_pages, "utcnow", lambda: C)  # Monday 22:30 in Chicago
    client = chicago_app.test_client()
    login(client, username="sam", password="supervisor-demo")
    _check_monday(client.get("/dashboard/figures", query_string={"day": "2026-03-02"}).get_json())
    _check_monday(client.get("/dashboard/figures").get_json())  # today there: Monday
    pat = next(
        r for r in client.get("/dashboard/people").get_json()["people"] if r["username"] == "pat"
    )
    assert pat["shift"]["units"] == 2
    text = client.get("/dashboard/figures.csv").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(text)))
    assert ["day", "2026-03-02"] in rows and ["timezone", "America/Chicago"] in rows
    assert ["hour_local", "units", "lines", "hour_start_utc"] in rows
    assert ["22:00", "1", "0", "2026-03-03T04:00:00Z"] in rows
    r = client.get("/dashboard/figures", query_string={"day": "2026-02-30"})
    assert r.status_code == 422 and r.get_json()["errors"][0]["code"] == "invalid_datetime"
    assert b"Units per hour (America/Chicago)" in client.get("/dashboard").data
    assert chicago_app.extensions["floor"].live.zone == CHICAGO  # the live feed's day too


def test_a_day_the_clocks_skip_whole_has_empty_figures(db_url):
    """Samoa skipped 30 December 2011 (23:59:59 on the 29th, then 00:00 on the 31st): the day
    has no length and one hour bucket, and its figures and CSV were a 500 (a ``CASE`` with no
    ``WHEN`` in the hourly query)."""
    application = make_test_app(db_url, timezone="Pacific/Apia")
    try:
        client = application.test_client()
        login(client, username="sam", password="supervisor-demo")
        r = client.get("/dashboard/figures", query_string={"day": "2011-12-30"})
        assert r.status_code == 200, r.get_data(as_text=True)[:300]
        d = r.get_json()
        assert d["start"] == d["end"] == "2011-12-30T10:00:00+00:00"
        assert d["units"] == 0 and d["units_by_hour"] == [0]
        r = client.get("/dashboard/figures.csv", query_string={"day": "2011-12-30"})
        assert r.status_code == 200 and ["day", "2011-12-30"] in csv.reader(io.StringIO(r.text))
        r = client.get("/dashboard/figures", query_string={"day": "2011-12-29"})
        assert r.status_code == 200 and len(r.get_json()["units_by_hour"]) == 24
    finally:
        application.extensions["floor"].close()

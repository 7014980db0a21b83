"""The dashboard's exception times in headless Chromium on a site whose time zone is not the
browser's nor UTC: the first paint, the snapshot re-read on (re)connect and a row that arrives
live all show the time of day in the site's zone."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from core.db import unit_of_work
from core.events import publish
from core.exception_queue import ExceptionReason, FloorException
from tests.factories import log_in_supervisor, make_test_app

pytestmark = pytest.mark.browser

SITE = ZoneInfo("Asia/Kolkata")  # UTC+05:30 all year: never the browser's (UTC) time of day


@pytest.fixture
def db_url(sqlite_url):  # the subject here is the screen, not the database backend
    return sqlite_url


@pytest.fixture
def app(db_url):
    application = make_test_app(db_url, timezone="Asia/Kolkata")
    yield application
    application.extensions["floor"].close()


def _site_time(when: dt.datetime) -> str:
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(SITE).strftime("%H:%M:%S")


def test_exception_times_are_site_times_after_the_snapshot_and_live(
    app, sessions, live_server, desktop
):
    with unit_of_work(sessions) as s:
        exc = FloorException(reason=ExceptionReason.short_pick, message="SKU-00010 short 1")
        s.add(exc)
        s.flush()
        first_id, first_at = exc.id, exc.created_at

    log_in_supervisor(desktop, live_server.url)  # waits for the snapshot read after the join
    first = desktop.locator(f'#exceptions tr[data-exception="{first_id}"] td').first
    expect(first).to_have_text(_site_time(first_at))

    # One opened while the page watches (its event carries no time: it happened just now).
    with unit_of_work(sessions) as s:
        exc = FloorException(reason=ExceptionReason.short_pick, message="SKU-00011 short 2")
        s.add(exc)
        s.flush()
        second_id, second_at = exc.id, exc.created_at
        publish(
            s,
            "exception.opened",
            {"id": exc.id, "reason": exc.reason.value, "message": exc.message},
        )
    second = desktop.locator(f'#exceptions tr[data-exception="{second_id}"] td').first
    expect(second).to_be_visible()
    shown = dt.datetime.strptime(second.inner_text(), "%H:%M:%S")
    expected = dt.datetime.strptime(_site_time(second_at), "%H:%M:%S")
    assert abs((shown - expected).total_seconds()) <= 5, (second.inner_text(), expected)


def test_a_waves_projected_finish_is_a_site_time_when_it_moves_live(
    app, live_server, desktop, phone, oms, supervisor
):
    """The projected finish ("done ≈ 15:40") is the site's time of day on the first paint, but
    the live update sliced it out of the UTC ISO string: on a site in India the same wave's
    finish read 10:10 once the picker had scanned."""
    import re

    from tests.factories import gtin, log_in_picker, scan

    base = live_server.url
    oms.post_order("TZ-PROJ-1", [("SKU-00005", 2), ("SKU-00006", 3)])
    supervisor.plan_and_release()
    log_in_supervisor(desktop, base)
    log_in_picker(phone, base)
    expect(phone.locator("#task")).to_be_visible()
    scan(phone, gtin(phone.locator("#task-sku").inner_text()))
    proj = desktop.locator("#waves tr[data-wave] td.proj").first
    expect(proj).to_contain_text("done ≈")
    shown = re.search(r"done ≈ (\d\d:\d\d)", proj.inner_text())
    assert shown is not None
    [finish_at] = [
        p["finish_at"] for p in supervisor.get("/dashboard/state")["live"]["projections"].values()
    ]
    expected = dt.datetime.fromisoformat(finish_at).astimezone(SITE)
    got = dt.datetime.combine(expected.date(), dt.time.fromisoformat(shown[1]), tzinfo=SITE)
    off = (got - expected).total_seconds() % 86400  # the clock's time of day, either side
    assert min(off, 86400 - off) <= 120, (shown[1], expected)

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

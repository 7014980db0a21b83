"""The exception queue page (/dashboard/exceptions) in headless Chromium: an exception opened
while the supervisor's page had lost its connection shows once the page is back online."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from core.db import unit_of_work
from core.events import publish
from core.exception_queue import ExceptionReason, FloorException
from tests.factories import log_in_supervisor

pytestmark = pytest.mark.browser


@pytest.fixture
def db_url(sqlite_url):  # the subject here is the screen, not the database backend
    return sqlite_url


def test_an_exception_opened_while_the_queue_page_was_offline_shows_when_back(
    sessions, live_server, desktop
):
    log_in_supervisor(desktop, live_server.url)
    desktop.goto(live_server.url + "/dashboard/exceptions")
    expect(desktop.locator("#conn")).to_have_text("online", timeout=10_000)
    expect(desktop.locator("main")).to_contain_text("No open exceptions.")

    desktop.context.set_offline(True)
    expect(desktop.locator("#conn")).to_have_text("offline", timeout=10_000)
    with unit_of_work(sessions) as s:
        exc = FloorException(reason=ExceptionReason.damaged, message="carton crushed at D-01")
        s.add(exc)
        s.flush()
        publish(s, "exception.opened", {"id": exc.id, "reason": "damaged", "message": exc.message})
    desktop.wait_for_timeout(500)  # the event went out while the page could not hear it
    desktop.context.set_offline(False)
    expect(desktop.locator("#conn")).to_have_text("online", timeout=15_000)
    expect(desktop.locator("main")).to_contain_text("carton crushed at D-01", timeout=5_000)

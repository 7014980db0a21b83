"""The supervisor's queue pages in headless Chromium after a lost connection: what changed while
the page could not hear it (an exception opened on /dashboard/exceptions, a handheld that came
on /dashboard/devices) shows once the page is back online."""

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


def test_the_device_registry_catches_up_on_a_handheld_that_came_while_it_was_offline(
    live_server, desktop, phone
):
    from tests.factories import log_in_picker

    log_in_supervisor(desktop, live_server.url)
    desktop.goto(live_server.url + "/dashboard/devices")
    expect(desktop.locator("#conn")).to_have_text("online", timeout=10_000)
    expect(desktop.locator("#handhelds")).to_contain_text("No handheld has connected")

    desktop.context.set_offline(True)
    expect(desktop.locator("#conn")).to_have_text("offline", timeout=10_000)
    log_in_picker(phone, live_server.url)
    expect(phone.locator("#conn")).to_have_text("online", timeout=10_000)
    desktop.wait_for_timeout(500)  # its status went out while the registry could not hear it
    desktop.context.set_offline(False)
    expect(desktop.locator("#conn")).to_have_text("online", timeout=15_000)
    expect(desktop.locator("#handhelds")).not_to_contain_text(
        "No handheld has connected", timeout=5_000
    )

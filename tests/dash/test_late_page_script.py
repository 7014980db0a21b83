"""A page's own script that arrives after the page's live connection is up (a slow network, a
busy server): the connection's "connect" came before the script listened for it, so the
handheld never asked for its task and sat on "Looking for your next pick…" (CI, stop 22). The
socket now connects once every script of the page has run."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from tests.factories import log_in_picker

pytestmark = pytest.mark.browser


@pytest.fixture
def db_url(sqlite_url):  # the subject here is the page, not the database backend
    return sqlite_url


def arrives_late(page, script: str, delay_s: float = 1.0) -> None:
    """``/static/<script>`` reaches ``page`` ``delay_s`` after it is asked for."""

    def slow(route) -> None:
        time.sleep(delay_s)  # the browser goes on meanwhile: the socket connects
        route.continue_()

    page.route(f"**/static/{script}", slow)


def test_the_handheld_asks_for_its_task_when_its_script_arrives_late(
    live_server, phone, oms, supervisor
):
    oms.post_order("LATE-JS-1", [("SKU-00005", 1)])
    supervisor.plan_and_release()
    arrives_late(phone, "handheld.js")
    log_in_picker(phone, live_server.url)
    expect(phone.locator("#task")).to_be_visible()
    expect(phone.locator("#task-sku")).to_have_text("SKU-00005")

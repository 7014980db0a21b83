"""In headless Chromium: location confirmation on and off on the handheld, a wrong tote on a
cart of two, a serial scan appearing on the pack page without typing, and the dashboard, wave
planner and device pages from 360 px to 1920 px without sideways scrolling.

``FLOOR_SCREENSHOTS=1`` also writes the screens to docs/screenshots/."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.factories import gtin, log_in_picker, log_in_supervisor, scan

pytestmark = pytest.mark.browser
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def db_url(sqlite_url):  # the subject here is the screen, not the database backend
    return sqlite_url


def shot(page, name: str) -> None:
    if os.environ.get("FLOOR_SCREENSHOTS"):
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def no_sideways_scroll(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    inner = page.evaluate("window.innerWidth")
    assert width <= inner, f"{page.url}: content is {width} px wide in a {inner} px window"


def test_location_confirmation_off_then_scan(live_server, phone, oms, supervisor):
    oms.post_order("LOC-1", [("SKU-00005", 2)])
    supervisor.plan_and_release()
    log_in_picker(phone, live_server.url)
    expect(phone.locator("#task")).to_be_visible()
    expect(phone.locator("#check-box")).to_be_visible()  # off: the check code is on screen
    expect(phone.locator("#confirm-hint")).to_be_hidden()
    scan(phone, gtin("SKU-00005"))
    expect(phone.locator("#feedback")).to_have_class(re.compile(r"\bok\b"))
    expect(phone.locator("#task-picked")).to_have_text("1")

    supervisor.client.post(
        "/dashboard/settings/location-confirm", data={"mode": "scan"}, headers=supervisor.headers
    )
    phone.reload()
    phone.wait_for_selector("#conn.online")
    expect(phone.locator("#task")).to_be_visible()
    expect(phone.locator("#check-box")).to_be_hidden()  # on: nothing to read off the screen
    expect(phone.locator("#confirm-hint")).to_contain_text("Scan the location barcode")
    scan(phone, gtin("SKU-00005"))
    expect(phone.locator("#feedback")).to_have_class(re.compile(r"\bbad\b"))
    expect(phone.locator("#feedback")).to_contain_text("Location not confirmed")
    expect(phone.locator("#task-picked")).to_have_text("1")
    shot(phone, "handheld-location-not-confirmed")
    scan(phone, phone.locator("#task-location").inner_text())
    expect(phone.locator("#feedback")).to_contain_text("Location OK")
    scan(phone, gtin("SKU-00005"))
    expect(phone.locator("#cart-to")).to_have_text("Take cart to PACK-01")
    shot(phone, "handheld-take-cart")


def test_wrong_tote_is_red_and_books_nothing(live_server, phone, oms, supervisor):
    oms.post_order("TOTE-1", [("SKU-00005", 1)])
    oms.post_order("TOTE-2", [("SKU-00006", 1)])
    supervisor.plan_and_release()
    log_in_picker(phone, live_server.url)
    expect(phone.locator("#task")).to_be_visible()
    right = phone.locator("#task-tote").inner_text()
    assert right in ("T0001", "T0002")
    wrong = "T0002" if right == "T0001" else "T0001"
    sku = phone.locator("#task-sku").inner_text()
    scan(phone, gtin(sku))
    expect(phone.locator("#feedback")).to_contain_text("then scan the tote")
    expect(phone.locator("#tote-box")).to_have_class(re.compile("waiting"))
    scan(phone, wrong)
    expect(phone.locator("#feedback")).to_have_class(re.compile(r"\bbad\b"))
    expect(phone.locator("#feedback")).to_contain_text(f"Wrong tote: that is tote {wrong}")
    expect(phone.locator("#task-picked")).to_have_text("0")
    shot(phone, "handheld-wrong-tote")
    scan(phone, right)
    expect(phone.locator("#feedback")).to_have_class(re.compile(r"\bok\b"))
    expect(phone.locator("#task-sku")).not_to_have_text(sku)  # on to the next task


@pytest.mark.parametrize("width", [360, 1920])
def test_supervisor_pages_fit_from_a_phone_to_a_wall(live_server, browser, oms, supervisor, width):
    for n in range(1, 4):
        oms.post_order(f"FIT-{n}", [("SKU-00005", 1), (f"SKU-0012{n}", 2)])
    supervisor.plan_and_release()
    oms.post_order("FIT-9", [("SKU-00007", 1)])
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    try:
        log_in_supervisor(page, live_server.url)
        expect(page.locator("#waves tr[data-wave]").first).to_be_visible()
        expect(page.locator("header .tz")).to_contain_text("UTC")
        no_sideways_scroll(page)
        shot(page, f"dashboard-{width}")
        for path in ("/dashboard/waves", "/dashboard/devices", "/orders"):
            page.goto(live_server.url + path)
            no_sideways_scroll(page)
            if path == "/dashboard/waves":
                shot(page, f"waves-{width}")
    finally:
        context.close()

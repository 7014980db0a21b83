"""Log in as a newcomer would, in a real (headless) Chromium."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


@pytest.fixture
def db_url(sqlite_url):  # the subject here is the page, not the database backend
    return sqlite_url


def test_picker_logs_in_by_scanning_badge_on_a_phone(live_server, phone):
    phone.goto(live_server.url + "/")
    assert phone.url.endswith("/login")
    # A keyboard-wedge scanner types the code and then Enter.
    phone.locator("#badge").press_sequentially("BADGE-PICKER-1")
    phone.keyboard.press("Enter")
    phone.wait_for_url("**/handheld")
    assert phone.locator("#scan").is_visible()
    assert phone.evaluate("document.activeElement.id") == "scan"  # the wedge types here
    # The live connection comes up with the page session (Socket.IO shares the cookie).
    phone.wait_for_selector("#conn.online", timeout=10_000)


def test_supervisor_logs_in_with_password(live_server, desktop):
    desktop.goto(live_server.url + "/login")
    desktop.fill("#username", "sam")
    desktop.fill("#password", "supervisor-demo")
    desktop.click("#password-form button[type=submit]")
    desktop.wait_for_url("**/dashboard")
    assert "Wave dashboard" in desktop.content()


def test_wrong_badge_says_so(live_server, phone):
    phone.goto(live_server.url + "/login")
    phone.locator("#badge").press_sequentially("BADGE-WHO")
    phone.keyboard.press("Enter")
    phone.wait_for_selector(".flash.error")
    assert "Badge not recognised" in phone.locator(".flash.error").inner_text()
    assert phone.url.endswith("/login")


def test_a_handheld_whose_session_ended_elsewhere_goes_to_the_login_page(live_server, phone):
    """Logged out on another device: this handheld's socket is closed by the server, and the page
    says 'log in' instead of looking offline and queuing scans for a session that is gone."""
    from tests.factories import csrf_token, http_login

    phone.goto(live_server.url + "/login")
    phone.locator("#badge").press_sequentially("BADGE-PICKER-1")
    phone.keyboard.press("Enter")
    phone.wait_for_url("**/handheld")
    phone.wait_for_selector("#conn.online", timeout=10_000)
    other = http_login(live_server.url, badge="BADGE-PICKER-1")  # the same picker, elsewhere
    page = other.get(live_server.url + "/handheld", timeout=10).text
    other.post(live_server.url + "/logout", data={"csrf_token": csrf_token(page)}, timeout=10)
    phone.wait_for_url("**/login?next=%2Fhandheld", timeout=10_000)
    # and stays there: the log-in page of an ended session opens no socket, so the refusal of
    # one does not send it to the log-in page again and again (it did, with a longer next=)
    phone.wait_for_timeout(1500)
    assert phone.url.endswith("/login?next=%2Fhandheld"), phone.url
    assert phone.evaluate("typeof window.floorSocket") == "undefined"


def test_a_badge_scanner_that_ends_its_codes_with_tab_logs_the_picker_in(live_server, phone):
    """A scanner set to end codes with Tab: the badge sat in the field and Tab moved the focus
    to the Log in button; the picker had to find and press it. A Tab after a badge logs in."""
    phone.goto(live_server.url + "/login")
    phone.locator("#badge").press_sequentially("BADGE-PICKER-1")
    phone.keyboard.press("Tab")
    phone.wait_for_url("**/handheld", timeout=10_000)
    phone.wait_for_selector("#conn.online", timeout=10_000)

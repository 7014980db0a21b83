"""Walkthrough steps 3–5 in real headless Chromium: a supervisor at a desk (1280 wide) and a
picker on a phone-sized handheld, side by side, against a real server."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from tests.factories import gtin, log_in_picker, log_in_supervisor, scan

pytestmark = pytest.mark.browser


@pytest.fixture
def db_url(sqlite_url):  # the subject here is the screen, not the database backend
    return sqlite_url


def task_id(phone) -> str:
    return phone.locator("#task").get_attribute("data-task-id")


def test_supervisor_releases_a_wave_and_watches_the_picker_pick_it(
    live_server, desktop, phone, oms
):
    base = live_server.url
    # Step 3: the supervisor logs in and sees new orders arrive without reloading.
    log_in_supervisor(desktop, base)
    allocated = desktop.locator('#counts [data-status="allocated"] b')
    before = int(allocated.inner_text())
    oms.post_order("WALK-1", [("SKU-00005", 2), ("SKU-00120", 1)])
    expect(allocated).to_have_text(str(before + 1))
    expect(desktop.locator('#recent li[data-order="WALK-1"]')).to_contain_text("allocated")

    desktop.click("text=Orders")
    row = desktop.locator('#orders tr[data-order="WALK-1"]')
    expect(row).to_contain_text("allocated")
    expect(row).to_contain_text("ups / ground")
    desktop.click("#orders a:text('WALK-1')")
    expect(desktop.locator("h1")).to_contain_text("Order WALK-1")
    line = desktop.locator('#lines tr[data-line="1"]')
    expect(line).to_contain_text("SKU-00005")
    expect(line).to_contain_text(re.compile(r"[A-L]-\d\d-[AB]-1: 0/2"))  # reserved at a pick face
    expect(desktop.locator("#events")).to_contain_text("order.allocated")

    # Step 4, in parallel: the picker logs in by badge and waits for work.
    log_in_picker(phone, base)
    expect(phone.locator("#idle")).to_contain_text("No pick task")

    # The supervisor plans and releases the wave on the waves page.
    desktop.goto(base + "/dashboard/waves")
    desktop.check("input[name=release]")
    desktop.click("form[action$='/plan'] button[type=submit]")
    expect(desktop.locator(".flash.ok")).to_contain_text("Planned 1 wave(s)")

    # The picker's first task appears without a reload.
    expect(phone.locator("#task")).to_be_visible()
    expect(phone.locator("#task-location")).to_have_text(re.compile(r"[A-L]-\d\d-[AB]-1"))

    # The dashboard shows the wave with its progress bar and a running time to cut-off.
    desktop.click("text=← Dashboard")
    desktop.wait_for_selector("body[data-live]")
    desktop.evaluate("window.notReloaded = true")
    wave = desktop.locator("#waves tr[data-wave]").first
    progress = wave.locator(".ptext")
    expect(progress).to_contain_text("0 / 2 tasks")
    expect(wave.locator(".bar")).to_have_attribute("aria-valuenow", "0.0")
    countdown = wave.locator("td.countdown")
    expect(countdown).to_have_text(re.compile(r"^1:5\d:\d\d$"))  # due in 2 h, counting down
    first = countdown.inner_text()
    expect(countdown).not_to_have_text(first)
    expect(countdown).not_to_have_class(re.compile("late"))

    # A wrong item: red, with the reason.
    sku = phone.locator("#task-sku").inner_text()
    wrong = "SKU-00299" if sku != "SKU-00299" else "SKU-00298"
    scan(phone, gtin(wrong))
    expect(phone.locator("#feedback")).to_have_class(re.compile(r"\bbad\b"))
    expect(phone.locator("#feedback")).to_contain_text(f"Wrong item: that is {wrong}; pick {sku}")
    expect(phone.locator("#task-picked")).to_have_text("0")

    # The right items: green, counting up, then the next task; the dashboard moves meanwhile.
    for done in (1, 2):
        current = task_id(phone)
        sku = phone.locator("#task-sku").inner_text()
        qty = int(phone.locator("#task-qty").inner_text())
        for unit in range(1, qty + 1):
            scan(phone, gtin(sku) if done == 1 else sku)  # the EAN, or the SKU code typed
            if unit < qty:
                expect(phone.locator("#task-picked")).to_have_text(str(unit))
                expect(phone.locator("#feedback")).to_have_class(re.compile(r"\bok\b"))
        expect(progress).to_contain_text(f"{done} / 2 tasks")
        if done == 1:
            expect(phone.locator("#task")).not_to_have_attribute("data-task-id", current)
            expect(phone.locator("#feedback")).to_have_class(re.compile(r"\bok\b"))
            expect(wave.locator(".bar")).to_have_attribute("aria-valuenow", "50.0")
    expect(phone.locator("#idle")).to_contain_text("No pick task")
    expect(progress).to_contain_text("3 / 3 units · 100.0 %")
    expect(wave.locator(".pill")).to_have_text("completed")
    expect(desktop.locator('#recent li[data-order="WALK-1"]')).to_contain_text("picked")
    assert desktop.evaluate("window.notReloaded") is True
    assert oms.picked("WALK-1") == 3


def test_scans_made_offline_are_sent_once_when_back_online(live_server, phone, oms, supervisor):
    oms.post_order("OFF-1", [("SKU-00007", 2)])
    supervisor.plan_and_release()
    log_in_picker(phone, live_server.url)
    expect(phone.locator("#task-sku")).to_have_text("SKU-00007")

    phone.context.set_offline(True)
    expect(phone.locator("#conn")).to_have_class(re.compile("offline"))
    scan(phone, gtin("SKU-00007"))
    expect(phone.locator("#queue")).to_have_text("1 scan waiting to be sent")
    expect(phone.locator("#feedback")).to_contain_text("Offline")
    # The answer to a send can be lost too: the handheld then sends the same scan again.
    phone.evaluate(
        """() => { const k = Object.keys(localStorage).find((k) => k.startsWith('floor.queue'));
                   const q = JSON.parse(localStorage.getItem(k)); q.push(q[0]);
                   localStorage.setItem(k, JSON.stringify(q)); }"""
    )
    assert oms.picked("OFF-1") == 0

    phone.context.set_offline(False)
    expect(phone.locator("#queue")).to_be_hidden()
    expect(phone.locator("#feedback")).to_contain_text("Already received")
    expect(phone.locator("#task-picked")).to_have_text("1")
    assert oms.picked("OFF-1") == 1  # applied once, not twice


def test_two_tabs_of_one_picker_send_the_shared_queue_once_and_both_catch_up(
    live_server, phone, oms, supervisor
):
    oms.post_order("TABS-1", [("SKU-00007", 3)])
    supervisor.plan_and_release()
    log_in_picker(phone, live_server.url)
    expect(phone.locator("#task-sku")).to_have_text("SKU-00007")
    other = phone.context.new_page()  # a second tab: the same cookie, the same local storage
    other.goto(live_server.url + "/handheld")
    expect(other.locator("#task-sku")).to_have_text("SKU-00007")

    phone.context.set_offline(True)
    for _ in range(2):
        scan(phone, gtin("SKU-00007"))
    expect(phone.locator("#queue")).to_have_text("2 scans waiting to be sent")
    phone.context.set_offline(False)  # both tabs come back and send from the one queue
    for tab in (phone, other):
        expect(tab.locator("#queue")).to_be_hidden()
    deadline = time.monotonic() + 10
    while oms.picked("TABS-1") < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1)  # a scan sent twice would have been counted by now
    assert oms.picked("TABS-1") == 2  # each scan once: none dropped, none twice
    for tab in (phone, other):
        tab.reload()
        expect(tab.locator("#task-picked")).to_have_text("2")


def test_empty_location_moves_the_task_or_becomes_an_exception_the_supervisor_resolves(
    live_server, desktop, phone, oms, supervisor
):
    base = live_server.url
    # SKU-00002 has a second pick face; SKU-00250 is stocked at one location only.
    oms.post_order("SHORT-1", [("SKU-00002", 1)])
    oms.post_order("SHORT-2", [("SKU-00250", 1)])
    supervisor.plan_and_release()
    log_in_supervisor(desktop, base)
    log_in_picker(phone, base)
    expect(phone.locator("#task")).to_be_visible()

    first_seen: dict[str, str] = {}  # sku -> the location it was first asked for at
    for _ in range(5):
        if phone.locator("#task").is_hidden():
            break
        sku = phone.locator("#task-sku").inner_text()
        where = phone.locator("#task-location").inner_text()
        if sku in first_seen:  # the task came back: at the other pick face
            assert sku == "SKU-00002" and where != first_seen[sku]
            scan(phone, gtin(sku))
            expect(phone.locator("#feedback")).to_contain_text("task done")
            continue
        first_seen[sku] = where
        phone.click("text=Problem at this location?")
        phone.click("text=Location empty")
        expect(phone.locator("#feedback")).to_have_class(re.compile(r"\binfo\b"))
        if sku == "SKU-00002":
            expect(phone.locator("#feedback")).to_contain_text("Reported: re-routed: 1 new task")
            # The emptied pick face asks for stock from the reserve, live on the dashboard.
            refill = desktop.locator("#replenishments tr[data-replenishment]")
            expect(refill).to_contain_text("SKU-00002")
            expect(refill).to_contain_text(f"→ {where}")
        else:
            assert sku == "SKU-00250"
            expect(phone.locator("#feedback")).to_contain_text("short 1; supervisor told")
            row = desktop.locator("#exceptions tr[data-exception]")
            expect(row).to_have_count(1)
            expect(row).to_contain_text("short pick")
            expect(row).to_contain_text("SHORT-2")
            expect(row).to_contain_text(f"SKU-00250 short 1 (empty at {where})")
    expect(phone.locator("#idle")).to_contain_text("No pick task")
    assert set(first_seen) == {"SKU-00002", "SKU-00250"}
    assert oms.picked("SHORT-1") == 1  # picked at the second location
    assert oms.order("SHORT-2")["lines"][0]["short"] == 1

    # The supervisor confirms the refill and resolves the exception on the dashboard; both leave
    # their lists without a reload.
    desktop.locator("#replenishments button:text('Done')").click()
    expect(desktop.locator("#replenishments tr.empty")).to_be_visible()
    row = desktop.locator("#exceptions tr[data-exception]")
    row.locator("input[name=resolution]").fill("shipped partial, OMS told")
    row.locator("button:text('Resolve')").click()
    expect(desktop.locator("#exceptions tr[data-exception]")).to_have_count(0)
    expect(desktop.locator("#exceptions tr.empty")).to_be_visible()
    assert supervisor.get("/exceptions?status=open")["exceptions"] == []
    resolved = supervisor.get("/exceptions?status=resolved")["exceptions"]
    assert [e["resolution"] for e in resolved] == ["shipped partial, OMS told"]


def test_the_picker_reads_why_a_task_went_in_words(live_server, phone, oms, supervisor):
    """The OMS cancels the order a picker is on: the handheld said "This task was canceled
    (order_canceled)." — the event's code, underscore and all (a canceled wave read "wave
    canceled"). It reads as words now."""
    base = live_server.url
    oms.post_order("GONE-1", [("SKU-00005", 1)])
    supervisor.plan_and_release()
    log_in_picker(phone, base)
    expect(phone.locator("#task-order")).to_have_text("GONE-1")
    # On log-in the handheld asks for its task more than once (connect, task.available); let
    # the last answer land before the cancel, so the event finds the task on the screen.
    phone.wait_for_timeout(500)
    r = oms.http.post(f"{oms.base}/orders/GONE-1/cancel", json={"reason": "customer"})
    assert r.status_code == 200, r.text
    expect(phone.locator("#feedback")).to_have_text("This task was canceled (order canceled).")
    expect(phone.locator("#idle")).to_be_visible()

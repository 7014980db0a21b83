"""The supervisor's shift in real headless Chromium: handhelds pick while the dashboard is open;
the people table and the wave's projected finish move without a reload; a reassignment moves
the list and the first handheld is told at once; the CSV exports hold the page's figures."""

from __future__ import annotations

import csv
import io
import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from core.db import unit_of_work
from core.users import AuditEntry
from tests.dash.conftest import DUE_IN
from tests.factories import gtin, log_in_picker, log_in_supervisor, order_payload, scan

pytestmark = pytest.mark.browser


@pytest.fixture
def db_url(sqlite_url):  # the subject here is the screen, not the database backend
    return sqlite_url


@pytest.fixture
def phone2(browser):
    context = browser.new_context(viewport={"width": 400, "height": 760}, has_touch=True)
    yield context.new_page()
    context.close()


def pick_current_task(phone) -> None:
    sku = phone.locator("#task-sku").inner_text()
    qty = int(phone.locator("#task-qty").inner_text())
    for _ in range(qty):
        scan(phone, gtin(sku))


def js(number: str) -> str:
    """A CSV number as the page prints it (JavaScript drops a trailing ``.0``)."""
    return f"{float(number):g}"


def read_csv(page, url: str) -> list[list[str]]:
    r = page.request.get(url)
    assert r.ok and r.headers["content-type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(r.text())))


def test_people_projection_reassignment_and_exports_live(
    live_server, desktop, phone, phone2, oms, supervisor, sessions
):
    base = live_server.url
    oms.post_order("SHIFT-1", [("SKU-00005", 2), ("SKU-00006", 1), ("SKU-00007", 1)])
    supervisor.plan_and_release()
    log_in_supervisor(desktop, base)
    desktop.evaluate("window.notReloaded = true")
    wave = desktop.locator("#waves tr[data-wave]").first

    def person(name: str):
        who = desktop.locator("td.who", has_text=name)
        return desktop.locator("#people tr[data-role=picker]", has=who)

    pat, pia = person("Pat"), person("Pia")
    expect(pat.locator(".work")).to_have_text("—")
    # nobody on it, the truck 2 h away: one picker at the floor's rate would make it easily
    expect(wave.locator("td.proj")).to_contain_text("not started")
    expect(wave.locator("td.proj")).to_contain_text("nobody on it yet; time to spare")

    # Pat takes the list: the people table shows it without a reload.
    log_in_picker(phone, base)
    expect(phone.locator("#task")).to_be_visible()
    expect(pat.locator(".work")).to_contain_text(re.compile(r"list \d+ · W"))
    expect(wave.locator("td.proj")).to_contain_text("no pick rate yet")

    # Pat picks the first task: rates, idle time and the projected finish move.
    pick_current_task(phone)
    expect(pat.locator(".hour")).not_to_have_text("0.0 · 0.0")
    expect(pat.locator(".acc")).to_have_text("100 %")
    expect(pat.locator(".where")).to_have_text(re.compile(r"[A-L]-\d\d-[AB]-1"))
    proj = wave.locator("td.proj")
    expect(proj).to_contain_text("on time")  # ~12 u/h, a couple of units left, truck in 2 h
    expect(proj).to_contain_text("1 picker(s)")

    # Drill into the wave: the list, who holds it and where he is.
    wave.locator("button[data-drill]").click()
    drill = desktop.locator("#drill")
    expect(drill).to_be_visible()
    expect(drill.locator("tbody tr").first.locator(".holder")).to_have_text("Pat")

    # Pia logs in: nothing for her. The supervisor moves Pat's list to her.
    log_in_picker(phone2, base, badge="BADGE-PICKER-2")
    # (a second browser logging in on a loaded CI machine: more than expect's 5 s default)
    expect(phone2.locator("#idle")).to_contain_text("No pick task", timeout=15_000)
    list_id = pat.get_attribute("data-list")
    assert list_id
    pat.locator("select").select_option(label="Pia (pia)")
    pat.locator("form.reassign button").click()
    expect(phone.locator("#feedback")).to_contain_text(f"Pick list {list_id}")
    expect(phone.locator("#feedback")).to_contain_text("was moved to pia by sam")
    expect(phone.locator("#task")).to_be_hidden()
    expect(phone2.locator("#task")).to_be_visible()
    expect(pia.locator(".work")).to_contain_text(f"list {list_id} ")
    expect(pat.locator(".work")).to_have_text("—")
    expect(drill.locator("tbody tr").first.locator(".holder")).to_have_text("Pia")
    with unit_of_work(sessions) as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "pick_list.reassign")).one()
        assert entry.actor == "sam" and entry.entity_id == list_id
        assert entry.details["from"] == "pat" and entry.details["to"] == "pia"

    # Pia finishes the list; the wave is done and the figures follow.
    while phone2.locator("#task").is_visible():
        before = phone2.locator("#task").get_attribute("data-task-id")
        pick_current_task(phone2)
        done = phone2.locator(f'#task[data-task-id="{before}"]:not([hidden])')
        expect(done).to_have_count(0)  # the next task, or none left
    expect(wave.locator(".pill").first).to_have_text("completed")

    # The CSV exports hold the page's figures.
    day = {r[0]: r[1] for r in read_csv(desktop, base + "/dashboard/figures.csv") if len(r) == 2}
    assert day["units"] == "4"  # 2 + 1 + 1, by two people
    expect(desktop.locator('#figures dd[data-fig="units"]')).to_have_text(day["units"])
    for key in ("received", "picked"):
        expect(desktop.locator(f'#figures dd[data-fig="orders.{key}"]')).to_have_text(
            day[f"orders_{key}"]
        )
    expect(desktop.locator('#figures dd[data-fig="first_pass_accuracy_pct"]')).to_have_text(
        js(day["first_pass_accuracy_pct"]) + " %"
    )
    bars = desktop.locator("#uph-chart rect.col")
    expect(bars).to_have_count(24)
    hourly = {r[0]: r[1] for r in read_csv(desktop, base + "/dashboard/figures.csv") if len(r) == 4}
    drawn = {
        (b.get_attribute("data-label") or "") + ":00": b.get_attribute("data-value")
        for b in bars.all()
    }
    assert {h: v for h, v in hourly.items() if h != "hour_local"} == drawn
    expect(desktop.locator("#figures h3")).to_have_text("Units per hour (UTC)")

    people = read_csv(desktop, base + "/dashboard/people.csv")
    header, rows = people[0], {r[0]: dict(zip(people[0], r, strict=True)) for r in people[1:]}
    assert header[0] == "username" and {"pat", "pia", "paco"} <= set(rows)
    for name, row in (("pat", pat), ("pia", pia)):
        expect(row.locator(".shift")).to_have_text(
            f"{js(rows[name]['lines_per_h_shift'])} · {js(rows[name]['units_per_h_shift'])}"
        )
        expect(row.locator(".acc")).to_have_text(js(rows[name]["accuracy_pct"]) + " %")
    assert desktop.evaluate("window.notReloaded") is True


LINES_OF = """(el) => {
  const range = document.createRange();
  range.selectNodeContents(el);
  const tops = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
  return {lines: tops.size, words: el.innerText.trim().split(/\\s+/).length};
}"""


def test_wave_table_headers_and_buttons_break_between_words_only(
    live_server, desktop, oms, supervisor
):
    """At a desk (1280 wide) with two waves, the wave table's "Lists" button read L/i/s/t/s down
    the cell and "Time to cut-off" broke inside its words: every cell may break anywhere (so a
    long name never scrolls a phone sideways), which also let the browser shrink headers and
    buttons to one letter. Headers and buttons now break between words, or not at all."""
    base = live_server.url
    oms.post_order("NARROW-1", [("SKU-00005", 1)])
    supervisor.plan_and_release()
    oms.post_order("NARROW-2", [("SKU-00006", 1)])
    supervisor.plan_and_release()
    log_in_supervisor(desktop, base)
    button = desktop.locator("#waves button.drill").first
    expect(button).to_have_text("Lists")
    assert button.evaluate(LINES_OF)["lines"] == 1
    for th in desktop.locator("#waves thead th").all():
        shape = th.evaluate(LINES_OF)
        assert shape["lines"] <= shape["words"], (th.inner_text(), shape)


@pytest.mark.parametrize("width", [1280, 400])
def test_an_order_with_the_longest_number_fits_the_screen(live_server, browser, oms, width):
    """The OMS may send a 64-character order number: the order page's heading did not wrap and
    pushed the page 300 px past a desk's screen (and a phone's), and on the dashboard the newest
    orders' list ran it out of its panel (a flex row does not shrink below its longest word);
    a 200-letter ship-to name did the same to the order page's facts. All wrap now."""
    base = live_server.url
    long_id = "SO-" + "7" * 61
    body = order_payload(long_id, [("SKU-00005", 1)], due_in=DUE_IN)
    body["ship_to"]["name"] = "W" * 200  # a name without a space, as long as the API takes
    assert oms.http.post(oms.base + "/orders", json=body).status_code == 201
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    try:
        log_in_supervisor(page, base)
        page.goto(f"{base}/orders/{long_id}")
        expect(page.locator("h1")).to_contain_text(long_id[:20])
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.goto(f"{base}/dashboard")  # the newest orders: the number beside its status
        expect(page.locator(f'#recent li[data-order="{long_id}"]')).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= width
    finally:
        context.close()

"""In a real (headless) Chromium: a packer packs a tote and closes the package; the label reaches
the station's virtual Zebra (started as ``serve`` starts it), the pack page shows "printed" live,
and ``/printers`` shows the label as a picture. Screenshots go to docs/screenshots/."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from core.db import unit_of_work
from floor.fulfilment.models import Package
from floor.site.layout import Sku, SkuGtin
from orders.models import Order
from tests.factories import log_in_packer
from tests.printing.flow import picked_order

pytestmark = pytest.mark.browser
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def db_url(sqlite_url):  # the subject here is the page, not the database backend
    return sqlite_url


@pytest.fixture
def printing_app(app):
    from web.printing_setup import start_printing

    start_printing(app)  # what `serve` does: a virtual Zebra per station, then the worker
    yield app
    app.extensions["floor"].print_worker.stop()
    for zebra in app.extensions["virtual_zebras"].values():
        zebra.stop()


def _pack_and_close(app: Any, base: str, page: Any, end: str = "Enter") -> str:
    """Paco packs a picked order at PACK-01 by scan (each code ended by ``end``, as the scanner
    is set) and closes the package; its order id."""
    sessions = app.extensions["floor"].sessions
    external_id, tote = picked_order(sessions, [("SKU-00005", 2), ("SKU-00006", 1)])
    with unit_of_work(sessions) as s:
        order = s.scalars(select(Order).where(Order.external_id == external_id)).one()
        scans = []
        for line in order.lines:
            gtin = s.scalar(
                select(SkuGtin.gtin).join(Sku).where(Sku.id == line.sku_id).order_by(SkuGtin.id)
            )
            scans += [gtin] * line.quantity
    log_in_packer(page, base)
    for code in [tote, *scans]:
        page.locator("#scan").fill(code)
        page.keyboard.press(end)
        page.wait_for_timeout(150)
        assert page.evaluate("document.activeElement.id") == "scan"  # ready for the next code
    page.wait_for_selector("#close:not([disabled])")
    page.fill("#weight", "640")  # no scale at this station: the packer types the weight
    page.click("#close")
    return external_id


def test_pack_close_prints_and_printers_page_shows_the_label(printing_app, live_server, desktop):
    page = desktop
    external_id = _pack_and_close(printing_app, live_server.url, page)
    page.wait_for_selector("#shipped:not([hidden])")
    # Locator assertions, not wait_for_function: the page's CSP forbids the eval the latter needs.
    expect(page.locator("#print-state")).to_have_text("printed", timeout=15_000)
    _wait_until_drawn(page.locator("#label-picture"))
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "pack-label-printed.png"), full_page=True)

    zebra = printing_app.extensions["virtual_zebras"]["PACK-01"]
    assert len(zebra.labels) == 1 and external_id in zebra.labels[0]

    page.goto(live_server.url + "/printers?station=PACK-01")
    received = page.locator("img.label-png.received")
    assert received.count() == 1
    for i in range(page.locator("img.label-png").count()):
        _wait_until_drawn(page.locator("img.label-png").nth(i))
    assert page.locator(".job .job-status").first.inner_text().lower() == "printed"
    page.screenshot(path=str(SHOTS / "printers-page.png"), full_page=True)


def test_a_scanner_that_ends_its_codes_with_tab_packs_too(printing_app, live_server, desktop):
    """Scanners set to end a code with Tab instead of Enter: the pack page took only Enter, so
    the tote's code sat in the field and Tab moved the focus on; nothing was packed."""
    page = desktop
    _pack_and_close(printing_app, live_server.url, page, end="Tab")
    page.wait_for_selector("#shipped:not([hidden])")
    expect(page.locator("#print-state")).to_have_text("printed", timeout=15_000)


def test_the_label_shows_printed_when_the_pack_script_arrives_late(
    printing_app, live_server, desktop
):
    """pack.js arriving after the socket connected never joined the station's room: the
    label's print.job events went to nobody and the page said "queued" for good (CI, stop 22).
    """
    from tests.dash.test_late_page_script import arrives_late

    arrives_late(desktop, "pack.js")
    _pack_and_close(printing_app, live_server.url, desktop)
    desktop.wait_for_selector("#shipped:not([hidden])")
    expect(desktop.locator("#print-state")).to_have_text("printed", timeout=15_000)


def _wait_until_drawn(img: Any, timeout_s: float = 10.0) -> None:
    """Until the browser has decoded the picture (a broken image has naturalWidth 0)."""
    deadline = time.monotonic() + timeout_s
    while img.evaluate("el => el.naturalWidth") == 0:
        assert time.monotonic() < deadline, "the label picture was never drawn"
        time.sleep(0.1)


def test_a_label_printed_before_the_close_answers_still_shows_printed(
    printing_app, live_server, desktop
):
    """The print path can beat the HTTP answer: the label's ``printed`` event reaches the page
    before the close's answer names the job. The page keeps such events and shows the newest."""
    endpoint = next(
        r.endpoint for r in printing_app.url_map.iter_rules() if r.rule == "/pack/close"
    )
    close = printing_app.view_functions[endpoint]
    zebra = printing_app.extensions["virtual_zebras"]["PACK-01"]

    def slow_answer(*args: Any, **kwargs: Any) -> Any:
        answer = close(*args, **kwargs)
        zebra.wait_for_labels(1, timeout_s=10)  # printed (and announced) before we answer
        time.sleep(0.3)
        return answer

    printing_app.view_functions[endpoint] = slow_answer
    _pack_and_close(printing_app, live_server.url, desktop)
    desktop.wait_for_selector("#shipped:not([hidden])")
    expect(desktop.locator("#print-state")).to_have_text("printed", timeout=5_000)


def test_a_printer_out_of_paper_holds_the_label_live_and_prints_it_once_refilled(
    printing_app, live_server, desktop
):
    """The packer reads, live, why the label waits (in words, not the printer's code
    "paper_out") and that it prints by itself; refilled, it prints once."""
    zebra = printing_app.extensions["virtual_zebras"]["PACK-01"]
    zebra.set_status(paper_out=True)
    _pack_and_close(printing_app, live_server.url, desktop)
    desktop.wait_for_selector("#shipped:not([hidden])")
    expect(desktop.locator("#print-state")).to_have_text("held", timeout=15_000)
    expect(desktop.locator("#print-detail")).to_have_text(
        "printer out of paper: the label prints by itself once the printer is ready"
    )
    assert zebra.labels == []
    zebra.set_status(paper_out=False)
    expect(desktop.locator("#print-state")).to_have_text("printed", timeout=30_000)
    expect(desktop.locator("#print-detail")).to_have_text("")
    time.sleep(1)  # nothing more reaches the printer
    assert len(zebra.labels) == 1


def test_a_label_that_prints_while_the_pack_page_reconnects_shows_printed(
    printing_app, live_server, desktop
):
    """The pack page lost its connection while the label was held, and came back as the
    printer was refilled. On reconnect it read the job's state over HTTP while (re)joining the
    station's room: that answer - "held", read before the label printed - arrived after the
    live "printed" and put the page back on "held" for good (and an event sent before the
    room was joined again was lost). The page now joins first, then reads, and drops an
    answer older than an event it heard meanwhile."""
    zebra = printing_app.extensions["virtual_zebras"]["PACK-01"]
    zebra.set_status(paper_out=True)
    _pack_and_close(printing_app, live_server.url, desktop)
    expect(desktop.locator("#print-state")).to_have_text("held", timeout=15_000)
    asked: list[Any] = []  # the job's state as the server answered it, held back from the page

    def hold_back(route: Any) -> None:
        asked.append((route, route.fetch()))

    desktop.route(re.compile(r"/printers/jobs/[^/.]+$"), hold_back)
    desktop.context.set_offline(True)
    expect(desktop.locator("#conn")).to_have_text("offline", timeout=10_000)
    desktop.context.set_offline(False)
    expect(desktop.locator("#conn")).to_have_text("online", timeout=15_000)
    deadline = time.monotonic() + 10
    while not asked:  # the page reads the job's state once it is back in the room
        assert time.monotonic() < deadline, "the page did not ask for the job's state"
        desktop.wait_for_timeout(50)
    route, answer = asked[0]
    assert answer.json()["status"] == "held"
    zebra.set_status(paper_out=False)
    expect(desktop.locator("#print-state")).to_have_text("printed", timeout=30_000)
    with desktop.expect_response(re.compile(r"/printers/jobs/[^/.]+$")):
        route.fulfill(response=answer)  # the older answer arrives after the live "printed"
    desktop.wait_for_timeout(300)  # (the page has read it)
    expect(desktop.locator("#print-state")).to_have_text("printed")
    assert len(zebra.labels) == 1


def test_a_close_whose_answer_is_lost_shows_the_carton_it_made(printing_app, live_server, desktop):
    """The network drops after the server made the carton and before its answer arrived: the
    station's state moves on (nothing open), so the page could not even press Close again. It
    asks again with the same close_id and shows the carton's SSCC and label; one carton, one
    label."""
    lost = []

    def drop_the_answer(route: Any) -> None:
        if lost:
            route.continue_()
            return
        lost.append(route.fetch())  # the server closes the package...
        route.abort("connectionreset")  # ...and its answer never reaches the page

    desktop.route("**/pack/close", drop_the_answer)
    external_id = _pack_and_close(printing_app, live_server.url, desktop)
    desktop.wait_for_selector("#shipped:not([hidden])", timeout=10_000)
    assert lost[0].status == 201
    made = lost[0].json()["sscc"]
    expect(desktop.locator("#sscc")).to_have_text(made)
    expect(desktop.locator("#feedback")).to_have_text("Package closed: shipped")
    expect(desktop.locator("#print-state")).to_have_text("printed", timeout=15_000)
    sessions = printing_app.extensions["floor"].sessions
    with unit_of_work(sessions) as s:
        order = s.scalars(select(Order).where(Order.external_id == external_id)).one()
        assert list(s.scalars(select(Package.sscc).where(Package.order_id == order.id))) == [made]
    zebra = printing_app.extensions["virtual_zebras"]["PACK-01"]
    time.sleep(1)
    assert len(zebra.labels) == 1


def test_a_reprint_after_a_refused_one_says_it_is_printing(printing_app, live_server, desktop):
    """Reprint without a reason is refused in red; with one, the page says the label prints
    again (the refusal no longer shows, as if the reprint had failed too)."""
    _pack_and_close(printing_app, live_server.url, desktop)
    expect(desktop.locator("#print-state")).to_have_text("printed", timeout=15_000)
    desktop.click("#print-reprint")
    expect(desktop.locator("#feedback.bad")).to_have_text("say why the label is printed again")
    desktop.fill("#print-reason", "label smudged")
    desktop.click("#print-reprint")
    expect(desktop.locator("#feedback.ok")).to_have_text("Printing the label again")
    expect(desktop.locator("#print-state")).to_have_text("printed", timeout=15_000)
    zebra = printing_app.extensions["virtual_zebras"]["PACK-01"]
    zebra.wait_for_labels(2, timeout_s=10)
    assert len(zebra.labels) == 2


def test_another_station_chosen_after_a_close_no_longer_shows_that_carton(
    printing_app, live_server, desktop
):
    """The packer closed a carton at PACK-01, then chose PACK-02: the page kept PACK-01's
    carton and label with its *Reprint* - refused there (403 other_station, "a supervisor can
    act on it") - and, out of PACK-01's room, the label's state no longer moved."""
    _pack_and_close(printing_app, live_server.url, desktop)
    expect(desktop.locator("#print-state")).to_have_text("printed", timeout=15_000)
    desktop.select_option("#station", "PACK-02")
    expect(desktop.locator("#shipped")).to_be_hidden()
    desktop.select_option("#station", "PACK-01")  # back: nothing of the other station's shows
    expect(desktop.locator("#shipped")).to_be_hidden()
    expect(desktop.locator("#scan-label")).to_have_text(
        "Scan a tote (or type an order number), then Enter"
    )


def test_the_printers_page_catches_up_on_jobs_printed_while_it_was_offline(
    printing_app, live_server, desktop, browser
):
    """The supervisor's /printers lost its connection while a packer closed a package: once
    back online it shows the label's job, not the list from before."""
    from tests.factories import log_in_supervisor

    log_in_supervisor(desktop, live_server.url)
    desktop.goto(live_server.url + "/printers?station=PACK-01")
    expect(desktop.locator("#conn")).to_have_text("online", timeout=10_000)
    assert desktop.locator("figure.job").count() == 0

    desktop.context.set_offline(True)
    expect(desktop.locator("#conn")).to_have_text("offline", timeout=10_000)
    packer = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        _pack_and_close(printing_app, live_server.url, packer.new_page())
        printing_app.extensions["virtual_zebras"]["PACK-01"].wait_for_labels(1, timeout_s=10)
        time.sleep(0.5)  # the job's events went out while the page could not hear them
    finally:
        packer.close()
    desktop.context.set_offline(False)
    expect(desktop.locator("#conn")).to_have_text("online", timeout=15_000)
    expect(desktop.locator("figure.job .job-status")).to_have_text("printed", timeout=5_000)

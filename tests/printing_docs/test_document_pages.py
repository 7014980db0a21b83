"""The documents a supervisor downloads, read back as a person reads them: the pick list of a
planned cart lists its stops in route order; the location sheet carries each location's check
digits; a badge sheet issues badges that log in (and retires the old ones); the packing slip
names the order's lines. Roles are checked on every download."""

from __future__ import annotations

from urllib.parse import quote

from sqlalchemy import select
from werkzeug.http import parse_options_header

from core.db import unit_of_work
from floor.fulfilment.models import PickList, PickTask
from floor.fulfilment.waves.planning import RuleSpec, plan_waves
from floor.site.layout import Location
from tests.factories import add_order, csrf_token, http_login, login, page_csrf, supervisor
from tests.printing_docs.pdfs import page_texts


def _text(pdf: bytes) -> str:
    return "\n".join(page_texts(pdf))


def test_pick_list_pdf_lists_the_cart_in_route_order(client, sessions):
    with unit_of_work(sessions) as s:
        add_order(s, [("SKU-00200", 2), ("SKU-00150", 1), ("SKU-00100", 3)])
        result = plan_waves(s, RuleSpec(split_by_zone=False), supervisor(s))
        [pick_list] = s.scalars(select(PickList).where(PickList.wave_id.in_(result.wave_ids)))
        stops = s.execute(
            select(Location.code, PickTask.quantity)
            .join(Location, Location.id == PickTask.location_id)
            .where(PickTask.pick_list_id == pick_list.id)
            .order_by(PickTask.seq)
        ).all()
        list_id = pick_list.id
    assert client.get(f"/documents/pick-lists/{list_id}.pdf").status_code in (302, 401)
    login(client, username="sam", password="supervisor-demo")
    page = client.get("/documents").get_data(as_text=True)
    assert f"/documents/pick-lists/{list_id}.pdf" in page
    response = client.get(f"/documents/pick-lists/{list_id}.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    text = _text(response.data)
    assert f"PL-{list_id:06d}" in text
    positions = [text.index(code) for code, _ in stops]
    assert positions == sorted(positions), "stops are not printed in route order"
    assert client.get("/documents/pick-lists/999999.pdf").status_code == 404


def test_location_label_sheet_prints_check_digits(client, sessions):
    with unit_of_work(sessions) as s:
        wanted = dict(
            s.execute(
                select(Location.code, Location.check_code).where(Location.code.like("A-01-%"))
            ).all()
        )
    assert wanted
    login(client, username="sam", password="supervisor-demo")
    response = client.get("/documents/location-labels.pdf?prefix=A-01")
    assert response.status_code == 200
    text = _text(response.data)
    for code, check in wanted.items():
        assert code in text and check in text
    bad = client.get("/documents/location-labels.pdf?prefix=%27;DROP")
    assert bad.status_code == 422 and bad.get_json()["error"]["code"] == "invalid_prefix"


def test_badge_sheet_is_admin_only_and_issues_working_badges(client, sessions, app):
    with unit_of_work(sessions) as s:
        from core.users import User

        pat = s.scalar(select(User).where(User.username == "pat"))
        assert pat is not None
        pat_id = pat.id
        ada_id = s.scalar(select(User.id).where(User.username == "ada"))
    before = app.test_client()
    login(before, badge="BADGE-PICKER-1")
    assert before.get("/handheld").status_code == 200
    socketio = app.extensions["floor"].socketio
    handheld = socketio.test_client(app, namespace="/floor", flask_test_client=before)
    assert handheld.is_connected("/floor")
    login(client, username="sam", password="supervisor-demo")
    token = page_csrf(client, "/documents")
    refused = client.post("/documents/badges.pdf", data={"csrf_token": token, "user_id": pat_id})
    assert refused.status_code == 403
    client.post("/logout", data={"csrf_token": token})

    login(client, username="ada", password="admin-demo")
    page = client.get("/documents").get_data(as_text=True)
    token = csrf_token(page)
    assert "Issue and print badges" in page
    response = client.post(
        "/documents/badges.pdf", data={"csrf_token": token, "user_id": [pat_id, ada_id]}
    )
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert "KEEP SAFE" in _text(response.data).upper()
    # The old badge no longer opens a session.
    other = app.test_client()
    login(other, badge="BADGE-PICKER-1")
    assert other.get("/handheld").status_code != 200
    # Nor does the session someone opened with it (a lost card is why badges are reissued),
    # and its live socket is closed.
    assert before.get("/handheld").status_code == 302
    assert not handheld.is_connected("/floor")
    # A desk user's badge never opened a session alone: the admin's own session goes on.
    assert client.get("/documents").status_code == 200


def test_packing_slip_names_the_order_lines(client, sessions):
    with unit_of_work(sessions) as s:
        order = add_order(s, [("SKU-00120", 2)], external_id="SLIP-1")
        assert order.id
    assert client.get("/documents/orders/SLIP-1/packing-slip.pdf").status_code in (302, 401)
    login(client, username="paco", password="packer-demo")
    response = client.get("/documents/orders/SLIP-1/packing-slip.pdf")
    assert response.status_code == 200
    text = _text(response.data)
    assert "SLIP-1" in text and "SKU-00120" in text
    assert client.get("/documents/orders/NOPE/packing-slip.pdf").status_code == 404


def test_a_slip_printed_before_packing_claims_no_shortage(client, sessions):
    """The slip of an order not packed yet marked every line "short n" and said "0 units
    shipped": printed before packing (a packer's checklist, a slip put in the carton first) it
    told the customer that nothing had come. Now it says the order is not packed yet and shows
    ordered, picked and packed so far, with nothing short; once packed it is the shipment's."""
    from tests.factories import picked_order
    from tests.printing.flow import Packer
    from tests.printing_docs.pdfs import page_lines

    external_id, _ = picked_order(sessions, [("SKU-00120", 2), ("SKU-00100", 1)])
    packer = Packer(client)
    url = f"/documents/orders/{external_id}/packing-slip.pdf"
    before = client.get(url)
    assert before.status_code == 200
    text = _text(before.data)
    assert "short" not in text and "shipped" not in text
    assert "NOT YET PACKED" in text and "3 units packed so far" not in text
    assert "0 units packed so far" in text
    lines = page_lines(before.data)
    assert lines[lines.index("Description") + 1 : lines.index("Description") + 4] == [
        "Ordered",
        "Picked",
        "Packed",
    ]
    for sku, ordered in (("SKU-00120", 2), ("SKU-00100", 1)):
        at = lines.index(sku)
        assert lines[at + 2 : at + 5] == [str(ordered), str(ordered), "0"], lines[at : at + 5]

    packer.close(external_id)
    text = _text(client.get(url).data)
    assert "NOT YET PACKED" not in text and "short" not in text
    assert "3 units shipped" in text and "Shipped" in text


def test_packing_slip_of_any_order_id_downloads_over_http(live_server, sessions):
    """An order id beyond Latin-1 (the OMS may send any text) broke the response after its
    status line (a header is sent as Latin-1): the packer's browser got no answer. A ``"``
    in the id ended the quoted file name early."""
    ids = ["注文-1", 'SO"1;x=y', "Café-7"]
    with unit_of_work(sessions) as s:
        for external_id in ids:
            add_order(s, [("SKU-00120", 1)], external_id=external_id)
    http = http_login(live_server.url, username="paco", password="packer-demo")
    for external_id in ids:
        r = http.get(
            f"{live_server.url}/documents/orders/{quote(external_id)}/packing-slip.pdf",
            timeout=10,
        )
        assert r.status_code == 200 and r.content.startswith(b"%PDF"), external_id
        disposition, names = parse_options_header(r.headers["Content-Disposition"])
        assert disposition == "inline"
        assert names == {"filename": f"packing-slip-{external_id}.pdf"}  # filename* decoded


def test_pick_list_pdf_lists_only_what_is_left_to_walk_to(client, sessions):
    """A list re-routed after "location empty" printed the empty location as a stop beside its
    replacement (one unit counted twice: "3 stops · 4 units" for a cart of 3), and a canceled
    wave's list was still offered on /documents and printed as work to pick. Now a short stop
    counts only what was picked there, a canceled task is no stop, and a canceled list is not
    offered (its PDF: 422 empty_document)."""
    from floor.fulfilment.picking.scans import next_task
    from floor.fulfilment.picking.short_picks import report_short
    from floor.fulfilment.waves.planning import cancel_wave, release_wave
    from tests.factories import actor_for

    with unit_of_work(sessions) as s:
        add_order(s, [("SKU-00001", 2), ("SKU-00120", 1)])
        [wave] = plan_waves(s, RuleSpec(split_by_zone=False), supervisor(s)).waves
        release_wave(s, wave.id, supervisor(s))
        pat = actor_for(s, "pat")
        task = next_task(s, pat)
        while task.sku.code != "SKU-00001":  # the SKU with a second pick face
            task = next_task(s, pat)
        empty_at = task.location.code
        out = report_short(s, pat, task.id, "empty", "empty-1")
        [replacement] = s.scalars(
            select(PickTask).where(PickTask.id.in_(out.extra["replacements"]))
        )
        elsewhere, live_list = replacement.location.code, task.pick_list_id
        add_order(s, [("SKU-00130", 1)])
        [planned] = plan_waves(s, RuleSpec(split_by_zone=False), supervisor(s)).waves
        [dead_list] = s.scalars(select(PickList.id).where(PickList.wave_id == planned.id))
        cancel_wave(s, planned.id, supervisor(s))
    login(client, username="sam", password="supervisor-demo")
    text = _text(client.get(f"/documents/pick-lists/{live_list}.pdf").data)
    assert elsewhere in text and empty_at not in text
    assert "2 stops · 3 units" in text
    page = client.get("/documents").get_data(as_text=True)
    assert f"/documents/pick-lists/{live_list}.pdf" in page
    assert f"/documents/pick-lists/{dead_list}.pdf" not in page
    refused = client.get(f"/documents/pick-lists/{dead_list}.pdf")
    assert refused.status_code == 422
    assert refused.get_json()["error"]["code"] == "empty_document"


def test_packing_slip_date_is_the_sites_day(sqlite_url):
    """An order that arrived at 20:30 in Chicago (02:30 UTC the next day) was dated the next
    day on its packing slip: the slip printed the UTC date."""
    import datetime as dt

    from orders.models import Order
    from tests.factories import make_test_app

    app = make_test_app(sqlite_url, timezone="America/Chicago")
    try:
        sessions = app.extensions["floor"].sessions
        with unit_of_work(sessions) as s:
            order = add_order(s, [("SKU-00120", 1)], external_id="LATE-1")
            s.get(Order, order.id).created_at = dt.datetime(2026, 12, 1, 2, 30, tzinfo=dt.UTC)
        client = app.test_client()
        login(client, username="sam", password="supervisor-demo")
        text = _text(client.get("/documents/orders/LATE-1/packing-slip.pdf").data)
        assert "2026-11-30" in text and "2026-12-01" not in text
    finally:
        app.extensions["floor"].close()


def test_the_slip_of_a_canceled_or_held_order_says_not_to_ship_it(client, sessions):
    """The slip of a canceled order (or one on hold) said "NOT YET PACKED: quantities so far",
    promising a packing that never comes: a packer printing it as a checklist, or a slip put in
    a carton, read it as an order still to go out. It says the order is canceled (on hold) and
    not to ship it, with the quantities so far."""
    from floor.fulfilment.picking.cancellation import cancel_order
    from orders.service import hold_order
    from tests.factories import picked_order

    canceled, _ = picked_order(sessions, [("SKU-00120", 2)])
    held, _ = picked_order(sessions, [("SKU-00100", 1)])
    with unit_of_work(sessions) as s:
        add_order(s, [("SKU-00150", 1)], external_id="SLIP-CANCELED")
    with unit_of_work(sessions) as s:
        cancel_order(s, canceled, supervisor(s), "customer called")
        cancel_order(s, "SLIP-CANCELED", supervisor(s), "customer called")
        hold_order(s, held, supervisor(s), "address check")
    login(client, username="paco", password="packer-demo")
    for external_id, says in (
        (canceled, "ORDER CANCELED: do not ship"),
        ("SLIP-CANCELED", "ORDER CANCELED: do not ship"),
        (held, "ORDER ON HOLD: do not ship yet"),
    ):
        r = client.get(f"/documents/orders/{external_id}/packing-slip.pdf")
        assert r.status_code == 200, (external_id, r.get_data()[:200])
        text = _text(r.data)
        assert says in text and "NOT YET PACKED" not in text, (external_id, text)
        assert "short" not in text and "shipped" not in text, (external_id, text)

"""The reconciliation endpoint and page, dead-letter actions, end-of-day close and its PDF."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import re
import secrets
import zlib

import pytest
from sqlalchemy import select

from core.db import unit_of_work, utcnow
from core.exception_queue import ExceptionStatus, FloorException
from core.users import AuditEntry
from floor.fulfilment.models import Manifest, Package
from floor.fulfilment.packing.packages import PackSpec, pack_order
from floor.fulfilment.packing.shipping import ship_order
from orders.models import Order
from orders.outbox import OutboxEvent, OutboxStatus
from sync.carriers import DemoCarrier
from sync.webhooks import OutboxActionError, dead_letter, redeliver
from tests.factories import (
    OMS_AUTH,
    SYSTEM,
    AnsweringCarrier,
    add_order,
    login,
    make_events,
    make_test_app,
    page_csrf,
    walk_to_picked,
)


def kill_first_event(sessions):
    with unit_of_work(sessions) as s:
        ev = s.scalars(
            select(OutboxEvent).where(OutboxEvent.status == "pending").order_by(OutboxEvent.id)
        ).first()
        ev.attempts = 3
        dead_letter(s, ev, utcnow(), "HTTP 422 (not retried)")
        return ev.id, ev.event_id


def pdf_text(pdf: bytes) -> str:
    """Text of a reportlab PDF: undo its content streams' ASCII85 + Flate encoding."""
    out = []
    for m in re.finditer(rb"stream\r?\n(.*?)endstream", pdf, re.S):
        raw = m.group(1).strip()
        if raw.endswith(b"~>"):
            raw = base64.a85decode(raw[:-2].replace(b"\n", b""))
        with contextlib.suppress(zlib.error):
            raw = zlib.decompress(raw)
        out.append(raw.decode("latin-1"))
    return "\n".join(out)


def test_reconciliation_json_needs_a_key_or_a_supervisor(app, client):
    assert client.get("/api/v1/reconciliation").status_code == 401
    bad = client.get("/api/v1/reconciliation", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401 and bad.json["error"]["code"] == "invalid_api_key"
    ok = client.get("/api/v1/reconciliation", headers=OMS_AUTH)
    assert ok.status_code == 200
    assert set(ok.json) == {"generated_at", "unacknowledged", "dead_letters", "stuck_orders"}
    wrong = client.get("/api/v1/reconciliation?stuck_after_min=abc", headers=OMS_AUTH)
    assert wrong.status_code == 422 and wrong.json["errors"][0]["field"] == "stuck_after_min"
    login(client, badge="BADGE-PICKER-1")
    assert client.get("/api/v1/reconciliation").status_code == 403
    assert client.get("/sync").status_code == 403
    client.post("/logout", data={"csrf_token": page_csrf(client, "/login")})
    login(client, username="sam", password="supervisor-demo")
    assert client.get("/api/v1/reconciliation").status_code == 200


def test_reconciliation_lists_unacknowledged_dead_and_stuck(app, client, sessions):
    make_events(sessions, orders=3, per_order=2)
    cursor, event_id = kill_first_event(sessions)
    with unit_of_work(sessions) as s:
        order = s.scalars(select(Order).where(Order.external_id == "EV-00002")).one()
        old = (utcnow() - dt.timedelta(hours=3)).isoformat()
        order.created_at = utcnow() - dt.timedelta(hours=4)
        order.status_times = {**order.status_times, order.status.value: old}
    body = client.get("/api/v1/reconciliation", headers=OMS_AUTH).json
    assert body["dead_letters"]["count"] == 1
    dead = body["dead_letters"]["events"][0]
    assert dead["event_id"] == event_id and dead["status"] == "dead" and dead["attempts"] == 3
    assert body["unacknowledged"]["count"] == 5
    assert body["unacknowledged"]["oldest_at"] is not None
    assert [o["order"] for o in body["stuck_orders"]["orders"]] == ["EV-00002"]
    assert body["stuck_orders"]["orders"][0]["minutes"] >= 179
    assert body["stuck_orders"]["threshold_min"] == 120
    later = client.get("/api/v1/reconciliation?stuck_after_min=240", headers=OMS_AUTH).json
    assert later["stuck_orders"]["count"] == 0


def test_supervisor_redelivers_and_skips_dead_letters_with_csrf_and_audit(app, client, sessions):
    make_events(sessions, orders=2, per_order=1)
    cursor, event_id = kill_first_event(sessions)
    login(client, username="sam", password="supervisor-demo")
    page = client.get("/sync").get_data(as_text=True)
    assert event_id in page and "Redeliver all" in page
    assert client.post(f"/sync/outbox/{cursor}/redeliver").status_code == 400  # no CSRF token
    r = client.post(
        f"/sync/outbox/{cursor}/redeliver", data={"csrf_token": page_csrf(client, "/sync")}
    )
    assert r.status_code == 302
    with unit_of_work(sessions) as s:
        ev = s.get(OutboxEvent, cursor)
        assert ev.status == OutboxStatus.pending and ev.attempts == 0
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "webhook.redeliver")).one()
        assert entry.actor == "sam" and entry.details["event_ids"] == [event_id]
        exc = s.scalars(select(FloorException)).one()
        assert exc.status == ExceptionStatus.resolved and exc.resolved_by_id is not None
    assert "No dead letters." in client.get("/sync").get_data(as_text=True)

    cursor, _ = kill_first_event(sessions)
    token = page_csrf(client, "/sync")
    r = client.post(f"/sync/outbox/{cursor}/skip", data={"csrf_token": token, "reason": ""})
    assert "say why" in client.get("/sync").get_data(as_text=True)
    r = client.post(
        f"/sync/outbox/{cursor}/skip", data={"csrf_token": token, "reason": "duplicate order"}
    )
    assert r.status_code == 302
    with unit_of_work(sessions) as s:
        assert s.get(OutboxEvent, cursor).status == OutboxStatus.skipped
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "webhook.skip")).one()
        assert entry.reason == "duplicate order"

    cursor, _ = kill_first_event(sessions)  # the next oldest pending event
    r = client.post("/sync/outbox/redeliver-all", data={"csrf_token": page_csrf(client, "/sync")})
    with unit_of_work(sessions) as s:
        assert s.get(OutboxEvent, cursor).status == OutboxStatus.pending


def test_redelivering_or_skipping_an_event_that_does_not_exist_is_not_found(app, client, sessions):
    """An unknown event # was told "only dead letters can be redelivered", as if it existed."""
    make_events(sessions, orders=1, per_order=2)
    with unit_of_work(sessions) as s:
        pending = s.scalars(select(OutboxEvent.id).order_by(OutboxEvent.id)).first()
    login(client, username="sam", password="supervisor-demo")
    token = page_csrf(client, "/sync")
    for action, done in (("redeliver", "redelivered"), ("skip", "skipped")):
        r = client.post(
            f"/sync/outbox/987654/{action}",
            data={"csrf_token": token, "reason": "gone"},
            follow_redirects=True,
        )
        html = r.get_data(as_text=True)
        assert "no webhook event #987654" in html, action
        assert "only dead letters" not in html, action
        r = client.post(  # an event that exists but is not dead is still told so
            f"/sync/outbox/{pending}/{action}",
            data={"csrf_token": token, "reason": "gone"},
            follow_redirects=True,
        )
        assert f"only dead letters can be {done}" in r.get_data(as_text=True), action
    with unit_of_work(sessions) as s, pytest.raises(OutboxActionError) as refused:
        redeliver(s, SYSTEM, [pending, 987654, 987655])
    assert refused.value.code == "not_found" and refused.value.http_status == 404
    assert refused.value.message == "no webhook event #987654, #987655"


def test_end_of_day_close_makes_a_manifest_and_its_pdf(app, client, sessions):
    with unit_of_work(sessions) as s:
        for ext, weight in (("SO-A", 1250), ("SO-B", 480)):
            order = add_order(s, external_id=ext)
            walk_to_picked(s, order)
            pack_order(s, order, [PackSpec({"1": 2, "2": 1}, weight_g=weight)], "PACK-01", SYSTEM)
            ship_order(s, order, DemoCarrier(), SYSTEM)
        ssccs = sorted(p.sscc for p in s.scalars(select(Package)))
    login(client, username="sam", password="supervisor-demo")
    page = client.get("/sync").get_data(as_text=True)
    assert "demo (2 packages)" in page
    r = client.post(
        "/sync/manifests/close", data={"csrf_token": page_csrf(client, "/sync"), "carrier": "demo"}
    )
    assert r.status_code == 302
    with unit_of_work(sessions) as s:
        manifest = s.scalars(select(Manifest)).one()
        assert manifest.carrier == "demo" and manifest.day == utcnow().date().isoformat()
        assert manifest.reference.startswith("DM-")
        assert manifest.data["totals"] == {"packages": 2, "orders": 2, "weight_g": 1730}
        assert {p.manifest_id for p in s.scalars(select(Package))} == {manifest.id}
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "manifest.close")).one()
        assert entry.actor == "sam"
    pdf = client.get(f"/sync/manifests/{manifest.id}.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.data.startswith(b"%PDF")
    text = pdf_text(pdf.data)
    for sscc in ssccs:
        assert sscc in text
    assert "1.730 kg" in text and manifest.reference in text
    data = client.get(f"/sync/manifests/{manifest.id}.json").json
    assert [p["sscc"] for p in data["packages"]] == ssccs
    # Nothing left to close: the supervisor is told so.
    client.post(
        "/sync/manifests/close", data={"csrf_token": page_csrf(client, "/sync"), "carrier": "demo"}
    )
    assert "no shipped packages of demo" in client.get("/sync").get_data(as_text=True)


def test_jobs_are_registered_when_configured(sqlite_url):
    app = make_test_app(sqlite_url)
    jobs = {j.id for j in app.extensions["floor"].scheduler.get_jobs()}
    assert "sync.deliver_webhooks" not in jobs and "sync.poll_tracking" in jobs
    app = make_test_app(sqlite_url, oms_webhook_url="http://127.0.0.1:9/hook", eod_close_at="18:30")
    jobs = {j.id for j in app.extensions["floor"].scheduler.get_jobs()}
    assert {"sync.deliver_webhooks", "sync.poll_tracking", "sync.close_all_carriers"} <= jobs


def test_a_very_long_carrier_name_does_not_blow_up_the_session_cookie(client):
    login(client, username="sam", password="supervisor-demo")
    token = page_csrf(client, "/sync")
    carrier = secrets.token_hex(7_500)  # 15,000 characters that do not compress
    r = client.post("/sync/manifests/close", data={"csrf_token": token, "carrier": carrier})
    assert r.status_code == 302
    cookie = r.headers.get("Set-Cookie", "")
    assert 0 < len(cookie) < 4000, len(cookie)  # browsers drop a cookie over ~4 KB
    page = client.get("/sync")
    assert page.status_code == 200  # still logged in: the message shown, cut short
    assert "Could not close " + carrier[:100] in page.get_data(as_text=True)


@pytest.mark.parametrize("reference", [b'"' + b"7" * 65 + b'"', b'["M-1"]', b'"M\\u00001"'])
def test_a_manifest_reference_the_floor_cannot_keep_is_refused_and_nothing_is_closed(
    app, client, sessions, reference
):
    """A carrier's manifest reference over 64 characters was a DataError on PostgreSQL (the
    close page answered 500); a list was kept as the text "['M-1']". Now the close is refused
    with the reason and every package still waits for its manifest."""
    with unit_of_work(sessions) as s:
        order = add_order(s, external_id="SO-M")
        walk_to_picked(s, order)
        pack_order(s, order, [PackSpec({"1": 2, "2": 1}, weight_g=700)], "PACK-01", SYSTEM)
        ship_order(s, order, DemoCarrier(), SYSTEM)
    with AnsweringCarrier(200, b'{"reference": ' + reference + b"}") as carrier:
        app.extensions["floor"].settings = app.extensions["floor"].settings.with_overrides(
            {"carrier_urls": f"demo={carrier.url}"}
        )
        login(client, username="sam", password="supervisor-demo")
        r = client.post(
            "/sync/manifests/close",
            data={"csrf_token": page_csrf(client, "/sync"), "carrier": "demo"},
        )
    assert r.status_code == 302
    page = client.get("/sync").get_data(as_text=True)
    assert "Could not close demo" in page and "answer: reference not usable" in page
    with unit_of_work(sessions) as s:
        assert s.scalars(select(Manifest)).all() == []
        assert [p.manifest_id for p in s.scalars(select(Package))] == [None]


def test_the_sync_page_never_shows_the_webhook_urls_credentials(sqlite_url):
    """The page printed FLOOR_OMS_WEBHOOK_URL as set, with the password of ``user:password@``
    and a ``?token=`` query in it: any supervisor could read the OMS's credential."""
    url = "https://floor:pw-s3cret@oms.example:8443/hooks/floor?token=tok-s3cret&v=2"
    app = make_test_app(sqlite_url, oms_webhook_url=url)
    try:
        client = app.test_client()
        login(client, username="sam", password="supervisor-demo")
        page = client.get("/sync").get_data(as_text=True)
        assert "s3cret" not in page
        assert "https://floor:***@oms.example:8443/hooks/floor?token=***&amp;v=***" in page
    finally:
        app.extensions["floor"].close()

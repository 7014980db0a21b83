"""The print queue end to end: close a package over HTTP, the worker sends its label to a real TCP
listener (a virtual Zebra), and the job's state is what a packer must see - exactly one copy
through a printer outage, held (not sent) while out of paper, a supervisor's exception when it
cannot print, reprint and confirm as audited actions."""

from __future__ import annotations

import io
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import func, select

from core.db import unit_of_work
from core.exception_queue import ExceptionReason, ExceptionStatus, FloorException
from core.users import AuditEntry
from floor.fulfilment.models import Package
from printing.labels import label_job_id
from printing.models import PRINT_JOB_MACHINE, PrintJob, PrintJobStatus
from printing.render import render_png
from printing.virtual_zebra import VirtualZebra
from printing.worker import PrintWorker, WorkerConfig
from tests.factories import csrf_token, login, make_test_app
from tests.printing.conftest import add_raw_queue
from tests.printing.flow import Packer, job, picked_order, use_printer, wait_until

FAST = {
    "print_timeout_s": 5.0,  # silent this long: a hung printer, not a loaded CI machine
    "print_poll_s": 0.05,
    "print_backoff_base_s": 0.05,
    "print_backoff_max_s": 0.2,
    "print_max_attempts": 4,
}
J = PrintJobStatus


@pytest.fixture
def zebra() -> Iterator[VirtualZebra]:
    z = VirtualZebra(0).start()
    yield z
    z.stop()


@pytest.fixture
def app(db_url: str) -> Iterator[Any]:
    application = make_test_app(db_url, **FAST)
    yield application
    worker = application.extensions["floor"].print_worker
    worker.stop()
    application.extensions["floor"].engine.dispose()


@pytest.fixture
def worker(app: Any) -> PrintWorker:
    return app.extensions["floor"].print_worker


def _ship(client: Any, sessions: Any, **order: Any) -> tuple[str, dict[str, Any]]:
    external_id, _tote = picked_order(sessions, [("SKU-00005", 2), ("SKU-00006", 1)], **order)
    return external_id, Packer(client).close(external_id)


def test_close_prints_the_label_built_from_package_and_order_once(client, sessions, worker, zebra):
    use_printer(sessions, "PACK-01", f"tcp://127.0.0.1:{zebra.port}")
    external_id, closed = _ship(client, sessions)
    sscc = closed["sscc"]
    [queued] = closed["print_jobs"]
    assert queued["job_id"] == label_job_id(sscc) and queued["status"] == "queued"
    assert queued["station"] == "PACK-01" and queued["sscc"] == sscc

    worker.run_once()
    [received] = zebra.wait_for_labels(1, timeout_s=5)
    done = job(sessions, label_job_id(sscc))
    assert done.status == J.printed and done.attempts == 1 and done.printed_at is not None
    assert received == done.zpl.strip()
    # The label says what a person needs: the order's carrier (demo stands in), n of m, weight.
    assert "UPS GROUND _C2_B7 demo" in received  # "·" as UTF-8 hex escapes
    assert "PACKAGE 1 OF 1" in received and "1.25 kg" in received
    assert f"ORDER {external_id}" in received
    assert "DEMO CARRIER" not in received

    # Read back as a scanner reads the printed label: SSCC with its AI, and tracking number.
    with unit_of_work(sessions) as s:
        tracking = s.scalar(select(Package.tracking_number).where(Package.sscc == sscc))
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(render_png(received))))
    texts = {(b.format.name, b.symbology_identifier): b.text for b in found}
    assert texts[("Code128", "]C1")] == f"(00){sscc}"
    assert texts[("Code128", "]C0")] == tracking
    assert texts[("QRCode", "]Q1")].startswith(f"(00){sscc}|{tracking}|{external_id}|1/1")

    worker.run_once()  # nothing due: the job is not sent twice
    time.sleep(0.2)
    assert len(zebra.labels) == 1


def test_printer_down_at_close_then_up_prints_exactly_one_copy(client, sessions, worker, zebra):
    use_printer(sessions, "PACK-01", f"tcp://127.0.0.1:{zebra.port}")
    zebra.set_online(False)
    _, closed = _ship(client, sessions)
    job_id = closed["print_jobs"][0]["job_id"]

    worker.run_once()  # refused: back to the queue with a back-off
    first = job(sessions, job_id)
    assert first.status == J.queued and first.attempts == 1
    assert "unreachable" in first.last_error

    worker.start()
    time.sleep(0.15)  # a retry or two while the printer is still off
    zebra.set_online(True)
    wait_until(lambda: job(sessions, job_id).status == J.printed, what="printed")
    zebra.wait_for_labels(1, timeout_s=10)
    time.sleep(0.5)  # more rounds: nothing else arrives
    assert len(zebra.labels) == 1


def test_paper_out_holds_the_job_until_paper_is_back_then_prints_once(
    client, sessions, worker, zebra
):
    use_printer(sessions, "PACK-01", f"tcp://127.0.0.1:{zebra.port}")
    zebra.set_status(paper_out=True)
    _, closed = _ship(client, sessions)
    job_id = closed["print_jobs"][0]["job_id"]

    worker.run_once()
    held = job(sessions, job_id)
    assert held.status == J.held and held.last_error == "paper_out"
    assert held.attempts == 0  # nothing was sent
    worker.start()
    time.sleep(0.3)
    assert zebra.labels == [] and job(sessions, job_id).status == J.held

    zebra.set_status(paper_out=False)
    wait_until(lambda: job(sessions, job_id).status == J.printed, what="printed")
    zebra.wait_for_labels(1, timeout_s=10)
    time.sleep(0.3)
    assert len(zebra.labels) == 1


def test_a_paused_cups_queue_holds_the_job_until_it_is_enabled_then_prints_once(
    client, sessions, worker, zebra, private_cups
):
    """A disabled CUPS queue accepts a job and keeps it: before, lpr succeeded and the label was
    recorded printed while it sat in CUPS. Now the job is held (paused) and sent once the queue
    is enabled again."""
    add_raw_queue("zebra_raw", zebra.port)
    subprocess.run(["cupsdisable", "zebra_raw"], check=True, capture_output=True)
    use_printer(sessions, "PACK-01", "cups://zebra_raw")
    _, closed = _ship(client, sessions)
    job_id = closed["print_jobs"][0]["job_id"]

    worker.run_once()
    held = job(sessions, job_id)
    assert held.status == J.held and held.last_error == "paused" and held.attempts == 0
    subprocess.run(["cupsenable", "zebra_raw"], check=True, capture_output=True)
    worker.start()
    wait_until(lambda: job(sessions, job_id).status == J.printed, what="printed")
    zebra.wait_for_labels(1, timeout_s=30)
    time.sleep(0.5)
    assert len(zebra.labels) == 1


def test_unreachable_printer_fails_after_its_attempts_and_opens_printer_failed(
    client, sessions, worker, zebra
):
    use_printer(sessions, "PACK-01", f"tcp://127.0.0.1:{zebra.port}")
    zebra.stop()  # gone for good
    _, closed = _ship(client, sessions)
    job_id = closed["print_jobs"][0]["job_id"]
    worker.start()
    wait_until(lambda: job(sessions, job_id).status == J.failed, what="failed")
    failed = job(sessions, job_id)
    assert failed.attempts == FAST["print_max_attempts"]
    with unit_of_work(sessions) as s:
        [exc] = s.scalars(
            select(FloorException).where(FloorException.reason == ExceptionReason.printer_failed)
        ).all()
        assert exc.status == ExceptionStatus.open and exc.details["job_id"] == job_id
        assert exc.subject == "PACK-01"

    # The dashboard lists it.
    sup = client.application.test_client()
    login(sup, username="sam", password="supervisor-demo")
    state = sup.get("/dashboard/state").get_json()
    assert [e["reason"] for e in state["exceptions"]] == ["printer_failed"]

    # Reprint: a new job id, a reason, audited; the failed one is replaced, the exception closed.
    zebra.set_online(True)
    packer = Packer(client)
    refused = packer.post(f"/printers/jobs/{job_id}/reprint", {"reason": " ", "station": "PACK-01"})
    assert refused.status_code == 422
    again = packer.post(
        f"/printers/jobs/{job_id}/reprint",
        {"reason": "printer was unplugged", "station": "PACK-01"},
    )
    assert again.status_code == 200, again.get_json()
    new_id = again.get_json()["job_id"]
    assert new_id == f"{job_id}-r1" and again.get_json()["reprint_of"] == job_id
    wait_until(lambda: job(sessions, new_id).status == J.printed, what="reprint printed")
    zebra.wait_for_labels(1, timeout_s=10)  # the printer keeps a label once its socket closes
    time.sleep(0.2)
    assert len(zebra.labels) == 1
    with unit_of_work(sessions) as s:
        assert s.scalar(select(PrintJob.status).where(PrintJob.job_id == job_id)) == J.replaced
        assert s.scalar(select(FloorException.status)) == ExceptionStatus.resolved
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "print_job.reprint")).one()
        assert entry.actor == "paco" and entry.reason == "printer was unplugged"
        assert entry.details["reprint_of"] == job_id


def _cut_off_mid_send(sessions, worker, job_id):
    """The job as a process killed while sending it leaves it: ``sending`` past its lease; the
    worker's next round makes it ``unknown``."""
    with unit_of_work(sessions) as s:
        j = s.scalars(select(PrintJob).where(PrintJob.job_id == job_id)).one()
        j.status = J.sending  # test set-up: the state a killed process leaves behind
        j.lease_until = j.created_at
    worker.run_once()
    assert job(sessions, job_id).status == J.unknown


def test_unknown_job_is_confirmed_by_a_person_and_audited(client, sessions, worker, zebra):
    use_printer(sessions, "PACK-01", f"tcp://127.0.0.1:{zebra.port}")
    external_id, closed = _ship(client, sessions)
    job_id = closed["print_jobs"][0]["job_id"]
    # A send cut off: the job is "sending" and its lease has run out (its process died).
    _cut_off_mid_send(sessions, worker, job_id)
    worker.run_once()
    assert zebra.labels == []  # never re-sent on its own
    with unit_of_work(sessions) as s:  # the dashboard's exception names the label's order
        from orders.models import Order

        opened = s.scalars(select(FloorException)).one()
        assert opened.order_id == s.scalar(select(Order.id).where(Order.external_id == external_id))

    packer = Packer(client)
    ok = packer.post(f"/printers/jobs/{job_id}/confirm", {"station": "PACK-01"})
    assert ok.status_code == 200 and ok.get_json()["status"] == "printed"
    twice = packer.post(f"/printers/jobs/{job_id}/confirm", {"station": "PACK-01"})
    assert twice.status_code == 409
    with unit_of_work(sessions) as s:
        assert (
            s.scalar(select(func.count()).where(AuditEntry.action == "print_job.confirm_printed"))
            == 1
        )
        assert s.scalar(select(FloorException.status)) == ExceptionStatus.resolved


def test_a_packer_acts_only_on_the_jobs_of_their_own_station(client, sessions, zebra):
    """A packer at PACK-01 could reprint (and confirm) PACK-02's label job by its id: a copy
    of another station's label came out at that station, audited as done by the packer."""
    from printing.printers import parse_printer_list, sync_printers

    with unit_of_work(sessions) as s:  # FLOOR_PRINTERS with both stations' printers
        sync_printers(
            s,
            parse_printer_list(f"PACK-01=tcp://127.0.0.1:{zebra.port},PACK-02=tcp://127.0.0.1:9"),
        )
    external_id, _ = picked_order(sessions, [("SKU-00005", 1)])
    packer = Packer(client)
    job_id = packer.close(external_id, station="PACK-02")["print_jobs"][0]["job_id"]
    with unit_of_work(sessions) as s:
        j = s.scalars(select(PrintJob).where(PrintJob.job_id == job_id)).one()
        j.status = J.unknown  # test set-up: the state a send cut off by a crash leaves

    def refused(path: str, body: dict[str, Any], code: str) -> None:
        r = packer.post(f"/printers/jobs/{job_id}/{path}", body)
        assert r.status_code == 403, (path, body, r.get_json())
        assert r.get_json()["error"]["code"] == code, (path, body)

    for path, body in (("reprint", {"reason": "smudged"}), ("confirm", {})):
        refused(path, body | {"station": "PACK-01"}, "other_station")
        refused(path, body | {"station": "pack-01"}, "other_station")
        refused(path, body, "station_required")
    assert job(sessions, job_id).status == J.unknown
    assert _label_jobs(sessions, job_id) == [job_id]
    with unit_of_work(sessions) as s:
        acted = select(func.count()).where(AuditEntry.action.startswith("print_job."))
        assert s.scalar(acted) == 0
    # The /printers page's job forms say which station the page shows.
    page = client.get("/printers?station=PACK-02").get_data(as_text=True)
    assert '<input type="hidden" name="station" value="PACK-02">' in page
    # At PACK-02 the packer may; a supervisor may anywhere, naming no station.
    ok = packer.post(
        f"/printers/jobs/{job_id}/reprint", {"reason": "smudged", "station": "PACK-02"}
    )
    assert ok.status_code == 200 and ok.get_json()["job_id"] == f"{job_id}-r1", ok.get_json()
    with unit_of_work(sessions) as s:
        j = s.scalars(select(PrintJob).where(PrintJob.job_id == f"{job_id}-r1")).one()
        j.status = J.unknown
    sup = client.application.test_client()
    login(sup, username="sam", password="supervisor-demo")
    token = csrf_token(sup.get("/printers").get_data(as_text=True))
    r = sup.post(f"/printers/jobs/{job_id}-r1/confirm", json={}, headers={"X-CSRFToken": token})
    assert r.status_code == 200 and r.get_json()["status"] == "printed", r.get_json()


def test_a_job_action_with_a_station_or_reason_that_is_not_text_is_refused_as_such(
    client, sessions, zebra
):
    """``"station": ["PACK-02"]`` (or 5, or an object) was taken for "no station": a packer got
    403 station_required ("say which station you are at") although they had, and a supervisor's
    request went through with it; a reason that is a list was "say why" (reason_required). Now
    422 not_text on the field, and nothing is queued, changed or audited."""
    from printing.printers import parse_printer_list, sync_printers

    with unit_of_work(sessions) as s:
        sync_printers(s, parse_printer_list(f"PACK-01=tcp://127.0.0.1:{zebra.port}"))
    external_id, _ = picked_order(sessions, [("SKU-00005", 1)])
    packer = Packer(client)
    job_id = packer.close(external_id)["print_jobs"][0]["job_id"]
    with unit_of_work(sessions) as s:
        s.scalars(select(PrintJob).where(PrintJob.job_id == job_id)).one().status = J.unknown
    sup = client.application.test_client()
    login(sup, username="sam", password="supervisor-demo")
    sup_token = csrf_token(sup.get("/printers").get_data(as_text=True))
    for who, post in (
        ("packer", packer.post),
        (
            "supervisor",
            lambda url, body: sup.post(url, json=body, headers={"X-CSRFToken": sup_token}),
        ),
    ):
        for path, body, field in (
            ("confirm", {"station": ["PACK-01"]}, "station"),
            ("confirm", {"station": 5}, "station"),
            ("reprint", {"reason": "smudged", "station": {"code": "PACK-01"}}, "station"),
            ("reprint", {"reason": ["smudged"], "station": "PACK-01"}, "reason"),
            ("reprint", {"reason": "smudged", "station": "P" * 65}, "station"),
        ):
            r = post(f"/printers/jobs/{job_id}/{path}", body)
            assert r.status_code == 422, (who, path, body, r.get_json())
            assert r.get_json()["errors"][0]["field"] == field, (who, path, body, r.get_json())
    assert job(sessions, job_id).status == J.unknown
    assert _label_jobs(sessions, job_id) == [job_id]
    with unit_of_work(sessions) as s:
        acted = select(func.count()).where(AuditEntry.action.startswith("print_job."))
        assert s.scalar(acted) == 0
    ok = packer.post(f"/printers/jobs/{job_id}/confirm", {"station": "PACK-01"})
    assert ok.status_code == 200 and ok.get_json()["status"] == "printed", ok.get_json()


def _reprint_entries(sessions: Any) -> int:
    with unit_of_work(sessions) as s:
        return s.scalar(select(func.count()).where(AuditEntry.action == "print_job.reprint")) or 0


def test_a_refused_job_form_on_the_printers_page_says_why_there(client, sessions, worker, zebra):
    """The /printers page's *Reprint* and *It printed* are plain forms: a refusal (a reason of
    spaces gets past the field's ``required``; "It printed" from a page older than the job's
    state; another station's job) answered the browser a bare JSON body instead of the page."""
    use_printer(sessions, "PACK-01", f"tcp://127.0.0.1:{zebra.port}")
    _external_id, closed = _ship(client, sessions)
    job_id = closed["print_jobs"][0]["job_id"]
    worker.run_once()
    assert job(sessions, job_id).status == J.printed
    packer = Packer(client)
    back = "/printers?station=PACK-01"

    def form(path: str, **fields: str) -> str:
        body = {"csrf_token": packer.token, "station": "PACK-01", "next": back, **fields}
        r = client.post(f"/printers/jobs/{job_id}/{path}", data=body)
        assert r.status_code == 302 and r.headers["Location"] == back, (r.status_code, r.data)
        page = client.get(back)
        assert page.status_code == 200 and page.mimetype == "text/html"
        return page.get_data(as_text=True)

    assert "say why the label is printed again" in form("reprint", reason="   ")
    assert f"job {job_id} is printed" in form("confirm")
    assert "not PACK-02&#39;s" in form("reprint", reason="smudged", station="PACK-02")
    assert _label_jobs(sessions, job_id) == [job_id]
    with unit_of_work(sessions) as s:
        acted = select(func.count()).where(AuditEntry.action.startswith("print_job."))
        assert s.scalar(acted) == 0
    # The JSON calls (the pack page's) still get the refusal as JSON.
    r = packer.post(f"/printers/jobs/{job_id}/reprint", {"reason": " ", "station": "PACK-01"})
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "reason_required"


def _label_jobs(sessions: Any, job_id: str) -> list[str]:
    with unit_of_work(sessions) as s:
        return list(
            s.scalars(
                select(PrintJob.job_id)
                .where(PrintJob.job_id.startswith(job_id))
                .order_by(PrintJob.id)
            )
        )


def test_a_repeated_reprint_while_the_first_is_pending_creates_nothing(
    client, sessions, worker, zebra
):
    """A double click or an HTTP retry on Reprint: one new job, one audit entry; the repeat
    answers the pending reprint (``already_pending``). Once it printed, a real second reprint
    (with its reason) is allowed and audited."""
    use_printer(sessions, "PACK-01", f"tcp://127.0.0.1:{zebra.port}")
    _, closed = _ship(client, sessions)
    job_id = closed["print_jobs"][0]["job_id"]
    worker.run_once()
    zebra.wait_for_labels(1, timeout_s=5)
    assert job(sessions, job_id).status == J.printed

    packer = Packer(client)
    first = packer.post(
        f"/printers/jobs/{job_id}/reprint", {"reason": "smudged", "station": "PACK-01"}
    )
    assert first.status_code == 200, first.get_json()
    assert first.get_json()["job_id"] == f"{job_id}-r1"
    assert first.get_json()["already_pending"] is False
    again = packer.post(
        f"/printers/jobs/{job_id}/reprint", {"reason": "smudged", "station": "PACK-01"}
    )
    assert again.status_code == 200, again.get_json()
    body = again.get_json()
    assert body["already_pending"] is True
    assert body["job_id"] == f"{job_id}-r1" and body["status"] == "queued"
    assert _label_jobs(sessions, job_id) == [job_id, f"{job_id}-r1"]
    assert _reprint_entries(sessions) == 1

    # Held (paper out) is still pending: a third click creates nothing either.
    zebra.set_status(paper_out=True)
    worker.run_once()
    assert job(sessions, f"{job_id}-r1").status == J.held
    held = packer.post(
        f"/printers/jobs/{job_id}/reprint", {"reason": "still smudged", "station": "PACK-01"}
    )
    assert held.status_code == 200 and held.get_json()["already_pending"] is True
    assert held.get_json()["status"] == "held"
    assert _label_jobs(sessions, job_id) == [job_id, f"{job_id}-r1"]

    # The reprint printed: one more copy, exactly one.
    zebra.set_status(paper_out=False)
    worker.start()
    wait_until(lambda: job(sessions, f"{job_id}-r1").status == J.printed, what="r1 printed")
    assert len(zebra.wait_for_labels(2, timeout_s=5)) == 2

    # Now a second reprint is a real one: a new job, audited with its reason.
    second = packer.post(
        f"/printers/jobs/{job_id}/reprint", {"reason": "torn on the box", "station": "PACK-01"}
    )
    assert second.status_code == 200, second.get_json()
    assert second.get_json()["job_id"] == f"{job_id}-r2"
    assert second.get_json()["already_pending"] is False
    assert _label_jobs(sessions, job_id) == [job_id, f"{job_id}-r1", f"{job_id}-r2"]
    assert _reprint_entries(sessions) == 2
    with unit_of_work(sessions) as s:
        reasons = s.scalars(
            select(AuditEntry.reason)
            .where(AuditEntry.action == "print_job.reprint")
            .order_by(AuditEntry.id)
        ).all()
    assert reasons == ["smudged", "torn on the box"]
    wait_until(lambda: job(sessions, f"{job_id}-r2").status == J.printed, what="r2 printed")
    assert len(zebra.wait_for_labels(3, timeout_s=5)) == 3
    time.sleep(0.2)
    assert len(zebra.labels) == 3


def test_a_repeated_reprint_of_a_replaced_unknown_job_creates_nothing(
    client, sessions, worker, zebra
):
    """The first reprint of an ``unknown`` job makes it ``replaced``; a retry of the same
    request (same original) answers the pending reprint instead of queuing another copy."""
    use_printer(sessions, "PACK-01", f"tcp://127.0.0.1:{zebra.port}")
    _, closed = _ship(client, sessions)
    job_id = closed["print_jobs"][0]["job_id"]
    _cut_off_mid_send(sessions, worker, job_id)

    packer = Packer(client)
    answers = [
        packer.post(
            f"/printers/jobs/{job_id}/reprint", {"reason": "did not come out", "station": "PACK-01"}
        )
        for _ in range(2)
    ]
    assert [a.status_code for a in answers] == [200, 200]
    assert [a.get_json()["job_id"] for a in answers] == [f"{job_id}-r1"] * 2
    assert [a.get_json()["already_pending"] for a in answers] == [False, True]
    assert job(sessions, job_id).status == J.replaced
    assert _label_jobs(sessions, job_id) == [job_id, f"{job_id}-r1"]
    assert _reprint_entries(sessions) == 1


def test_simultaneous_reprints_of_one_label_create_one_job(app, sessions, worker, zebra):
    """Two requests at the same moment (two tabs, a retry racing the first): one new job, and
    neither request fails."""
    use_printer(sessions, "PACK-01", f"tcp://127.0.0.1:{zebra.port}")
    _, closed = _ship(app.test_client(), sessions)
    job_id = closed["print_jobs"][0]["job_id"]
    worker.run_once()
    assert job(sessions, job_id).status == J.printed

    packers = [Packer(app.test_client()) for _ in range(2)]
    start = threading.Barrier(len(packers))
    answers: list[Any] = [None] * len(packers)

    def click(n: int) -> None:
        start.wait(timeout=10)
        answers[n] = packers[n].post(
            f"/printers/jobs/{job_id}/reprint", {"reason": "smudged", "station": "PACK-01"}
        )

    threads = [threading.Thread(target=click, args=(n,)) for n in range(len(packers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert [a.status_code for a in answers] == [200, 200], [a.get_json() for a in answers]
    assert {a.get_json()["job_id"] for a in answers} == {f"{job_id}-r1"}
    assert sorted(a.get_json()["already_pending"] for a in answers) == [False, True]
    assert _label_jobs(sessions, job_id) == [job_id, f"{job_id}-r1"]
    assert _reprint_entries(sessions) == 1


def test_it_printed_racing_a_reprint_of_the_same_unknown_job_is_refused(
    app, sessions, worker, zebra, monkeypatch
):
    """A supervisor reprints an ``unknown`` label while the packer clicks *It printed* on it.
    The reprint came first: the confirmation is refused (409 ``not_unknown``), the job stays
    ``replaced``, one copy goes out. On PostgreSQL the confirmation read the job ``unknown``
    before the reprint committed and then wrote ``printed`` over ``replaced``: the label both
    printed and reprinted (a doubled SSCC), two resolutions of its exception."""
    import printing.reprints as reprints
    from tests.factories import HeldRace, actor_for, supervisor

    use_printer(sessions, "PACK-01", f"tcp://127.0.0.1:{zebra.port}")
    _, closed = _ship(app.test_client(), sessions)
    job_id = closed["print_jobs"][0]["job_id"]
    _cut_off_mid_send(sessions, worker, job_id)
    with unit_of_work(sessions) as s:
        sam, paco = supervisor(s), actor_for(s, "paco")
    race = HeldRace()
    move = reprints.move

    def slow_move(session, job, target, **kw):
        if target == J.replaced:  # the reprint waits here, having read the job ``unknown``
            race.hold()
        return move(session, job, target, **kw)

    monkeypatch.setattr(reprints, "move", slow_move)
    outcome = race.run(
        sessions,
        lambda s: reprints.reprint(s, job_id, sam, "no label"),
        lambda s: reprints.confirm_printed(s, job_id, paco, "PACK-01"),
    )
    assert outcome == ("done", "not_unknown")  # the reprint, then the confirmation
    assert job(sessions, job_id).status == J.replaced
    assert _label_jobs(sessions, job_id) == [job_id, f"{job_id}-r1"]
    with unit_of_work(sessions) as s:
        confirmed = select(func.count()).where(AuditEntry.action == "print_job.confirm_printed")
        assert s.scalar(confirmed) == 0


def _queue_labels(sessions: Any, zebra: VirtualZebra, count: int) -> None:
    """``count`` label jobs queued for PACK-01's printer, the virtual Zebra."""
    from printing.labels import site_address
    from printing.models import Printer
    from printing.printers import station_printer
    from printing.queue import enqueue
    from printing.zpl import build_shipping_label
    from tests.printing.conftest import make_label

    use_printer(sessions, "PACK-01", f"tcp://127.0.0.1:{zebra.port}")
    zpl = build_shipping_label(make_label(ship_from=site_address("")))
    with unit_of_work(sessions) as s:
        printer = station_printer(s, "PACK-01")
        assert isinstance(printer, Printer)
        for n in range(count):
            enqueue(s, printer, zpl, job_id=f"job-{n:03d}", kind="test")


def test_a_burst_for_one_printer_goes_out_one_connection_at_a_time(app, zebra, monkeypatch):
    """A Zebra's raw port serves one connection: 24 labels with 16 sending threads free still
    reach it one conversation (``~HS``, then the label) at a time, every one of them."""
    import printing.worker as worker_module

    talking = {"now": 0, "most": 0}
    guard = threading.Lock()

    def one_at_a_time(talk: Any) -> Any:  # counts the worker's connections open at once
        def counted(*args: Any, **kwargs: Any) -> Any:
            with guard:
                talking["now"] += 1
                talking["most"] = max(talking["most"], talking["now"])
            try:
                time.sleep(0.005)  # long enough for a second thread to come in, were it free to
                return talk(*args, **kwargs)
            finally:
                with guard:
                    talking["now"] -= 1

        return counted

    monkeypatch.setattr(worker_module, "problems_of", one_at_a_time(worker_module.problems_of))
    monkeypatch.setattr(worker_module, "send", one_at_a_time(worker_module.send))
    sessions = app.extensions["floor"].sessions
    _queue_labels(sessions, zebra, 24)
    worker = PrintWorker(sessions, WorkerConfig(timeout_s=2, batch=32, threads=16))
    try:
        worker.run_once()
    finally:
        worker.stop()
    assert len(zebra.wait_for_labels(24, timeout_s=10)) == 24
    assert talking["most"] == 1
    with unit_of_work(sessions) as s:
        assert s.scalar(select(func.count()).where(PrintJob.status == J.printed)) == 24


def test_two_workers_on_one_database_send_every_label_once(app, db_url, zebra):
    """Two processes' workers (two engines on one database) claim without overlap."""
    from core.db import make_engine, make_session_factory

    sessions = app.extensions["floor"].sessions
    _queue_labels(sessions, zebra, 40)
    engines = [make_engine(db_url) for _ in range(2)]
    workers = [
        PrintWorker(make_session_factory(e), WorkerConfig(timeout_s=2, batch=4)) for e in engines
    ]

    def drain(worker: PrintWorker) -> None:
        # Passes until nothing is left: on a loaded machine a status check can time out and
        # hand a job back for a retry (a later pass), which is not a second copy.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            worker.run_once()
            with unit_of_work(sessions) as s:
                if not s.scalar(select(func.count()).where(PrintJob.status != J.printed)):
                    return
            time.sleep(0.1)

    threads = [threading.Thread(target=drain, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=90)
    for w, e in zip(workers, engines, strict=True):
        w.stop()
        e.dispose()
    assert len(zebra.wait_for_labels(40, timeout_s=10)) == 40
    time.sleep(0.2)
    assert len(zebra.labels) == 40  # every label once: no job went out twice
    with unit_of_work(sessions) as s:
        assert s.scalar(select(func.count()).where(PrintJob.status == J.printed)) == 40


def test_machine_allows_no_resend_of_unknown():
    assert not PRINT_JOB_MACHINE.can(J.unknown, J.queued)
    assert not PRINT_JOB_MACHINE.can(J.unknown, J.sending)
    assert not PRINT_JOB_MACHINE.can(J.printed, J.queued)


HOSTILE = "^XZ^XA^FO0,0^A0N,99,99^FDFAKE^FS^XZ~JR^JUF ~HS 山田 Zoë \x01_5E\\>;"


def test_no_order_field_can_inject_zpl_into_the_printed_stream(client, sessions, worker, zebra):
    """Issue 10 item 7: a ship-to full of ZPL reaches the printer as one label, no commands."""
    from zplkit.parse import parse

    use_printer(sessions, "PACK-01", f"tcp://127.0.0.1:{zebra.port}")
    ship_to = {
        key: HOSTILE
        for key in ("name", "company", "address1", "address2", "city", "region", "postal_code")
    }
    ship_to["country"] = "GB"
    _, closed = _ship(client, sessions, ship_to=ship_to, service="~JR^JUF")
    worker.run_once()
    [received] = zebra.wait_for_labels(1, timeout_s=5)
    time.sleep(0.2)
    assert len(zebra.labels) == 1
    elements = [e for e in parse(received).elements if e.kind != "before_first_command"]
    names = [(e.kind, e.data[:3].decode("ascii", "replace").upper()) for e in elements]
    assert names.count(("format_command", "^XA")) == 1
    assert names.count(("format_command", "^XZ")) == 1
    assert not [n for n in names if n[0] != "format_command"]  # no ~JR, ~HS...
    assert not [n for n in names if n[1] in ("^JU", "^JZ", "^DF", "^NC")]
    assert "~" not in received  # every ^ and ~ of the fields travels as a _5E / _7E escape
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(render_png(received))))
    assert f"(00){closed['sscc']}" in {b.text for b in found}

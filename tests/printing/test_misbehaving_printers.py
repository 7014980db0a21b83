"""Printers that misbehave, as real TCP listeners: one that hangs must not hold up every other
station's labels; one that answered ``~HS`` and goes silent gets no label (held, not sent into a
socket nobody reads); one that drops the connection mid-label leaves the job ``unknown`` for a
person (never ``printed``, never sent again on its own)."""

from __future__ import annotations

import socket
import socketserver
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from core.db import unit_of_work
from core.exception_queue import ExceptionReason, FloorException
from printing.labels import site_address
from printing.models import PrintJob, PrintJobStatus
from printing.printers import make_spec, station_printer, sync_printers
from printing.queue import enqueue
from printing.virtual_zebra import StatusFlags, VirtualZebra, host_status_reply
from printing.worker import PrintWorker, WorkerConfig
from printing.zpl import build_shipping_label
from tests.factories import make_test_app
from tests.printing.conftest import make_label
from tests.printing.flow import job, use_printer

J = PrintJobStatus


class Misbehaving:
    """A TCP printer on 127.0.0.1 whose manners the test sets: ``answers`` ``~HS`` or stays
    silent; ``hung`` (reads nothing, answers nothing); ``drop_after`` bytes of a label, then
    closes with the rest unread. ``received`` holds the label bytes it read."""

    def __init__(self) -> None:
        self.answers = True
        self.silent_s = 5.0  # how long it holds a ~HS it does not answer
        self.reply: bytes | None = None  # what it answers ~HS (then holds it silent_s) if set
        self.hung = False
        self.drop_after: int | None = None
        self.received = b""
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                outer._talk(self.request)

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        if self.hung:
            time.sleep(30)  # holds the connection, reads nothing
            return
        first = conn.recv(3)
        if first == b"~HS":
            if self.reply is not None:
                conn.sendall(self.reply)
                time.sleep(self.silent_s)
            elif self.answers:
                conn.sendall(host_status_reply(StatusFlags()))
            else:
                time.sleep(self.silent_s)  # accepts, never answers
            return
        if self.drop_after is not None:
            self.received += first + conn.recv(self.drop_after - len(first))
            # Gone with the rest of the label unread, as a printer that resets does.
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()
            return
        data = first
        while chunk := conn.recv(65536):
            data += chunk
        self.received += data

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def printer() -> Iterator[Misbehaving]:
    p = Misbehaving()
    yield p
    p.stop()


@pytest.fixture
def sessions(db_url: str) -> Iterator[Any]:
    app = make_test_app(db_url, print_timeout_s=1.0)
    yield app.extensions["floor"].sessions
    app.extensions["floor"].engine.dispose()


def _queue(sessions: Any, station: str, job_ids: list[str]) -> None:
    zpl = build_shipping_label(make_label(ship_from=site_address("")))
    with unit_of_work(sessions) as s:
        target = station_printer(s, station)
        assert target is not None
        for job_id in job_ids:
            enqueue(s, target, zpl, job_id=job_id, kind="test")


def _worker(sessions: Any, **config: Any) -> PrintWorker:
    return PrintWorker(sessions, WorkerConfig(timeout_s=1.0, poll_s=0.05, **config))


def test_a_hung_printer_does_not_hold_up_another_stations_label(sessions, printer):
    printer.hung = True
    healthy = VirtualZebra(0).start()
    try:
        with unit_of_work(sessions) as s:  # FLOOR_PRINTERS=PACK-01=...,PACK-02=...
            sync_printers(
                s,
                [
                    make_spec("PACK-01", f"tcp://127.0.0.1:{printer.port}"),
                    make_spec("PACK-02", f"tcp://127.0.0.1:{healthy.port}"),
                ],
            )
        _queue(sessions, "PACK-01", [f"stuck-{n}" for n in range(12)])
        _queue(sessions, "PACK-02", ["other-station"])
        worker = PrintWorker(sessions, WorkerConfig(timeout_s=2.0, poll_s=0.05, threads=4))
        worker.start()
        try:
            started = time.monotonic()
            assert healthy.wait_for_labels(1, timeout_s=20), "PACK-02's label never came"
            # Before: all 4 sending threads waited on PACK-01's printer (>= 4 s a job: the ~HS
            # time-out, then the label), and PACK-02's label waited for one to come free.
            assert time.monotonic() - started < 3.0
        finally:
            worker.stop()
    finally:
        healthy.stop()


def test_a_printer_that_goes_silent_gets_no_label_until_it_answers_again(sessions, printer):
    use_printer(sessions, "PACK-01", f"tcp://127.0.0.1:{printer.port}")
    worker = _worker(sessions)
    try:
        _queue(sessions, "PACK-01", ["before"])
        worker.run_once()
        assert job(sessions, "before").status == J.printed
        sent = len(printer.received)
        printer.answers = False  # hung or busy: the connection opens, ~HS gets no answer
        _queue(sessions, "PACK-01", ["during"])
        worker.run_once()
        during = job(sessions, "during")
        assert during.status == J.held and during.last_error == "not_responding"
        assert len(printer.received) == sent  # nothing sent into the silence
        printer.answers = True
        time.sleep(0.1)  # the held job is looked at again after poll_s
        worker.run_once()
        assert job(sessions, "during").status == J.printed
        assert printer.received.count(b"^XZ") == 2  # each label once
    finally:
        worker.stop()


def test_a_label_cut_off_mid_send_is_unknown_not_printed(sessions, printer):
    printer.drop_after = 43
    use_printer(sessions, "PACK-01", f"tcp://127.0.0.1:{printer.port}")
    worker = _worker(sessions)
    try:
        _queue(sessions, "PACK-01", ["cut"])
        worker.run_once()
        cut = job(sessions, "cut")
        assert cut.status == J.unknown, (cut.status, cut.last_error)
        assert "dropped the connection" in cut.last_error
        worker.run_once()
        time.sleep(0.1)
        worker.run_once()
        assert job(sessions, "cut").status == J.unknown  # never sent again on its own
        assert len(printer.received) == 43
        with unit_of_work(sessions) as s:
            reasons = s.scalars(select(FloorException.reason)).all()
            assert ExceptionReason.printer_failed in reasons
            assert s.scalar(select(PrintJob.attempts).where(PrintJob.job_id == "cut")) == 1
    finally:
        worker.stop()


def test_a_printer_that_never_answers_hs_gets_its_labels_without_a_time_out_each(sessions, printer):
    # A ZPL printer without ~HS (other makes' ZPL emulation): each label waited a whole
    # ~HS time-out before it was sent, one label after the other - 4 labels, 4 time-outs.
    printer.answers = False
    printer.silent_s = 1.5  # longer than the worker's 1 s time-out
    use_printer(sessions, "PACK-01", f"tcp://127.0.0.1:{printer.port}")
    worker = _worker(sessions)
    try:
        started = time.monotonic()
        _queue(sessions, "PACK-01", ["first"])
        worker.run_once()
        assert job(sessions, "first").status == J.printed
        first_s = time.monotonic() - started
        assert first_s >= 1.0  # it was asked, and did not answer
        started = time.monotonic()
        _queue(sessions, "PACK-01", ["a", "b", "c"])
        worker.run_once()
        assert [job(sessions, j).status for j in "abc"] == [J.printed] * 3
        assert time.monotonic() - started < 1.0  # before: >= 3 s, a time-out per label
        assert printer.received.count(b"^XZ") == 4  # each label once
        # The status poll still asks it: once it answers, it is a printer with ~HS again.
        printer.answers = True
        worker.poll_printers()
        time.sleep(0.3)
        printer.answers = False
        _queue(sessions, "PACK-01", ["hung"])
        worker.run_once()
        assert job(sessions, "hung").status == J.held  # silent after answering: not sent
    finally:
        worker.stop()


def test_a_host_status_cut_short_that_says_paper_out_holds_the_label(sessions, printer):
    # The first ~HS string said "paper out"; the other two did not come within the time-out.
    # The reply counted as unreadable, so the label was sent (and 'printed') to a printer
    # with no paper, instead of held until it has some.
    first_string = host_status_reply(StatusFlags(paper_out=True)).split(b"\r\n")[0] + b"\r\n"
    printer.reply = first_string
    printer.silent_s = 1.5  # longer than the worker's 1 s time-out
    use_printer(sessions, "PACK-01", f"tcp://127.0.0.1:{printer.port}")
    worker = _worker(sessions)
    try:
        _queue(sessions, "PACK-01", ["no-paper"])
        worker.run_once()
        held = job(sessions, "no-paper")
        assert (held.status, held.last_error) == (J.held, "paper_out")
        assert printer.received == b""
        printer.reply = None  # paper loaded: a whole, ready answer
        time.sleep(0.1)
        worker.run_once()
        assert job(sessions, "no-paper").status == J.printed
        assert printer.received.count(b"^XZ") == 1
    finally:
        worker.stop()

"""SIGKILL the real server (``flask --app app serve``) while a label is being sent; after a restart
the job is "unknown" and never sent again on its own (a duplicate SSCC label is worse than a
missing one)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from core.db import make_engine, make_session_factory, unit_of_work, utcnow
from printing.models import Printer, PrintJob, PrintJobStatus
from printing.virtual_zebra import StatusFlags, host_status_reply
from tests.factories import free_port, wait_healthy

ROOT = Path(__file__).resolve().parents[2]
BIG_LABEL = "^XA^FX" + "0" * (16 * 1024 * 1024) + "^XZ"  # far more than the socket buffers


class StallingPrinter:
    """Accepts, answers ``~HS`` "ready", and never reads a label: a send blocks mid-way."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.label_connections = 0
        self.held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            first = conn.recv(3)
            if first == b"~HS":
                conn.sendall(host_status_reply(StatusFlags()))
                conn.close()
            else:
                self.label_connections += 1
                self.held.append(conn)  # never read again, never closed

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


def start(db_url: str, port: int, printer_port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "FLOOR_DATABASE_URL": db_url,
        "FLOOR_PORT": str(port),
        "FLOOR_SECRET_KEY": "kill-test",
        "FLOOR_PRINTERS": f"PACK-01=tcp://127.0.0.1:{printer_port}",
        "FLOOR_PRINT_TIMEOUT_S": "3",
        "FLOOR_PRINT_POLL_S": "0.1",
        "FLOOR_TRACKING_POLL_S": "0",
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "app", "serve"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def status(sessions, job_id: str) -> PrintJobStatus:
    with unit_of_work(sessions) as s:
        return s.scalar(select(PrintJob.status).where(PrintJob.job_id == job_id))


@pytest.mark.slow
def test_sigkill_while_sending_leaves_the_job_unknown_and_never_resends(sqlite_url, tmp_path):
    engine = make_engine(sqlite_url)
    sessions = make_session_factory(engine)
    printer = StallingPrinter()
    port = free_port()
    log = tmp_path / "serve.log"
    proc = start(sqlite_url, port, printer.port, log)
    try:
        wait_healthy(port, proc)
        with unit_of_work(sessions) as s:
            pid = s.scalar(select(Printer.id).where(Printer.name == "PACK-01"))
            assert pid is not None, log.read_text()
            s.add(
                PrintJob(
                    job_id="label-stalled",
                    printer_id=pid,
                    kind="shipping_label",
                    zpl=BIG_LABEL,
                    next_attempt_at=utcnow(),
                )
            )
        deadline = time.monotonic() + 30
        while status(sessions, "label-stalled") != PrintJobStatus.sending:
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.01)
        deadline = time.monotonic() + 10
        while printer.label_connections == 0:  # the send has begun: bytes are on the wire
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert status(sessions, "label-stalled") == PrintJobStatus.sending
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

        proc = start(sqlite_url, port, printer.port, log)
        wait_healthy(port, proc)
        deadline = time.monotonic() + 30  # the send's lease (2 x time-out + 2 s) runs out
        while status(sessions, "label-stalled") != PrintJobStatus.unknown:
            assert time.monotonic() < deadline, (status(sessions, "label-stalled"), log.read_text())
            time.sleep(0.1)
        time.sleep(2)  # twenty worker rounds later: still unknown, still one connection
        assert status(sessions, "label-stalled") == PrintJobStatus.unknown
        assert printer.label_connections == 1
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        printer.close()
        engine.dispose()
    assert "Traceback" not in log.read_text()

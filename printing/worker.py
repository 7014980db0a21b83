"""The print worker: one thread per server process that sends due jobs to their printers.

Each round (``run_once``) expires cut-off sends (``sending.expire_leases``, at most once per
``FLOOR_PRINT_POLL_S``), claims due jobs and
handles them in parallel (one pool thread per job): ask the printer ``~HS`` (TCP printers),
hold the job if the printer reports a problem, otherwise mark it ``sending``, send it, and record
the outcome. The steps and their transactions are described in ``printing.queue``; several
processes may run a worker each on the same database.

A job queued by this process takes a fast path instead: after the commit that queued it the app
hands it to ``offer()`` (the ``print.queued`` event carries the job, its printer's URI and its
ZPL), and a pool thread asks the printer ``~HS`` at once, then claims the job and marks it
``sending`` in one transaction (``sending.claim_to_send``) and sends it: one write transaction
before the first byte instead of two, and no claim query. On SQLite that transaction (and the
loop's step to ``sending``) goes first at the writer lock (``core.writer_lock.writer_priority``):
a label already under way does not queue behind every request that arrived meanwhile. Anything
but a ready printer (a problem, unreachable, no answer) falls back to the loop, which holds or
retries the job as before. The loop leaves jobs on the fast path alone (``claim_due(exclude=...)``).

The thread wakes every ``FLOOR_PRINT_POLL_S``, and at once when ``wake()`` is called (a fast-path
job fell back, or a pool slot came free while jobs were waiting for one). Every few rounds it
also asks each TCP printer for its status, so the ``/printers`` page is current and jobs waiting
for an unreachable printer go out as soon as it answers again.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.db import unit_of_work, utcnow
from core.settings import Settings
from core.writer_lock import writer_priority
from printing import queue, sending
from printing.models import Printer, PrinterTransport
from printing.transports import (
    PrinterError,
    PrinterErrorCode,
    PrinterUriError,
    parse_printer_uri,
    query_host_status,
    send,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerConfig:
    timeout_s: float = 5.0
    poll_s: float = 1.0
    batch: int = 32
    threads: int = 16
    status_every_s: float = 5.0  # between printer status polls
    policy: queue.RetryPolicy = queue.RetryPolicy()

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkerConfig:
        return cls(
            timeout_s=settings.print_timeout_s,
            poll_s=settings.print_poll_s,
            status_every_s=max(5 * settings.print_poll_s, 1.0),
            policy=queue.RetryPolicy(
                settings.print_max_attempts,
                settings.print_backoff_base_s,
                settings.print_backoff_max_s,
            ),
        )

    @property
    def claim_lease_s(self) -> float:
        """Long enough for a status query and the step to ``sending``."""
        return 2 * self.timeout_s + 10

    @property
    def send_lease_s(self) -> float:
        """Long enough for connect + send (a time-out each); past it the send was cut off."""
        return 2 * self.timeout_s + 2


# Sent to anyway: a printer that does not (or not readably) answer ~HS may still print.
SENDABLE = ("ready", "no_status", "unreadable_status")
# A printer that answered ~HS before and now accepts the connection but stays silent: hung or
# busy. Its jobs are held (not sent into a socket nobody reads) until it answers again.
NOT_RESPONDING = "not_responding"
# States that do not show a printer answering ~HS (silent, garbled, or not reached).
NO_HS_ANSWER = ("no_status", "unreadable_status", "unreachable")


def problems_of(uri: str, timeout_s: float) -> str:
    """``ready``, the printer's problems (``paper_out,head_open``), ``no_status`` (accepts but
    does not answer ``~HS``, or not a TCP printer), ``unreadable_status`` (answers something
    that is not a host status) or ``unreachable``."""
    try:
        status = query_host_status(parse_printer_uri(uri), timeout_s)
    except PrinterError as exc:
        if exc.code == PrinterErrorCode.bad_status_reply:
            return "unreadable_status"
        return "unreachable"
    except PrinterUriError:
        return "unreachable"
    if status is None:
        return "no_status"
    return "ready" if status.ready else ",".join(status.problems)


class PrintWorker:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        config: WorkerConfig,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.config = config
        self.clock = clock
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool = ThreadPoolExecutor(config.threads, thread_name_prefix="print")
        self._last_poll = self._last_expiry = -1e9
        self._in_flight = 0
        self._count = threading.Lock()
        self._offered: set[int] = set()  # job ids on the fast path (under ``_count``)
        self._starved = False  # a round left due jobs for want of a free pool thread
        self._printers: dict[str, threading.Lock] = {}  # uri -> one conversation at a time
        self._busy: set[str] = set()  # printers with a job in the pool (one each, under _count)
        self._recheck: set[str] = set()  # printers whose next job waits for the one in the pool
        self._speaks_hs: set[str] = set()  # printers that have answered ~HS
        # Printers that have never answered ~HS and stayed silent the last time they were
        # asked: a label is sent to them without asking first (the answer would be the same
        # after a whole time-out); the status poll keeps asking and takes them off.
        self._silent: set[str] = set()

    # -- life cycle --

    def start(self) -> PrintWorker:
        if self._thread is None:
            with unit_of_work(self.sessions) as s:
                cut_off = sending.expire_leases(s, self.clock())
                known = s.execute(select(Printer.uri, Printer.state)).all()
                for uri, state in known:
                    if state and state not in NO_HS_ANSWER:
                        self._speaks_hs.add(uri)  # it answered ~HS before this start
                self._silent.update(
                    uri
                    for uri, state in known
                    if state == "no_status" and uri not in self._speaks_hs
                )
            if cut_off:
                log.warning("%d print job(s) were cut off mid-send: now unknown", cut_off)
            self._thread = threading.Thread(target=self._loop, name="print-worker", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self._pool.shutdown(wait=True)

    def wake(self) -> None:
        self._wake.set()

    @property
    def running(self) -> bool:
        return self._thread is not None and not self._stop.is_set()

    def offer(self, jobs: list[queue.NewJob]) -> None:
        """Jobs this process has just queued (committed): send them now, by the fast path.
        A worker that is not running leaves them to whichever worker polls next."""
        if not self.running:
            return
        taken = []
        with self._count:
            for new in jobs:
                if new.uri in self._busy:  # its printer is busy: the loop sends it after
                    self._recheck.add(new.uri)
                elif self._in_flight >= self.config.threads:
                    self._starved = True  # no room now: the loop takes it as threads come free
                else:
                    self._busy.add(new.uri)
                    self._in_flight += 1
                    self._offered.add(new.id)
                    taken.append(new)
        for new in taken:
            self._pool.submit(self._fast_counted, new)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self.run_once(wait=False)
            except Exception:  # a bad round must not end the thread
                log.exception("print worker round failed")
            self._wake.wait(self.config.poll_s)

    # -- one round --

    def run_once(self, wait: bool = True) -> int:
        """Expire, claim, hand each claimed job to the pool; returns how many were claimed.
        ``wait=False`` (the thread's loop) does not wait for the sends: a job queued meanwhile
        is claimed at the next wake-up instead of after the slowest send of this batch."""
        if time.monotonic() - self._last_expiry >= self.config.poll_s:
            self._last_expiry = time.monotonic()
            with unit_of_work(self.sessions) as s:
                sending.expire_leases(s, self.clock())
        if time.monotonic() - self._last_poll >= self.config.status_every_s:
            self._last_poll = time.monotonic()
            self.poll_printers()
        handled = 0
        futures = []
        while not self._stop.is_set():
            free = self.config.threads - self._in_flight
            if free <= 0:
                if not wait:
                    self._starved = True  # the pool is busy; a finished job wakes the loop
                    break
                for future in futures:
                    future.result()
                futures = []
                continue
            with self._count:
                offered = frozenset(self._offered)
                busy = frozenset(self._busy)
            with unit_of_work(self.sessions) as s:
                claims = sending.claim_due(
                    s,
                    self.clock(),
                    min(self.config.batch, free),
                    self.config.claim_lease_s,
                    exclude=offered,
                    busy_uris=busy,
                )
            if not claims:
                if wait and futures:  # printers busy with this round's jobs: their next ones
                    for future in futures:
                        future.result()
                    futures = []
                    continue
                break
            for claim in claims:
                with self._count:
                    self._in_flight += 1
                    self._busy.add(claim.uri)
                    self._recheck.add(claim.uri)  # one per printer was claimed: look again after
                futures.append(self._pool.submit(self._handle_counted, claim))
            handled += len(claims)
        if wait:
            for future in futures:
                future.result()
        return handled

    def _handle_counted(self, claim: queue.Claim) -> None:
        try:
            self.handle(claim)
        except Exception:
            log.exception("print job %s", claim.job_id)
        finally:
            self._slot_free(claim.uri)

    def _fast_counted(self, new: queue.NewJob) -> None:
        sent = False
        try:
            sent = self.send_new(new)
        except Exception:
            log.exception("print job %s", new.job_id)
        finally:
            with self._count:
                self._offered.discard(new.id)
            if not sent:
                self.wake()  # not sent by the fast path: the loop holds or retries it
            self._slot_free(new.uri)

    def _slot_free(self, uri: str) -> None:
        with self._count:
            self._in_flight -= 1
            self._busy.discard(uri)
            starved, self._starved = self._starved, False
            recheck = uri in self._recheck
            self._recheck.discard(uri)
        if starved or recheck:
            self.wake()  # a slot (or the printer) is free and jobs were left waiting for it

    def _state(self, uri: str, *, poll: bool = False) -> str:
        """``problems_of``, except that a printer which has answered ``~HS`` before and now
        stays silent is ``not_responding`` (hung or busy), not a printer without status.
        Before a send (``poll`` False) a printer that has never answered and was silent when
        last asked is not asked again: ``no_status`` at once, instead of after a time-out
        per label (a ZPL printer without ``~HS`` took ``FLOOR_PRINT_TIMEOUT_S`` a label, one
        label after the other). The status poll asks it every time."""
        if not poll and uri in self._silent:
            return "no_status"
        state = problems_of(uri, self.config.timeout_s)
        if state == "no_status" and uri in self._speaks_hs:
            return NOT_RESPONDING
        if state == "no_status":
            self._silent.add(uri)
        elif state not in NO_HS_ANSWER:
            self._speaks_hs.add(uri)  # ready, or its problems: it answers ~HS
            self._silent.discard(uri)
        return state

    def _printer(self, uri: str) -> threading.Lock:
        """One conversation at a time with a printer (``~HS``, then the label): a Zebra's raw
        port serves one connection, and the jobs of a burst at one station queue here, in this
        process, instead of in the printer's listen backlog, where a sender can see its bytes
        leave and the printer never get them."""
        with self._count:
            return self._printers.setdefault(uri, threading.Lock())

    def send_new(self, new: queue.NewJob) -> bool:
        with self._printer(new.uri):
            return self._send_new(new)

    def _send_new(self, new: queue.NewJob) -> bool:
        """The fast path (module docstring): ``~HS``, claim and ``sending`` in one transaction,
        send, record. False when the job was not sent here (the printer is not ready, or the job
        is no longer this worker's to send)."""
        cfg = self.config
        state = self._state(new.uri)
        if state not in SENDABLE:
            return False
        with writer_priority(), unit_of_work(self.sessions) as s:
            now = self.clock()
            claim = sending.claim_to_send(s, new, now, cfg.send_lease_s)
            if claim is None:
                return False
            if state == "ready":
                sending.record_printer_state(s, new.printer_id, state, now, if_changed=True)
        self._send_and_finish(claim)
        return True

    def handle(self, claim: queue.Claim) -> None:
        with self._printer(claim.uri):
            self._handle(claim)

    def _handle(self, claim: queue.Claim) -> None:
        cfg = self.config
        state = self._state(claim.uri)
        if state not in (*SENDABLE, "unreachable"):
            with unit_of_work(self.sessions) as s:
                sending.record_printer_state(s, claim.printer_id, state, self.clock())
                sending.hold(s, claim, state, self.clock(), cfg.poll_s)
            return
        with writer_priority(), unit_of_work(self.sessions) as s:
            if state == "ready":
                sending.record_printer_state(
                    s, claim.printer_id, state, self.clock(), if_changed=True
                )
            if not sending.start_sending(s, claim, self.clock(), cfg.send_lease_s):
                return
        self._send_and_finish(claim)

    def _send_and_finish(self, claim: queue.Claim) -> None:
        """The job is ``sending`` (committed): send it, then record the outcome."""
        cfg = self.config
        error: str | None = None
        unsure = False
        try:
            send(parse_printer_uri(claim.uri), claim.job_id, claim.zpl.encode(), cfg.timeout_s)
        except (PrinterError, PrinterUriError) as exc:
            error = str(exc)
            unsure = exc.code == PrinterErrorCode.dropped_after_send
        with unit_of_work(self.sessions) as s:
            status = sending.finish(s, claim, error, self.clock(), cfg.policy, unsure=unsure)
            if error is not None and "unreachable" in error:
                sending.record_printer_state(s, claim.printer_id, "unreachable", self.clock())
        if error is not None:
            log.warning("print job %s: %s (now %s)", claim.job_id, error, status)

    def poll_printers(self) -> None:
        """Ask every TCP printer for its status (in the pool; results recorded as they come)."""
        with unit_of_work(self.sessions) as s:
            printers = list(
                s.execute(
                    select(Printer.id, Printer.uri).where(Printer.transport == PrinterTransport.tcp)
                )
            )

        def poll(pk: int, uri: str) -> None:
            with self._printer(uri):
                state = self._state(uri, poll=True)
            with unit_of_work(self.sessions) as s:
                woken = sending.record_printer_state(s, pk, state, self.clock())
            if woken:
                self.wake()

        for pk, uri in printers:
            self._pool.submit(poll, pk, uri)

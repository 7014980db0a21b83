"""APScheduler wiring: background jobs (webhook delivery, auto waves, tracking polls, …).

Features contribute *job providers*: ``provider(scheduler, floor_ctx)`` adds its jobs with
``scheduler.add_job(module_level_function, trigger, kwargs=…, id=…, replace_existing=True)``.
Jobs are module-level functions taking plain arguments (the session factory, settings), so the
domain stays free of Flask. The scheduler runs in ``flask --app app serve`` (``make run``) and,
with ``FLOOR_RUN_SCHEDULER=1``, in the one process of several that wins ``SchedulerLeader``'s
lock (``make serve-prod``); tests call the job functions directly, or start a scheduler
themselves.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import logging
import os
import threading
from collections.abc import Callable, Iterable
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import text
from sqlalchemy.engine import Engine

JobProvider = Callable[[BackgroundScheduler, Any], None]


def build_scheduler(floor_ctx: Any, providers: Iterable[JobProvider]) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(
        timezone=dt.UTC,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30},
    )
    for provide in providers:
        provide(scheduler, floor_ctx)
    return scheduler


# --------------------------------------------------------------------------
# Scheduled jobs run once across processes
# --------------------------------------------------------------------------

LEADER_LOCK_KEY = 0x464C4F4F52  # "FLOOR": the PostgreSQL advisory lock the leader holds
log = logging.getLogger(__name__)


class SchedulerLeader:
    """Start ``scheduler`` in exactly one of the server processes that share a database.

    Every process (``FLOOR_RUN_SCHEDULER=1`` in all of them) runs this; whoever takes the lock
    starts the scheduler and keeps the lock for its whole life, the others try again every
    ``retry_s`` seconds and take over when the leader's process ends (its lock goes with it).

    * PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) on a connection of
      its own, held open; PostgreSQL releases it when the process or its connection dies.
    * SQLite: an exclusive ``flock`` on ``<database>.scheduler.lock`` beside the file; the
      kernel releases it when the process dies.
    """

    def __init__(self, scheduler: BackgroundScheduler, engine: Engine, retry_s: float = 10.0):
        self.scheduler = scheduler
        self.engine = engine
        self.retry_s = retry_s
        self.leader = False
        self._hold: Any = None  # the connection or file that holds the lock
        self._stop = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._loop, name="scheduler-leader", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        if self.leader:
            self._step_down()

    def _loop(self) -> None:
        """Try to lead; while leading, check every ``retry_s`` that the lock's connection is
        alive (PostgreSQL drops the lock with it) and step down if it is not."""
        while not self._stop.is_set():
            try:
                if not self.leader:
                    self._try()
                elif not self._alive():
                    log.warning("scheduler leader lost its lock; stepping down")
                    self._step_down()
            except Exception:  # the database is away for a moment: try again later
                log.exception("scheduler leader election failed; retrying")
            self._stop.wait(self.retry_s)

    def _alive(self) -> bool:
        try:
            self._hold.ping()
        except Exception:
            return False
        return True

    def _step_down(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if self._hold is not None:
            self._hold.close()
            self._hold = None
        self.leader = False

    def _try(self) -> bool:
        hold = self._take()
        if hold is None:
            return False
        self._hold, self.leader = hold, True
        log.info("this process runs the scheduled jobs (pid %d)", os.getpid())
        if not self.scheduler.running:
            self.scheduler.start()
        return True

    def _take(self) -> Any:
        if self.engine.dialect.name == "postgresql":
            conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LEADER_LOCK_KEY})
            if got.scalar():
                return _PgHold(conn)
            conn.close()
            return None
        database = self.engine.url.database
        if not database or database == ":memory:":
            return _NoLock()  # one process by construction
        f = open(f"{database}.scheduler.lock", "a+b")  # noqa: SIM115 (held for the life)
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            return None
        return _FileHold(f)


class _PgHold:
    """The connection that holds the advisory lock; closing it really closes it (returned to
    the pool it would stay open and keep the lock)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def ping(self) -> None:
        self.conn.execute(text("SELECT 1"))

    def close(self) -> None:
        self.conn.invalidate()
        self.conn.close()


class _FileHold:
    def __init__(self, f: Any) -> None:
        self.f = f

    def ping(self) -> None:
        return None

    def close(self) -> None:
        self.f.close()


class _NoLock:
    def ping(self) -> None:
        return None

    def close(self) -> None:
        return None

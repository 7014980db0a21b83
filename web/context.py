"""What a request needs from the app: the engine, a unit of work, the settings, Socket.IO."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from core.db import make_session_factory, read_only, unit_of_work
from core.settings import Settings


@dataclass
class FloorContext:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    socketio: Any = None
    scheduler: Any = None
    live: Any = None  # web.live.DashboardLive
    login_guard: Any = None  # web.login_guard.LoginGuard
    sockets: Any = None  # web.sockets.SocketRegistry
    print_worker: Any = None
    scheduler_leader: Any = None  # web.scheduler.SchedulerLeader
    devices: Any = None  # devices.hub.DeviceHub
    _readers: Any = None

    @property
    def readers(self) -> sessionmaker[Session]:
        """Sessions for transactions that only read (``core.db.read_only``): on SQLite they take
        no writer lock, so a request's log-in check does not queue behind other writers."""
        if self._readers is None:
            self._readers = make_session_factory(read_only(self.engine))
        return self._readers

    def close(self) -> None:
        """Stop what the app started (timers, workers, scheduler) and release the database."""
        if self.live is not None:
            self.live.cancel()
        if self.print_worker is not None:
            self.print_worker.stop()
        if self.scheduler is not None and getattr(self.scheduler, "running", False):
            self.scheduler.shutdown(wait=False)
        self.engine.dispose()


def ctx() -> FloorContext:
    return current_app.extensions["floor"]


@contextmanager
def uow() -> Iterator[Session]:
    """One transaction for a route or socket handler: commit on success, roll back on error."""
    with unit_of_work(ctx().sessions) as session:
        yield session

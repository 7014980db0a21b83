"""Domain events a service records for the web layer to fan out after the commit.

A service never emits on a socket. It calls ``publish(session, ...)``; the events ride on the
session and are handed to the listeners registered with ``on_commit`` only once the transaction
commits (a rollback drops them), so a dashboard never shows a change that did not happen.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

_KEY = "floor.domain_events"


@dataclass(frozen=True)
class DomainEvent:
    name: str  # e.g. "task.updated", "wave.progress", "order.status"
    data: dict[str, Any]
    rooms: tuple[str, ...] = field(default=("dashboard",))  # "wave:<id>", "user:<id>", ...


def publish(session: Session, name: str, data: dict[str, Any], *rooms: str) -> None:
    session.info.setdefault(_KEY, []).append(DomainEvent(name, data, rooms or ("dashboard",)))


def pending(session: Session) -> list[DomainEvent]:
    return list(session.info.get(_KEY, []))


def on_commit(
    factory: sessionmaker[Session], listener: Callable[[list[DomainEvent]], None]
) -> None:
    """Call ``listener`` with the events of every committed transaction of this factory."""

    @event.listens_for(factory, "after_commit")
    def _after_commit(session: Session) -> None:
        events = session.info.pop(_KEY, [])
        if events:
            listener(events)

    @event.listens_for(factory, "after_soft_rollback")
    def _after_rollback(session: Session, _previous: Any) -> None:
        session.info.pop(_KEY, None)

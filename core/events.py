"""Domain events: how a lower layer makes something happen above it without importing it.

A service never emits on a socket and never calls a package above its own. It records an event
on the session, and two kinds of listener, wired once by ``app.create_app``, take it from there:

* ``handle(factory, name, handler)``: in-transaction handlers, run just before the commit of the
  transaction that recorded the event, in the same unit of work. Used where exactly-once matters
  (a shipped package's label becomes one print job in the same commit as the shipment: if the
  commit fails, neither exists).
* ``on_commit(factory, listener)``: after-commit listeners (the web layer's Socket.IO fan-out),
  handed every event of a transaction once it has committed; a rollback drops them, so a
  dashboard never shows a change that did not happen.

``publish(session, name, data, *rooms)`` records an event for screens (rooms default to
``dashboard``); ``record(session, name, data)`` records an internal one (no room: handlers only).

``publish_snapshot(session, name, key, compute, *rooms)`` records a *state* event (a wave's
progress bar) whose data is computed after the commit, outside the write transaction, by
``resolve``: several snapshots of one ``(name, key, rooms)`` waiting to go out become one, the
last (a snapshot is the whole state, so nothing is lost). A scan that moves a bar therefore does
not aggregate the wave's tasks while it holds the write lock, and a burst of scans on one wave
costs one aggregate per fan-out round, not one per scan.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from core.writer_lock import after_durable_commit

_KEY = "floor.domain_events"
_HANDLED = "floor.domain_events_handled"

Handler = Callable[[Session, "DomainEvent"], None]
_handlers: weakref.WeakKeyDictionary[Any, dict[str, list[Handler]]] = weakref.WeakKeyDictionary()
_handlers_by_class: weakref.WeakKeyDictionary[type, dict[str, list[Handler]]] = (
    weakref.WeakKeyDictionary()
)
_listeners: weakref.WeakKeyDictionary[Any, list[Callable[[list[DomainEvent]], None]]] = (
    weakref.WeakKeyDictionary()
)


Snapshot = Callable[[Session], "dict[str, Any] | None"]


@dataclass(frozen=True)
class DomainEvent:
    name: str  # e.g. "task.updated", "wave.progress", "order.status"
    data: dict[str, Any]  # a snapshot's is {"id": key} until ``resolve`` computes it
    rooms: tuple[str, ...] = field(default=("dashboard",))  # "wave:<id>", "user:<id>", ...
    snapshot: Snapshot | None = field(default=None, compare=False)
    # A client whose answer already carried this event (the picker's own scan ack): the fan-out
    # does not send it there a second time. Only the web layer, which built the answer, sets it.
    answered_to: str | None = field(default=None, compare=False)


def publish(session: Session, name: str, data: dict[str, Any], *rooms: str) -> None:
    session.info.setdefault(_KEY, []).append(DomainEvent(name, data, rooms or ("dashboard",)))


def publish_snapshot(session: Session, name: str, key: Any, compute: Snapshot, *rooms: str) -> None:
    """Record a state event computed after the commit by ``compute(session)`` (None: dropped)."""
    ev = DomainEvent(name, {"id": key}, rooms or ("dashboard",), compute)
    session.info.setdefault(_KEY, []).append(ev)


def resolve(events: list[DomainEvent], session: Session) -> list[DomainEvent]:
    """The events ready to send: each snapshot computed once, at the place of its last copy."""
    if not any(ev.snapshot is not None for ev in events):
        return events
    last = {(ev.name, ev.data["id"], ev.rooms): i for i, ev in enumerate(events) if ev.snapshot}
    out = []
    for i, ev in enumerate(events):
        if ev.snapshot is None:
            out.append(ev)
        elif last[(ev.name, ev.data["id"], ev.rooms)] == i:
            data = ev.snapshot(session)
            if data is not None:
                out.append(DomainEvent(ev.name, data, ev.rooms))
    return out


def record(session: Session, name: str, data: dict[str, Any]) -> None:
    """Record an internal event: handed to in-transaction handlers, emitted to no room."""
    session.info.setdefault(_KEY, []).append(DomainEvent(name, data, ()))


def handle(factory: sessionmaker[Session], name: str, handler: Handler) -> None:
    """Run ``handler(session, event)`` for every ``name`` event, inside the transaction that
    recorded it, just before it commits. Events the handler records are handled too."""
    table = _handlers.get(factory)
    if table is None:
        table = _handlers[factory] = {}
        # Sessions of this factory are of its own class: run_handlers finds the table by it.
        _handlers_by_class[factory.class_] = table

        @event.listens_for(factory, "before_commit")
        def _dispatch(session: Session) -> None:
            run_handlers(session)

    table.setdefault(name, []).append(handler)


def run_handlers(session: Session) -> None:
    """Run the in-transaction handlers of the events recorded so far (and of those they
    record) now. The commit does it anyway; a before-commit step that must come after them
    (the outbox's feed lock on PostgreSQL, held to the commit) calls this first."""
    table = _handlers_by_class.get(type(session))
    if table is None:
        return
    events = session.info.get(_KEY, [])
    done = session.info.get(_HANDLED, 0)
    while done < len(events):
        ev = events[done]
        done += 1
        session.info[_HANDLED] = done
        for fn in table.get(ev.name, ()):
            fn(session, ev)


def pending(session: Session) -> list[DomainEvent]:
    return list(session.info.get(_KEY, []))


def transaction_events(session: Session) -> list[DomainEvent]:
    """The list the current transaction records its events in (not a copy). Kept by the caller
    and read after the commit, it holds every event of the transaction, those recorded by the
    in-transaction handlers too: what a route answers with, without reading it back."""
    return session.info.setdefault(_KEY, [])


def _tell(listeners: list[Callable[[list[DomainEvent]], None]], events: list[DomainEvent]) -> None:
    for fn in list(listeners):
        fn(events)


def on_commit(
    factory: sessionmaker[Session], listener: Callable[[list[DomainEvent]], None]
) -> None:
    """Call ``listener`` with the events of every committed transaction of this factory. Several
    listeners may be registered (the socket fan-out, the print worker's wake-up...): each gets
    every committed event, in registration order."""
    listeners = _listeners.get(factory)
    if listeners is None:
        listeners = _listeners[factory] = []

        @event.listens_for(factory, "after_commit")
        def _after_commit(session: Session) -> None:
            events = session.info.pop(_KEY, [])
            session.info.pop(_HANDLED, None)
            if events:
                after_durable_commit(session, lambda: _tell(listeners, events))

        @event.listens_for(factory, "after_soft_rollback")
        def _after_rollback(session: Session, _previous: Any) -> None:
            session.info.pop(_KEY, None)
            session.info.pop(_HANDLED, None)

    listeners.append(listener)

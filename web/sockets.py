"""Socket.IO: one namespace, ``/floor``; rooms are the fan-out unit.

On connect the Flask session cookie decides who you are; you join ``user:<id>`` and the rooms of
your role (supervisors: ``dashboard``, or ``dashboard:live`` once the dashboard page asks for
the coalesced feed of ``web.live``; packers: ``station:<code>`` when they pick one). Anonymous
connections are refused. Committed domain events are emitted to the rooms they name.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask_socketio import SocketIO, join_room, leave_room

from core.accounts import has_role
from core.events import DomainEvent
from core.users import Role
from web.auth import current_actor
from web.live import ROOM as LIVE_ROOM

NAMESPACE = "/floor"
F = TypeVar("F", bound=Callable[..., Any])


def socket_roles(*roles: Role) -> Callable[[F], F]:
    """Socket handler guard: answers ``{"ok": false, "error": {...}}`` instead of running."""

    def decorator(handler: F) -> F:
        @functools.wraps(handler)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            actor = current_actor()
            if actor is None:
                return {"ok": False, "error": {"code": "not_authenticated"}}
            if roles and not has_role(actor.role, *roles):
                return {
                    "ok": False,
                    "error": {"code": "forbidden", "message": f"needs role {'/'.join(roles)}"},
                }
            return handler(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


def register(socketio: SocketIO) -> None:
    @socketio.on("connect", namespace=NAMESPACE)
    def on_connect(auth: Any = None) -> bool:
        actor = current_actor()
        if actor is None:
            return False
        join_room(f"user:{actor.user_id}")
        if has_role(actor.role, Role.supervisor):
            join_room("dashboard")
        return True

    @socketio.on("whoami", namespace=NAMESPACE)
    @socket_roles()
    def whoami(_data: Any = None) -> dict[str, Any]:
        actor = current_actor()
        assert actor is not None
        return {"ok": True, "user_id": actor.user_id, "username": actor.name, "role": actor.role}

    @socketio.on("join_dashboard", namespace=NAMESPACE)
    @socket_roles(Role.supervisor)
    def join_dashboard(_data: Any = None) -> dict[str, Any]:
        join_room("dashboard")
        return {"ok": True}

    @socketio.on("dashboard:live", namespace=NAMESPACE)
    @socket_roles(Role.supervisor)
    def join_dashboard_live(_data: Any = None) -> dict[str, Any]:
        """The dashboard page: one coalesced message a second instead of every event."""
        leave_room("dashboard")
        join_room(LIVE_ROOM)
        return {"ok": True, "room": LIVE_ROOM}


def emitter(
    socketio: SocketIO, also: Callable[[list[DomainEvent]], None] | None = None
) -> Callable[[list[DomainEvent]], None]:
    """Emit each committed event to its rooms, then hand the batch to ``also`` (the live
    dashboard's coalescer, ``web.live``)."""

    def emit(events: list[DomainEvent]) -> None:
        for ev in events:
            for room in ev.rooms:
                socketio.emit(ev.name, ev.data, to=room, namespace=NAMESPACE)
        if also is not None:
            also(events)

    return emit

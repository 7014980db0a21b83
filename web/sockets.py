"""Socket.IO: one namespace, ``/floor``; rooms are the fan-out unit.

On connect the Flask session cookie decides who you are; you join ``user:<id>`` and the rooms of
your role (supervisors: ``dashboard``, or ``dashboard:live`` once the dashboard page asks for
the coalesced feed of ``web.live``; packers: ``station:<code>`` when they pick one). Anonymous
connections are refused. Committed domain events are emitted to the rooms they name.

Only pages of this server may open a socket: the handshake's ``Origin`` must be this server's own
(scheme and host as the client reached it) or one listed in FLOOR_ALLOWED_ORIGINS
(``same_origin_check``). Every event re-checks the session (``web.auth.current_actor``), and the
``SocketRegistry`` closes the sockets of a user whose sessions ended: at once in the process that
ended them, within ``SWEEP_S`` seconds in any other process (each process's sweep thread).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import queue
import socket
import threading
import weakref
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from flask import request, session
from flask.sessions import SecureCookieSessionInterface
from flask_socketio import SocketIO, join_room, leave_room
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.accounts import demo_users_closed, has_role
from core.db import unit_of_work
from core.errors import CoreErrorCode, FloorError
from core.events import DomainEvent, resolve
from core.inputs import check_json
from core.users import Role, User
from web import auth
from web.auth import current_actor
from web.context import ctx
from web.errors import socket_ack
from web.live import ROOM as LIVE_ROOM

NAMESPACE = "/floor"
SWEEP_S = 5
LOGIN_S = 12 * 3600.0  # a login's lifetime (the app's PERMANENT_SESSION_LIFETIME)
SNAPSHOT_WINDOW_S = 0.05  # how long the fan-out gathers snapshot events before computing them
log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])


def same_origin_check(extra: Iterable[str]) -> Callable[[str | None, dict[str, Any]], bool]:
    """The ``cors_allowed_origins`` callable for python-engineio: the request's own origin (as the
    WSGI environ has it, after ProxyFix when proxies are trusted) plus the listed ones.

    engineio reads ``cors_allowed_origins=[]`` as "CORS handling off" and then skips the Origin
    check altogether; its default (None) does check, but trusts X-Forwarded-Host/-Proto from any
    client. This callable trusts only the environ."""
    allowed = {o.strip().rstrip("/").lower() for o in extra if o.strip()}

    def check(origin: str | None, environ: dict[str, Any]) -> bool:
        if not origin:
            return True  # not a browser page (browsers always send Origin on a WebSocket)
        own = f"{environ.get('wsgi.url_scheme', 'http')}://{environ.get('HTTP_HOST', '')}"
        return origin.rstrip("/").lower() in allowed | {own.lower()}

    return check


class NoDelay:
    """WSGI middleware: a WebSocket's TCP connection sends each frame at once (``TCP_NODELAY``).

    A scan's ack often follows the ``task.updated`` frame on the same connection; with Nagle's
    algorithm on, that second small frame waited for the handheld's delayed ACK (~40 ms):
    1 handheld flat out measured p50 8 ms but p95 54 ms."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("HTTP_UPGRADE", "").lower() == "websocket":
            sock = environ.get("werkzeug.socket") or environ.get("gunicorn.socket")
            if sock is not None:  # (not TCP: a unix socket, a test double — leave it)
                with contextlib.suppress(OSError, AttributeError):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self.app(environ, start_response)


class SocketSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, minus the cookie decoding on every Socket.IO event.

    Flask-SocketIO pushes a request context per event, and pushing one opens the session
    (checks the cookie's HMAC, decodes its JSON): then it throws that away and puts the copy
    it saved at the socket's connect (``environ["saved_session"]``) in its place. Handing
    that copy back at once ends up with the same session object, for less CPU. A plain HTTP
    request has no saved session and is opened as ever."""

    def open_session(self, app: Any, request: Any) -> Any:
        saved = request.environ.get("saved_session")
        if saved is not None:
            return saved
        return super().open_session(app, request)


class SocketRegistry:
    """This process's live sockets: sid → (user id, session version it connected with, when
    that login was made)."""

    def __init__(self, socketio: SocketIO) -> None:
        self._socketio = socketio
        self._lock = threading.Lock()
        self._by_sid: dict[str, tuple[int, int, float]] = {}
        self._sweeper: threading.Thread | None = None
        self._stopped = threading.Event()

    def add(self, sid: str, user_id: int, version: int, login_at: float) -> None:
        with self._lock:
            self._by_sid[sid] = (user_id, version, login_at)

    def remove(self, sid: str) -> None:
        with self._lock:
            self._by_sid.pop(sid, None)

    def __len__(self) -> int:
        return len(self._by_sid)

    def start_sweeping(self, sessions: sessionmaker[Session]) -> None:
        """``sweep`` every ``SWEEP_S`` seconds in this process. Each process sweeps its own
        sockets, so this is a thread of every serving process, not a scheduled job (those run
        in one process of several: a logout through one process left the picker's socket on a
        process without the scheduler open for good)."""
        if self._sweeper is not None:
            return

        def loop() -> None:
            while not self._stopped.wait(SWEEP_S):
                try:
                    self.sweep(sessions)
                except Exception:  # a bad round must not end the thread
                    log.exception("socket sweep failed")

        self._sweeper = threading.Thread(target=loop, name="socket-sweep", daemon=True)
        self._sweeper.start()

    def stop_sweeping(self) -> None:
        self._stopped.set()

    def _close(self, sids: list[str]) -> None:
        for sid in sids:
            self.remove(sid)
            self._socketio.server.disconnect(sid, namespace=NAMESPACE)

    def disconnect_user(self, user_id: int) -> None:
        with self._lock:
            sids = [sid for sid, (uid, _, _) in self._by_sid.items() if uid == user_id]
        self._close(sids)

    def sweep(self, sessions: sessionmaker[Session], login_lifetime_s: float = LOGIN_S) -> int:
        """Close sockets whose session no longer holds (ended elsewhere, the user deactivated,
        or a demo user's once a real supervisor or admin exists, or a login older than its
        lifetime: a handheld's socket stays open for days); returns how many."""
        with self._lock:
            live = dict(self._by_sid)
        if not live:
            return 0
        ids = {uid for uid, _, _ in live.values()}
        with sessions() as s:
            rows = s.execute(
                select(User.id, User.session_version, User.active, User.is_demo).where(
                    User.id.in_(ids)
                )
            ).all()
            # A demo user's session ends once the site has a real manager (as at its next
            # request): its socket must not go on receiving the floor's events.
            demo_closed = any(r.is_demo for r in rows) and demo_users_closed(s)
        current = {
            r.id: r.session_version for r in rows if r.active and not (r.is_demo and demo_closed)
        }
        now = auth.clock()
        stale = [
            sid
            for sid, (uid, ver, at) in live.items()
            if current.get(uid) != ver or not 0 <= now - at <= login_lifetime_s
        ]
        self._close(stale)
        return len(stale)


def socket_roles(*roles: Role) -> Callable[[F], F]:
    """Every Socket.IO handler's wrapper: checks the caller's role, runs the handler, and always
    acks. Refusals (``not_authenticated``, ``forbidden``, any ``FloorError`` the handler raises)
    and unexpected errors become ``{"ok": false, "error": {"code", "message"}}``
    (``web.errors.socket_ack``). Payloads pass ``core.inputs.check_json`` first (no NUL, no
    number past 64 bits, bounded nesting): a refusal is the ack ``out_of_range``,
    ``invalid_characters`` ..."""

    def decorator(handler: F) -> F:
        @functools.wraps(handler)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            actor = current_actor()
            if actor is None:
                raise FloorError(CoreErrorCode.not_authenticated, "log in first", 401)
            if roles and not has_role(actor.role, *roles):
                raise FloorError(CoreErrorCode.forbidden, f"needs role {'/'.join(roles)}", 403)
            if len(args) > 1:  # emit("scan", a, b): every event here carries one payload
                raise FloorError(
                    CoreErrorCode.bad_request, "an event carries one payload (an object)", 400
                )
            for arg in args:  # the floor under every payload: storable text, 64-bit numbers
                check_json(arg, "payload")
            return handler(*args, **kwargs)

        return socket_ack(guarded)

    return decorator


_DISCONNECT_HOOKS: weakref.WeakKeyDictionary[SocketIO, list[Callable[[], None]]] = (
    weakref.WeakKeyDictionary()
)


def on_disconnect(socketio: SocketIO, hook: Callable[[], None]) -> None:
    """Run ``hook`` (in the disconnect's request context) when a ``/floor`` socket of this
    app's ``socketio`` goes."""
    _DISCONNECT_HOOKS.setdefault(socketio, []).append(hook)


def register(socketio: SocketIO) -> None:
    @socketio.on("connect", namespace=NAMESPACE)
    def on_connect(auth: Any = None) -> bool:
        actor = current_actor()
        if actor is None or actor.user_id is None:
            return False
        ctx().sockets.add(request.sid, actor.user_id, session["sv"], session["at"])  # type: ignore[attr-defined]
        join_room(f"user:{actor.user_id}")
        if has_role(actor.role, Role.supervisor):
            join_room("dashboard")
        return True

    @socketio.on("disconnect", namespace=NAMESPACE)
    def on_disconnect(*_args: Any) -> None:
        # The namespace's only disconnect handler (a second registration would replace it):
        # the registry forgets the socket, then every hook added with ``on_disconnect`` runs.
        ctx().sockets.remove(request.sid)  # type: ignore[attr-defined]
        for hook in _DISCONNECT_HOOKS.get(socketio, ()):
            hook()

    @socketio.on("*", namespace=NAMESPACE)
    @socket_ack
    def on_unknown_event(event: Any, *_args: Any) -> dict[str, Any]:
        """An event no handler serves still gets its answer (a client waiting on an ack)."""
        raise FloorError(
            CoreErrorCode.unknown_event, f"no event {str(event)[:60]!r} on this namespace", 404
        )

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
        """The dashboard page: one coalesced message (at most every 0.6 s), not every event."""
        leave_room("dashboard")
        join_room(LIVE_ROOM)
        ctx().live.touch()  # the live state now, not at the next change
        return {"ok": True, "room": LIVE_ROOM}


def _local_rooms(socketio: SocketIO) -> dict[str, Any]:
    """The rooms of namespace ``/floor`` with the clients of this process in each."""
    server = socketio.server
    return server.manager.rooms.get(NAMESPACE, {}) if server is not None else {}


def room_has_members(socketio: SocketIO, room: str) -> bool:
    """Whether a client connected to this process is in ``room``."""
    return bool(_local_rooms(socketio).get(room))


def _others_in(members: Any, answered: str | None) -> bool:
    """A room (its members: sid → engine.io sid) with someone in it besides ``answered``."""
    return bool(members) and (answered is None or len(members) > 1 or answered not in members)


class Emitter:
    """The after-commit fan-out, off the request thread: ``__call__`` queues a committed
    transaction's events and returns at once; one background task (a thread, or a greenlet
    under gevent) emits them in commit order. The handler that committed answers its client
    without waiting for every room's sends (or the Redis publish, with a message queue).

    Each round takes everything queued so far and computes its snapshot events
    (``core.events.resolve``) in one read-only transaction: under a burst of scans a wave's
    progress is aggregated once per round, not once per scan."""

    def __init__(
        self,
        socketio: SocketIO,
        readers: sessionmaker[Session] | None = None,
        *,
        local_rooms_only: bool = False,
    ) -> None:
        self.socketio = socketio
        self.readers = readers
        # No message queue: the rooms of this process are every listener there is, so an event
        # for rooms nobody is in is dropped before its snapshot is computed.
        self.local_rooms_only = local_rooms_only
        self.queue: queue.Queue[list[DomainEvent]] = queue.Queue()
        self._started = False
        self._lock = threading.Lock()

    def __call__(self, events: list[DomainEvent]) -> None:
        events = self._listened(events)
        if not events:  # nobody to tell: the fan-out thread is not even woken
            return
        if not self._started:
            with self._lock:
                if not self._started:
                    self.socketio.start_background_task(self._run)
                    self._started = True
        self.queue.put(events)

    def _take(self) -> list[DomainEvent]:
        events = list(self.queue.get())
        if any(ev.snapshot for ev in events):
            # A snapshot is worth waiting for company: the scans of the next few milliseconds
            # that move the same bar are then computed with it, once.
            self.socketio.sleep(SNAPSHOT_WINDOW_S)
        while True:
            try:
                events.extend(self.queue.get_nowait())
            except queue.Empty:
                return events

    def _listened(self, events: list[DomainEvent]) -> list[DomainEvent]:
        """The events with their rooms that somebody is in besides the client the event
        already answered (all of them with a message queue: a listener may be on another
        process). Run on the committing thread, so an event nobody hears costs no wake-up."""
        if not self.local_rooms_only:
            return events
        rooms = _local_rooms(self.socketio)
        out = []
        for ev in events:
            kept = tuple(room for room in ev.rooms if _others_in(rooms.get(room), ev.answered_to))
            if kept == ev.rooms:
                out.append(ev)
            elif kept:
                out.append(DomainEvent(ev.name, ev.data, kept, ev.snapshot, ev.answered_to))
        return out

    def _resolved(self, events: list[DomainEvent]) -> list[DomainEvent]:
        if self.readers is None or not any(ev.snapshot for ev in events):
            return [ev for ev in events if ev.snapshot is None]
        try:
            with unit_of_work(self.readers) as s:
                return resolve(events, s)
        except Exception:  # the database went away: send what needs no reading
            log.exception("snapshot events could not be computed")
            return [ev for ev in events if ev.snapshot is None]

    def _run(self) -> None:
        while True:
            for ev in self._resolved(self._take()):
                for room in ev.rooms:
                    try:
                        self.socketio.emit(
                            ev.name,
                            ev.data,
                            to=room,
                            namespace=NAMESPACE,
                            skip_sid=ev.answered_to,
                        )
                    except Exception:  # one bad send must not stop the fan-out
                        log.exception("emit %s to %s failed", ev.name, room)


def emitter(
    socketio: SocketIO,
    readers: sessionmaker[Session] | None = None,
    *,
    local_rooms_only: bool = False,
) -> Callable[[list[DomainEvent]], None]:
    """Emit each committed event to the rooms it names (off the committing thread)."""
    return Emitter(socketio, readers, local_rooms_only=local_rooms_only)

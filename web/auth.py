"""Login (password for desk users, badge scan for handhelds), logout, and role checks shared by
pages, JSON routes and Socket.IO handlers. The session cookie is the one Flask signs; Socket.IO
connections read the same cookie.

A signed cookie alone is not enough: ``current_actor`` checks it against the database at each
request or socket event (the user is active, its ``session_version`` is the one signed into the
cookie; a yes is remembered for a quarter of a second, ``core.accounts.session_is_current``), so
logout and deactivation end a session everywhere: at once in the server process that made the
change, within that quarter second in the others. Failed logins are
throttled (``web.login_guard``) and audited as ``login.failed`` without the secret tried.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from sqlalchemy import select

from core.accounts import (
    LoginResult,
    end_sessions,
    has_role,
    login_with_badge,
    login_with_password,
    session_is_current,
    sha256,
)
from core.actors import Actor
from core.audit import audit
from core.errors import CoreErrorCode, FloorError
from core.users import Role, User
from web.context import ctx, uow
from web.errors import json_error, wants_json
from web.login_guard import Lock, ThrottleUnavailable

log = logging.getLogger(__name__)

bp = Blueprint("auth", __name__)
F = TypeVar("F", bound=Callable[..., Any])

HOME_BY_ROLE = {
    Role.picker: "pages.handheld",
    Role.packer: "pack.page",
    Role.supervisor: "pages.dashboard",
    Role.admin: "pages.dashboard",
}


def clock() -> float:
    """Now, in epoch seconds (the login clock: tests move it)."""
    return time.time()


def login_expired(at: object) -> bool:
    """Whether a login made at ``at`` (epoch seconds, signed into the session) is over: a login
    lasts PERMANENT_SESSION_LIFETIME (12 h) from when it was made. The cookie's own expiry is
    no bound: the cookie is signed anew whenever the session changes (a message for the next
    page), and a socket keeps the session it connected with for as long as it stays open."""
    if not isinstance(at, int | float) or isinstance(at, bool):
        return True  # a session from before logins carried their time: log in again
    return not 0 <= clock() - at <= current_app.permanent_session_lifetime.total_seconds()


def current_actor() -> Actor | None:
    """Who the signed session names, if that session still holds (checked in the database at
    each request or socket event, outside any transaction, so it never waits for the SQLite
    writer; the role comes from the database, so a change applies at once; see
    ``core.accounts.session_is_current`` for the answer it remembers)."""
    if "floor_actor" in g:
        return g.floor_actor
    actor = None
    uid = session.get("uid")
    if isinstance(uid, int) and not login_expired(session.get("at")):
        # one read (no Session, no writer lock), or the answer of a moment ago
        user = session_is_current(ctx().read_engine.connect, uid, session.get("sv"))
        if user is not None:
            actor = Actor(name=user.username, role=user.role, user_id=user.id)
    if actor is None and uid is not None:
        session.clear()  # an ended session: the browser gets a cleared cookie
    g.floor_actor = actor
    return actor


def _start_session(user: User) -> None:
    session.clear()
    session["uid"] = user.id
    session["sv"] = user.session_version
    session["username"] = user.username
    session["role"] = user.role.value
    session["at"] = int(clock())  # the login ends 12 h from now (login_expired)
    session.permanent = True


def roles_required(*roles: Role) -> Callable[[F], F]:
    """Page/JSON guard: 401 (or redirect to login) when anonymous, 403 when the role is wrong."""

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            actor = current_actor()
            if actor is None:
                if wants_json():
                    return json_error(
                        FloorError(CoreErrorCode.not_authenticated, "log in first", 401)
                    )
                return redirect(url_for("auth.login", next=request.full_path))
            if roles and not has_role(actor.role, *roles):
                if wants_json():
                    return json_error(
                        FloorError(CoreErrorCode.forbidden, f"needs role {'/'.join(roles)}", 403)
                    )
                abort(403)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


@bp.get("/login")
def login() -> Any:
    # An ended session (logged out elsewhere, past its 12 h) is cleared here: else the page
    # (its cookie still naming a user) loaded the live connection, which the server refused,
    # which sent the page to the log-in page again — over and over, the badge field with it.
    current_actor()
    return render_template("login.html", next=request.args.get("next", ""))


def client_address() -> str:
    """The client's address (the proxy's unless FLOOR_TRUSTED_PROXIES lets ProxyFix see past it)."""
    return request.remote_addr or "unknown"


def _login_page(status: int) -> Any:
    return render_template("login.html", next=request.form.get("next", "")), status


def _throttled(lock: Lock, method: str) -> Any:
    log.warning(
        "login throttled: %s locked for %d s (method %s, address %s)",
        lock.scope,
        lock.retry_after_s,
        method,
        client_address(),
    )
    flash(f"Too many failed attempts. Try again in {lock.retry_after_s} s.", "error")
    response = make_response(_login_page(429))
    response.headers["Retry-After"] = str(lock.retry_after_s)
    return response


def _target_username(s: Any, badge: str, username: str) -> str:
    """The account an attempt aims at, for the per-user lock (a badge's owner, or the typed
    name whether or not it exists, so a lock does not reveal which usernames are real)."""
    if not badge:
        return username.lower()
    owner = s.scalar(select(User.username).where(User.badge_hash == sha256(badge)))
    return (owner or "").lower()


def _audit_failure(s: Any, result: LoginResult, method: str) -> None:
    """``login.failed``: the address, the method, why, and the account only when it exists —
    never the password or badge tried (a typed username can be a password in the wrong box)."""
    details = {"method": method, "reason": result.reason, "address": client_address()}
    if result.username:
        details["username"] = result.username
    audit(
        s,
        Actor("anonymous"),
        "login.failed",
        entity="user" if result.user_id else "",
        entity_id=result.user_id or "",
        details=details,
    )


@bp.post("/login")
def login_post() -> Any:
    try:
        return _login_attempt()
    except ThrottleUnavailable as exc:  # was a 500 page while Redis was down or misconfigured
        log.error("login refused: the login throttle's store does not answer (%s)", exc)
        flash(
            "Sign-in is unavailable: the login limiter's store (FLOOR_REDIS_URL) does not "
            "answer. Tell the administrator.",
            "error",
        )
        return _login_page(503)


def _login_attempt() -> Any:
    badge = request.form.get("badge", "").strip()
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    method = "badge" if badge else "password"
    guard = ctx().login_guard
    address = client_address()
    if (lock := guard.locked(address)) is not None:
        return _throttled(lock, method)
    target: str | None = None
    begun = False
    user = None
    try:
        with uow() as s:
            target = _target_username(s, badge, username) or None
            # Checked and counted as in flight in one step: a burst of guesses sent at once
            # takes turns with the limit instead of all passing it before the first is counted.
            if (lock := guard.begin(address, target)) is not None:
                return _throttled(lock, method)
            begun = True
            if badge:
                result = login_with_badge(s, badge, password)
            else:
                result = login_with_password(s, username, password)
            user = result.user
            if user is None:
                _audit_failure(s, result, method)
            else:
                audit(
                    s,
                    Actor(user.username, user.role, user.id),
                    "login",
                    entity="user",
                    entity_id=user.id,
                    details={"method": method, "address": address},
                )
    finally:
        if begun:
            guard.end(address, target, failed=user is None)
    if user is None:
        flash(
            "Badge not recognised (supervisors and admins: type your password, then scan)."
            if badge
            else "Wrong username or password.",
            "error",
        )
        return _login_page(401)
    target_url = local_target(request.form.get("next"), url_for(HOME_BY_ROLE[user.role]))
    _start_session(user)
    return redirect(target_url)


def local_target(raw: object, fallback: str) -> str:
    """``raw`` when it is a path on this site (``/orders?x=1``), else ``fallback``: never another
    host. Browsers drop tabs and newlines and read ``\\`` as ``/``, so ``/<tab>/evil.example`` or
    ``/\\evil.example`` would leave the site; any control character, space or backslash refuses
    the target (a newline would also break the Location header)."""
    if not isinstance(raw, str) or not 1 <= len(raw) <= 2000:
        return fallback
    if not raw.startswith("/") or raw.startswith("//"):
        return fallback
    if "\\" in raw or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in raw):
        return fallback
    parts = urlsplit(raw)
    return raw if not parts.scheme and not parts.netloc else fallback


@bp.post("/logout")
def logout() -> Any:
    """Ends every session of this user (all devices) and closes their live sockets."""
    actor = current_actor()
    session.clear()
    if actor is not None and actor.user_id is not None:
        with uow() as s:
            end_sessions(s, actor.user_id)
            audit(s, actor, "logout", entity="user", entity_id=actor.user_id)
        ctx().sockets.disconnect_user(actor.user_id)
    return redirect(url_for("auth.login"))


@bp.get("/me")
@roles_required()
def me() -> Any:
    actor = current_actor()
    assert actor is not None
    return jsonify(user_id=actor.user_id, username=actor.name, role=actor.role)

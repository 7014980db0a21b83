"""Login (password for desk users, badge scan for handhelds), logout, and role checks shared by
pages, JSON routes and Socket.IO handlers. The session cookie is the one Flask signs; Socket.IO
connections read the same cookie."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import (
    Blueprint,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from core.accounts import has_role, login_with_badge, login_with_password
from core.actors import Actor
from core.audit import audit
from core.users import Role, User
from web.context import uow

bp = Blueprint("auth", __name__)
F = TypeVar("F", bound=Callable[..., Any])

HOME_BY_ROLE = {
    Role.picker: "pages.handheld",
    Role.packer: "pack.page",
    Role.supervisor: "pages.dashboard",
    Role.admin: "pages.dashboard",
}


def current_actor() -> Actor | None:
    uid = session.get("uid")
    if uid is None:
        return None
    return Actor(name=session.get("username", "?"), role=Role(session["role"]), user_id=uid)


def _start_session(user: User) -> None:
    session.clear()
    session["uid"] = user.id
    session["username"] = user.username
    session["role"] = user.role.value
    session.permanent = True


def _wants_json() -> bool:
    return (
        request.is_json
        or request.accept_mimetypes.best == "application/json"
        or request.path.startswith("/api/")
    )


def roles_required(*roles: Role) -> Callable[[F], F]:
    """Page/JSON guard: 401 (or redirect to login) when anonymous, 403 when the role is wrong."""

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            actor = current_actor()
            if actor is None:
                if _wants_json():
                    return jsonify(
                        error={"code": "not_authenticated", "message": "log in first"}
                    ), 401
                return redirect(url_for("auth.login", next=request.full_path))
            if roles and not has_role(actor.role, *roles):
                if _wants_json():
                    return jsonify(
                        error={"code": "forbidden", "message": f"needs role {'/'.join(roles)}"}
                    ), 403
                abort(403)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


@bp.get("/login")
def login() -> Any:
    return render_template("login.html", next=request.args.get("next", ""))


@bp.post("/login")
def login_post() -> Any:
    badge = request.form.get("badge", "").strip()
    with uow() as s:
        if badge:
            user = login_with_badge(s, badge)
            method = "badge"
        else:
            user = login_with_password(
                s, request.form.get("username", "").strip(), request.form.get("password", "")
            )
            method = "password"
        if user is not None:
            audit(
                s,
                Actor(user.username, user.role, user.id),
                "login",
                entity="user",
                entity_id=user.id,
                details={"method": method},
            )
    if user is None:
        flash("Badge not recognised." if badge else "Wrong username or password.", "error")
        return render_template("login.html", next=request.form.get("next", "")), 401
    _start_session(user)
    target = request.form.get("next") or ""
    if not target.startswith("/") or target.startswith("//"):
        target = url_for(HOME_BY_ROLE[user.role])
    return redirect(target)


@bp.post("/logout")
def logout() -> Any:
    session.clear()
    return redirect(url_for("auth.login"))


@bp.get("/me")
@roles_required()
def me() -> Any:
    actor = current_actor()
    assert actor is not None
    return jsonify(user_id=actor.user_id, username=actor.name, role=actor.role)

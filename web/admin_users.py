"""Floor staff in bulk: ``POST /admin/users`` creates (or re-badges) pickers and packers.

Why it exists: a site (or the floor simulator, ``flask --app app simulate``) that needs 200
handheld users should not start ``flask create-user`` 200 times (a second of start-up each).

Who may call it and what it may do, on purpose narrow:

* role **admin** only, session cookie + CSRF header (``X-CSRFToken``), like every JSON call
  from a page;
* only the floor roles that log in by **badge** (``picker``, ``packer``): desk roles (supervisor,
  admin) carry a password and more rights, and stay with ``flask create-user`` — a bulk door for
  them would be a bulk door for privilege;
* a user that already exists with the **same** role gets the new badge (its old badge stops
  working and its open sessions end, as on logout); one with another role is refused
  (``role_mismatch``), never changed; a name taken in another case (``Pat`` beside ``pat``:
  ``username_taken``, as ``flask create-user`` refuses it) and a badge another user holds
  (``badge_taken``; the same badge twice in one call: ``duplicate``) are refused too;
* every row is audited with the admin as actor (``user.create`` / ``user.badge``); the badge
  itself is stored only as a hash and never written to the audit trail or the answer;
* at most 500 users per call; the whole call is one transaction (all or nothing).

Body ``{"users": [{"username", "role", "badge", "display_name"?}, ...]}``; answer ``200
{"created": n, "rebadged": n, "users": [{"username", "id", "role", "outcome"}]}`` or ``422
{"errors": [{"code", "field", "message"}]}``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from sqlalchemy import func, select

from core.accounts import create_user, end_sessions, sha256
from core.audit import audit
from core.users import Role, User
from web.auth import current_actor, roles_required
from web.context import uow

bp = Blueprint("admin_users", __name__)

MAX_USERS = 500
BADGE_ROLES = (Role.picker, Role.packer)


def _problems(items: Any) -> list[dict[str, str]]:
    """Every problem of the body, each with the field it is about (nothing is written if any)."""
    if not isinstance(items, list) or not items:
        return [{"code": "invalid", "field": "users", "message": "send a non-empty list"}]
    if len(items) > MAX_USERS:
        return [{"code": "too_many", "field": "users", "message": f"at most {MAX_USERS}"}]
    errors: list[dict[str, str]] = []
    seen: set[str] = set()
    badges: set[str] = set()
    for i, item in enumerate(items):
        at = f"users[{i}]"
        if not isinstance(item, dict):
            errors.append({"code": "invalid", "field": at, "message": "must be an object"})
            continue
        name, role, badge = item.get("username"), item.get("role"), item.get("badge")
        if (
            not isinstance(name, str)
            or not 1 <= len(name.strip()) <= 60
            or not name.strip().isprintable()
        ):
            errors.append(
                {"code": "invalid", "field": f"{at}.username", "message": "1-60 printable chars"}
            )
        elif name.strip().lower() in seen:
            errors.append({"code": "duplicate", "field": f"{at}.username", "message": "twice"})
        else:
            seen.add(name.strip().lower())
        if role not in [r.value for r in BADGE_ROLES]:
            errors.append(
                {"code": "invalid_role", "field": f"{at}.role", "message": "picker or packer"}
            )
        if not isinstance(badge, str) or not 8 <= len(badge.strip()) <= 128:
            errors.append({"code": "invalid", "field": f"{at}.badge", "message": "8-128 chars"})
        elif badge.strip() in badges:
            errors.append({"code": "duplicate", "field": f"{at}.badge", "message": "twice"})
        else:
            badges.add(badge.strip())
    return errors


def _clashes(session: Any, items: list[dict[str, Any]]) -> tuple[dict[str, User], list[Any]]:
    """The users the call names (by exact username) and what refuses it against the stored
    ones: a name taken in another case or role, a badge another user holds."""
    names = [i["username"].strip() for i in items]
    stored = session.scalars(
        select(User).where(func.lower(User.username).in_([n.lower() for n in names]))
    ).all()
    by_lower = {u.username.lower(): u for u in stored}
    hashes = [sha256(i["badge"].strip()) for i in items]
    holders = dict(
        session.execute(
            select(User.badge_hash, User.username).where(User.badge_hash.in_(hashes))
        ).all()
    )
    existing: dict[str, User] = {}
    errors: list[dict[str, str]] = []
    for n, (item, name, badge_hash) in enumerate(zip(items, names, hashes, strict=True)):
        user = by_lower.get(name.lower())
        if user is not None and user.username != name:
            errors.append(
                {
                    "code": "username_taken",
                    "field": f"users[{n}].username",
                    "message": f"user {user.username!r} exists already",
                }
            )
        elif user is not None and user.role != Role(item["role"]):
            errors.append(
                {"code": "role_mismatch", "field": f"users[{n}].role", "message": "another role"}
            )
        elif user is not None:
            existing[name] = user
        holder = holders.get(badge_hash)
        if holder is not None and holder != name:
            errors.append(
                {
                    "code": "badge_taken",
                    "field": f"users[{n}].badge",
                    "message": "that badge belongs to another user",
                }
            )
    return existing, errors


@bp.post("/admin/users")
@roles_required(Role.admin)
def bulk_users() -> Any:
    body = request.get_json(silent=True)
    items = body.get("users") if isinstance(body, dict) else None
    if errors := _problems(items):
        return jsonify(errors=errors), 422
    assert isinstance(items, list)
    actor = current_actor()
    assert actor is not None
    out: list[dict[str, Any]] = []
    with uow() as s:
        existing, clash = _clashes(s, items)
        if clash:
            return jsonify(errors=clash), 422
        for item in items:
            name, role, badge = item["username"].strip(), Role(item["role"]), item["badge"].strip()
            user = existing.get(name)
            if user is None:
                display = str(item.get("display_name") or name)[:120]
                user = create_user(s, name, role, display_name=display, badge=badge, actor=actor)
                outcome = "created"
            else:
                user.badge_hash = sha256(badge)
                s.flush()
                end_sessions(s, user.id)  # a replaced badge ends the sessions made with the old
                audit(
                    s,
                    actor,
                    "user.badge",
                    entity="user",
                    entity_id=user.id,
                    details={"username": name, "role": role.value},
                )
                outcome = "rebadged"
            out.append({"username": name, "id": user.id, "role": role.value, "outcome": outcome})
    return jsonify(
        created=sum(u["outcome"] == "created" for u in out),
        rebadged=sum(u["outcome"] == "rebadged" for u in out),
        users=out,
    )

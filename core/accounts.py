"""Users, roles, badge and password login, sessions that can be ended, and OMS API keys (all
secrets stored hashed).

Rules a reader should know (docs/security.md says why):

* Desk roles (supervisor, admin) never log in by badge alone: a badge of theirs needs their
  password with it. Pickers and packers may use the badge alone (shared handhelds and stations).
* Demo credentials (rows made by the demo loader, ``is_demo``) are refused once the site has real
  ones: demo *users* once a non-demo supervisor or admin exists; the demo *key* once
  FLOOR_OMS_API_KEY is set or a non-demo API key was ever created.
* ``users.session_version`` is signed into every session; ``end_sessions`` bumps it (logout,
  deactivation), so every cookie of that user, on any device, stops working at its next request.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, event, select, update
from sqlalchemy.orm import Session, aliased, object_session
from werkzeug.security import check_password_hash, generate_password_hash

from core.actors import Actor
from core.audit import audit
from core.db import one_of, utcnow
from core.prepared import Prepared
from core.users import ApiKey, Role, User
from core.writer_lock import after_durable_commit

PASSWORD_ROLES = frozenset({Role.supervisor, Role.admin, Role.packer})
DESK_ROLES = frozenset({Role.supervisor, Role.admin})  # badge + password, never badge alone
# Who may do what: a higher role includes the lower ones' rights where it makes sense.
ROLE_RANK = {Role.picker: 0, Role.packer: 1, Role.supervisor: 2, Role.admin: 3}


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def has_role(role: Role | None, *allowed: Role) -> bool:
    """True if ``role`` is one of ``allowed``; admins may do everything."""
    return role is not None and (role in allowed or role == Role.admin)


def create_user(
    session: Session,
    username: str,
    role: Role,
    *,
    display_name: str = "",
    password: str | None = None,
    badge: str | None = None,
    actor: Actor | None = None,
    demo: bool = False,
) -> User:
    user = User(
        username=username,
        display_name=display_name or username,
        role=role,
        password_hash=generate_password_hash(password) if password else None,
        badge_hash=sha256(badge) if badge else None,
        is_demo=demo,
    )
    session.add(user)
    session.flush()
    audit(
        session,
        actor or Actor.system(),
        "user.create",
        entity="user",
        entity_id=user.id,
        details={"username": username, "role": role.value},
    )
    return user


@dataclass(frozen=True)
class LoginResult:
    """What a login attempt found. ``user`` is set only on success; ``user_id`` also names the
    account a failed attempt was aimed at (for the audit and the per-user lockout), when known."""

    user: User | None
    reason: str  # ok | bad_credentials | needs_password | demo_closed
    user_id: int | None = None
    username: str | None = None


def demo_users_closed(session: Session) -> bool:
    """True once a real (non-demo) supervisor or admin exists: then demo users are refused."""
    real_desk = select(User.id).where(
        User.is_demo.is_(False), User.role.in_(sorted(DESK_ROLES)), User.active.is_(True)
    )
    return session.scalar(real_desk.limit(1)) is not None


def demo_key_closed(session: Session, configured: str | None) -> bool:
    """True once FLOOR_OMS_API_KEY is set or a non-demo API key was ever created."""
    if configured:
        return True
    return session.scalar(select(ApiKey.id).where(ApiKey.is_demo.is_(False)).limit(1)) is not None


def _accept(session: Session, user: User) -> LoginResult:
    if user.is_demo and demo_users_closed(session):
        return LoginResult(None, "demo_closed", user.id, user.username)
    user.last_login_at = utcnow()
    return LoginResult(user, "ok", user.id, user.username)


def _password_ok(user: User | None, password: str) -> bool:
    if user is None or not user.password_hash:
        # Same work either way, so a timing difference does not reveal which usernames exist.
        check_password_hash(_dummy_hash(), password)
        return False
    return check_password_hash(user.password_hash, password)


def login_with_password(session: Session, username: str, password: str) -> LoginResult:
    user = session.scalar(select(User).where(User.username == username, User.active))
    if not _password_ok(user, password):
        uid = user.id if user is not None else None
        return LoginResult(None, "bad_credentials", uid, user.username if user else None)
    assert user is not None
    return _accept(session, user)


def login_with_badge(session: Session, badge: str, password: str = "") -> LoginResult:
    """A badge scan; desk roles must send their password with it (``needs_password``)."""
    badge = badge.strip()
    if not badge:
        return LoginResult(None, "bad_credentials")
    user = session.scalar(select(User).where(User.badge_hash == sha256(badge), User.active))
    if user is None:
        return LoginResult(None, "bad_credentials")
    if user.role in DESK_ROLES and not (password and _password_ok(user, password)):
        return LoginResult(None, "needs_password", user.id, user.username)
    return _accept(session, user)


def _current_statement() -> Any:
    real = aliased(User)
    demo_closed = (  # demo_users_closed, in the same query
        select(real.id)
        .where(
            real.is_demo.is_(False), one_of(real.role, sorted(DESK_ROLES)), real.active.is_(True)
        )
        .exists()
    )
    return select(
        User.id,
        User.username,
        User.role,
        User.active,
        User.session_version,
        User.is_demo,
        demo_closed.label("demo_closed"),
    ).where(User.id == bindparam("user_id"))


_CURRENT = Prepared(_current_statement())  # built once: every request and socket event asks


def session_is_current(
    connect: Callable[[], AbstractContextManager[Connection]], user_id: int, version: object
) -> Any:
    """The user a signed session names, if that session still holds: the user is active, the
    session's version is the user's current one, and (for demo users) the demo is still open.

    A yes is remembered for ``CHECK_REMEMBERED_S`` (``connect`` is called only to ask again): a
    handheld scanning flat out sends an event every ~15 ms, and each check read the users table
    on a connection whose page cache the last scan's commit had emptied (~70 µs, 8 % of a
    scan's CPU). A commit of this process that changed any user forgets every answer at once
    (deactivation, logout everywhere, a new supervisor closing the demo); a change committed by
    another server process applies within ``CHECK_REMEMBERED_S``."""
    key = (user_id, version)
    now = _clock()
    known = _checked.get(key)
    generation = _generation[0]
    if known is not None and known[2] == generation and now < known[1]:
        return known[0]
    with connect() as conn:
        user = _CURRENT.first(conn, {"user_id": user_id})
    if user is None or not user.active or user.session_version != version:
        return None
    if user.is_demo and user.demo_closed:
        return None
    if len(_checked) >= _CHECKED_MAX:
        _checked.clear()
    # stored with the generation read before the query: a change committed meanwhile voids it
    _checked[key] = (user, now + CHECK_REMEMBERED_S, generation)
    return user


CHECK_REMEMBERED_S = 0.25
_CHECKED_MAX = 10_000  # (user, session version) pairs: more only after many logouts; start over
_clock = time.monotonic
_checked: dict[tuple[int, object], tuple[Any, float, int]] = {}
_generation = [0]  # bumped by a commit that changed a user
_USERS_CHANGED = "floor.users_changed"


@event.listens_for(User, "after_insert")
@event.listens_for(User, "after_update")
@event.listens_for(User, "after_delete")
def _user_written(_mapper: Any, _connection: Any, user: User) -> None:
    session = object_session(user)
    if session is not None:
        session.info[_USERS_CHANGED] = True


@event.listens_for(Session, "after_commit")
def _forget_checks(session: Session) -> None:
    # (a rolled-back change leaves the mark for the session's next commit: one forgetting too
    # many is harmless; dropping the mark at a savepoint's rollback would lose the outer change)
    if session.info.pop(_USERS_CHANGED, False):
        after_durable_commit(session, _forget_all_checks)


def _forget_all_checks() -> None:
    _generation[0] += 1
    _checked.clear()


def end_sessions(session: Session, user_id: int) -> None:
    """Every session of this user ends (on every device) at its next request or socket event."""
    session.execute(
        update(User)
        .where(User.id == user_id)
        .values(session_version=User.session_version + 1)
        .execution_options(synchronize_session=False)
    )
    session.info[_USERS_CHANGED] = True  # an UPDATE around the ORM: no mapper event tells
    session.expire_all()


def deactivate_user(session: Session, username: str, *, actor: Actor | None = None) -> User:
    """Deactivate a user and end their sessions; audited. LookupError if no such user."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise LookupError(username)
    user.active = False
    session.flush()
    end_sessions(session, user.id)
    audit(
        session,
        actor or Actor.system(),
        "user.deactivate",
        entity="user",
        entity_id=user.id,
        details={"username": username},
    )
    return user


def create_api_key(
    session: Session,
    name: str,
    *,
    key: str | None = None,
    actor: Actor | None = None,
    demo: bool = False,
) -> tuple[ApiKey, str]:
    """Returns the stored row and the clear key (shown once, never stored)."""
    clear = key or f"floor_{secrets.token_urlsafe(32)}"
    row = ApiKey(name=name, prefix=clear[:10], key_hash=sha256(clear), is_demo=demo)
    session.add(row)
    session.flush()
    audit(
        session,
        actor or Actor.system(),
        "api_key.create",
        entity="api_key",
        entity_id=row.id,
        details={"name": name, "prefix": row.prefix},
    )
    return row, clear


def revoke_api_key(session: Session, name: str, *, actor: Actor | None = None) -> ApiKey:
    """Refuse the key named ``name`` from now on (a leaked key, an OMS retired); audited.
    LookupError when no key of that name is in use."""
    row = session.scalar(select(ApiKey).where(ApiKey.name == name, ApiKey.revoked_at.is_(None)))
    if row is None:
        raise LookupError(name)
    row.revoked_at = utcnow()
    audit(
        session,
        actor or Actor.system(),
        "api_key.revoke",
        entity="api_key",
        entity_id=row.id,
        details={"name": name, "prefix": row.prefix},
    )
    return row


def find_api_key(
    session: Session, presented: str, configured: str | None = None
) -> tuple[Actor | None, int | None]:
    """An OMS actor for a valid key (the configured FLOOR_OMS_API_KEY or a stored, unrevoked
    key), and the id of the stored key when its ``last_used_at`` is over a minute old (for
    :func:`touch_api_key`). Only reads: a caller checks keys without taking the writer."""
    if not presented:
        return None, None
    if configured and hmac.compare_digest(sha256(presented), sha256(configured)):
        return Actor.oms("env"), None
    row = session.scalar(
        select(ApiKey).where(ApiKey.key_hash == sha256(presented), ApiKey.revoked_at.is_(None))
    )
    if row is None:
        return None, None
    if row.is_demo and demo_key_closed(session, configured):
        return None, None
    stale = row.last_used_at is None or utcnow() - row.last_used_at > dt.timedelta(minutes=1)
    return Actor.oms(row.name), row.id if stale else None


def touch_api_key(session: Session, key_id: int) -> None:
    """Note that a key is in use (a person can see which keys are alive; once a minute)."""
    session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=utcnow()))


def check_api_key(session: Session, presented: str, configured: str | None = None) -> Actor | None:
    """:func:`find_api_key` and :func:`touch_api_key` in one (write) transaction."""
    actor, stale = find_api_key(session, presented, configured)
    if stale is not None:
        touch_api_key(session, stale)
    return actor


@functools.cache
def _dummy_hash() -> str:
    return generate_password_hash("not-a-real-password")

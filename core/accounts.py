"""Users, roles, badge and password login, and OMS API keys (all stored hashed)."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from core.actors import Actor
from core.audit import audit
from core.db import utcnow
from core.users import ApiKey, Role, User

PASSWORD_ROLES = frozenset({Role.supervisor, Role.admin, Role.packer})
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
) -> User:
    user = User(
        username=username,
        display_name=display_name or username,
        role=role,
        password_hash=generate_password_hash(password) if password else None,
        badge_hash=sha256(badge) if badge else None,
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


def login_with_password(session: Session, username: str, password: str) -> User | None:
    user = session.scalar(select(User).where(User.username == username, User.active))
    if user is None or not user.password_hash:
        # Same work either way, so a timing difference does not reveal which usernames exist.
        check_password_hash(_dummy_hash(), password)
        return None
    if not check_password_hash(user.password_hash, password):
        return None
    user.last_login_at = utcnow()
    return user


def login_with_badge(session: Session, badge: str) -> User | None:
    badge = badge.strip()
    if not badge:
        return None
    user = session.scalar(select(User).where(User.badge_hash == sha256(badge), User.active))
    if user is not None:
        user.last_login_at = utcnow()
    return user


def create_api_key(
    session: Session, name: str, *, key: str | None = None, actor: Actor | None = None
) -> tuple[ApiKey, str]:
    """Returns the stored row and the clear key (shown once, never stored)."""
    clear = key or f"floor_{secrets.token_urlsafe(32)}"
    row = ApiKey(name=name, prefix=clear[:10], key_hash=sha256(clear))
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


def check_api_key(session: Session, presented: str, configured: str | None = None) -> Actor | None:
    """An OMS actor for a valid key: the configured FLOOR_OMS_API_KEY or a stored, unrevoked key."""
    if not presented:
        return None
    if configured and hmac.compare_digest(sha256(presented), sha256(configured)):
        return Actor.oms("env")
    row = session.scalar(
        select(ApiKey).where(ApiKey.key_hash == sha256(presented), ApiKey.revoked_at.is_(None))
    )
    if row is None:
        return None
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at > dt.timedelta(minutes=1):
        row.last_used_at = now  # a person can see which keys are alive, without a write per call
    return Actor.oms(row.name)


@functools.cache
def _dummy_hash() -> str:
    return generate_password_hash("not-a-real-password")

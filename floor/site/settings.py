"""Site settings a supervisor may change at run time (today: location confirmation).

Each setting has a default from the environment (``FLOOR_LOCATION_CONFIRM``), handed to the
domain by the app through the session factory's ``info`` (``configure_defaults``), and an
optional override row in ``site_settings`` written from the dashboard. The row wins; deleting
it goes back to the environment's value.

``location_confirm`` says what proves a picker stood at the pick face:

* ``off`` - nothing: the handheld shows the check code and an item scan implies arrival;
* ``scan`` - the location's barcode must be scanned before the item;
* ``check_digits`` - the check digits printed on the rack label must be typed (or the
  location barcode scanned) before the item.

With ``scan`` or ``check_digits`` the handheld never shows the check code.
"""

from __future__ import annotations

import datetime as dt
import enum
import time
import weakref
from typing import Any

from sqlalchemy import String, event, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from core.actors import Actor
from core.audit import audit
from core.db import Base, transaction_memo, utcnow
from core.writer_lock import after_durable_commit

_INFO_KEY = "floor.site_defaults"


class LocationConfirm(enum.StrEnum):
    off = "off"
    scan = "scan"
    check_digits = "check_digits"


class SiteSetting(Base):
    __tablename__ = "site_settings"

    key: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    updated_by: Mapped[str] = mapped_column(String(80), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


def configure_defaults(sessions: sessionmaker[Session], **defaults: Any) -> None:
    """Give every session of ``sessions`` the environment's defaults (called by the app)."""
    sessions.configure(info={_INFO_KEY: dict(defaults)})


def location_confirm(session: Session) -> LocationConfirm:
    """The site's location-confirmation mode (override row, else environment, else off). Read
    once per transaction, and at most every ``TTL_S`` seconds per database in this process (a
    change made here applies at its commit; one made by another process within ``TTL_S``)."""
    memo = transaction_memo(session)
    if "location_confirm" not in memo:
        default = session.info.get(_INFO_KEY, {}).get("location_confirm")
        per_db = _read.setdefault(session.get_bind().engine.pool, {})
        hit = per_db.get(default)
        if hit is not None and time.monotonic() < hit[1]:
            memo["location_confirm"] = hit[0]
        else:
            row = session.get(SiteSetting, "location_confirm")
            raw = row.value if row is not None else default
            try:
                mode = LocationConfirm(str(raw or "off").strip().lower())
            except ValueError:
                mode = LocationConfirm.off
            per_db[default] = (mode, time.monotonic() + TTL_S)
            memo["location_confirm"] = mode
    return memo["location_confirm"]


TTL_S = 2.0
_read: weakref.WeakKeyDictionary[Any, dict[Any, tuple[LocationConfirm, float]]] = (
    weakref.WeakKeyDictionary()
)
_CHANGED = "floor.site_settings_changed"


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop(_CHANGED, False):
        # a reader may have refilled it from the old row before our COMMIT
        after_durable_commit(session, _read.clear)


def set_location_confirm(session: Session, mode: str, by: Actor | str) -> LocationConfirm:
    """Store a supervisor's choice, audited (``setting.location_confirm``, from and to: it is
    what proves a picker stood at the face); raises ``ValueError`` for an unknown mode."""
    value = LocationConfirm(mode)
    actor = by if isinstance(by, Actor) else Actor(by)
    transaction_memo(session).pop("location_confirm", None)
    _read.clear()
    before = location_confirm(session)  # read now, not from the cache
    transaction_memo(session).pop("location_confirm", None)
    _read.clear()
    session.info[_CHANGED] = True
    row = session.get(SiteSetting, "location_confirm")
    if row is None:
        session.add(SiteSetting(key="location_confirm", value=value.value, updated_by=actor.name))
    else:
        row.value, row.updated_by = value.value, actor.name
    audit(
        session,
        actor,
        "setting.location_confirm",
        entity="setting",
        entity_id="location_confirm",
        details={"from": before.value, "to": value.value},
    )
    return value


def overrides(session: Session) -> dict[str, str]:
    return {r.key: r.value for r in session.scalars(select(SiteSetting))}

"""Fixtures for waves, batching, pick paths and the picker's flow: orders on the demo floor."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator, Sequence

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.actors import Actor
from core.db import make_engine, make_session_factory
from core.users import Role, User
from floor.site.layout import Sku
from orders.allocation import reserve_orders
from orders.models import Order, OrderLine
from orders.states import Priority, ShortPolicy
from orders.transitions import record_received

SHIP_BY = dt.datetime(2030, 1, 1, 16, 0, tzinfo=dt.UTC)
SYSTEM = Actor.system()
_seq = itertools.count(1)


@pytest.fixture
def db(db_url: str) -> Iterator[sessionmaker[Session]]:
    """A session factory on a fresh demo database (SQLite, and PostgreSQL when configured)."""
    engine = make_engine(db_url)
    yield make_session_factory(engine)
    engine.dispose()


def sku_id(s: Session, code: str) -> int:
    return s.scalars(select(Sku.id).where(Sku.code == code)).one()


def add_order(
    s: Session,
    lines: Sequence[tuple[str, int]],
    *,
    external_id: str | None = None,
    ship_by: dt.datetime = SHIP_BY,
    priority: Priority = Priority.standard,
    policy: ShortPolicy = ShortPolicy.ship_partial,
    reserve: bool = True,
) -> Order:
    order = Order(
        external_id=external_id or f"T-{next(_seq):06d}",
        ship_by=ship_by,
        carrier="demo",
        priority=priority,
        short_policy=policy,
        ship_to={"name": "x"},
        content_hash="0" * 64,
    )
    for n, (code, qty) in enumerate(lines, 1):
        order.lines.append(OrderLine(line_id=str(n), sku_id=sku_id(s, code), quantity=qty))
    s.add(order)
    record_received(s, order, SYSTEM)
    s.flush()
    if reserve:
        reserve_orders(s, [order], SYSTEM)
    return order


def actor_for(s: Session, username: str) -> Actor:
    user = s.scalars(select(User).where(User.username == username)).one()
    return Actor(user.username, Role(user.role), user.id)


def supervisor(s: Session) -> Actor:
    return actor_for(s, "sam")

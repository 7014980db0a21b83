"""Sync fixtures: orders walked through the state machine, a real OMS receiver, settings."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.actors import Actor
from core.db import make_engine, make_session_factory, unit_of_work, utcnow
from floor.site.layout import Sku
from orders.allocation import reserve_orders
from orders.models import Order, OrderLine
from orders.states import OrderStatus
from orders.transitions import record_received, transition
from sync.sandbox import CarrierSandbox, OmsReceiver
from sync.webhooks import RetryPolicy
from sync.worker import DeliveryConfig

SECRET = "whsec-test"
SYSTEM = Actor.system()


def new_order(
    s: Session,
    external_id: str,
    lines: Sequence[tuple[str, int]] = (("SKU-00001", 2), ("SKU-00002", 1)),
    *,
    carrier: str = "demo",
    service: str = "ground",
) -> Order:
    skus = dict(s.execute(select(Sku.code, Sku.id)).all())
    order = Order(
        external_id=external_id,
        ship_by=utcnow() + dt.timedelta(hours=4),
        carrier=carrier,
        service=service,
        ship_to={
            "name": "Ada Buyer",
            "address1": "1 Main St",
            "city": "Springfield",
            "postal_code": "12345",
            "country": "US",
        },
        content_hash="0" * 64,
        lines=[
            OrderLine(line_id=str(i + 1), sku_id=skus[code], quantity=qty)
            for i, (code, qty) in enumerate(lines)
        ],
    )
    s.add(order)
    s.flush()
    record_received(s, order, SYSTEM)
    return order


def walk_to_picked(s: Session, order: Order) -> Order:
    """received → allocated → waved → picking → picked, everything reserved is picked."""
    [result] = reserve_orders(s, [order], SYSTEM)
    assert result.status == OrderStatus.allocated, result
    for target in (OrderStatus.waved, OrderStatus.picking):
        transition(s, order, target, SYSTEM)
    for line in order.lines:
        line.picked_qty = line.reserved_qty
    transition(s, order, OrderStatus.picked, SYSTEM)
    return order


def make_events(sessions: Any, orders: int, per_order: int, prefix: str = "EV") -> list[str]:
    """``orders`` orders with ``per_order`` events each, interleaved across orders."""
    ids = [f"{prefix}-{i:05d}" for i in range(orders)]
    with unit_of_work(sessions) as s:
        rows = [new_order(s, ext) for ext in ids]
    chain = [OrderStatus.allocated, OrderStatus.waved, OrderStatus.picking, OrderStatus.picked]
    for step in chain[: per_order - 1]:
        with unit_of_work(sessions) as s:
            for order in rows:
                s.add(order)
                transition(s, order, step, SYSTEM)
    return ids


@pytest.fixture
def db_sessions(db_url: str) -> Iterator[Any]:
    engine = make_engine(db_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def oms() -> Iterator[OmsReceiver]:
    receiver = OmsReceiver(SECRET).start()
    yield receiver
    receiver.stop()


@pytest.fixture
def carrier_sandbox() -> Iterator[CarrierSandbox]:
    sandbox = CarrierSandbox(api_key="carrier-key").start()
    yield sandbox
    sandbox.stop()


def fast_config(url: str, **kw: Any) -> DeliveryConfig:
    """Short time-outs and back-off so retries happen within a test."""
    policy = kw.pop("policy", RetryPolicy(max_attempts=200, base_s=0.01, max_s=0.05))
    return DeliveryConfig(
        url=url, secret=SECRET, timeout_s=kw.pop("timeout_s", 0.5), policy=policy, **kw
    )

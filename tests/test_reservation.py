"""Reservation at locations: pick faces first, FEFO, never more than on hand, safe in parallel."""

from __future__ import annotations

import datetime as dt
import threading

from sqlalchemy import func, select

from core.actors import Actor
from core.db import make_engine, make_session_factory, unit_of_work
from core.exception_queue import FloorException
from floor.site.layout import Location, LocationType, Sku
from floor.site.reservation import available_to_promise
from floor.site.stock import Reservation, Stock
from orders.allocation import release_order, reserve_orders
from orders.models import Order, OrderLine
from orders.states import OrderStatus
from tests.factories import add_order


def _stock(s, sku_code: str) -> list[tuple[LocationType, int, int, dt.date | None]]:
    rows = s.execute(
        select(Location.type, Stock.on_hand, Stock.reserved, Stock.expiry)
        .join(Location)
        .join(Sku)
        .where(Sku.code == sku_code)
        .order_by(Stock.id)
    ).all()
    return [tuple(r) for r in rows]


def test_pick_face_is_used_before_reserve(sessions):
    with unit_of_work(sessions) as s:
        face_qty = sum(r[1] for r in _stock(s, "SKU-00100") if r[0] == LocationType.pick_face)
        order = add_order(s, [("SKU-00100", face_qty + 5)], external_id="R-1", reserve=False)
        [result] = reserve_orders(s, [order], Actor.system())
        assert result.status == OrderStatus.allocated
    with unit_of_work(sessions) as s:
        rows = _stock(s, "SKU-00100")
        face = [r for r in rows if r[0] == LocationType.pick_face]
        reserve = [r for r in rows if r[0] == LocationType.reserve]
        assert all(r[2] == r[1] for r in face)  # pick faces emptied first
        assert sum(r[2] for r in reserve) == 5


def test_first_expired_first_out_among_reserve_lots(sessions):
    with unit_of_work(sessions) as s:
        sku = s.scalars(select(Sku).where(Sku.code == "SKU-00250")).one()  # pick face only
        for face in s.scalars(select(Stock).where(Stock.sku_id == sku.id)):
            face.on_hand = 0  # empty pick face: the reserve lots decide
        reserves = s.scalars(
            select(Location)
            .where(Location.type == LocationType.reserve)
            .order_by(Location.id.desc())
            .limit(3)
        ).all()
        for loc, days, lot in zip(reserves, (300, 30, 120), ("LATE", "SOON", "MID"), strict=True):
            s.add(
                Stock(
                    location_id=loc.id,
                    sku_id=sku.id,
                    lot=lot,
                    on_hand=10,
                    expiry=dt.date(2026, 11, 23) + dt.timedelta(days=days),
                )
            )
        s.flush()
        order = add_order(s, [("SKU-00250", 15)], external_id="R-2", reserve=False)
        reserve_orders(s, [order], Actor.system())
        got = dict(
            s.execute(
                select(Stock.lot, Reservation.quantity)
                .join(Reservation)
                .where(Stock.sku_id == sku.id)
            ).all()
        )
        assert got == {"SOON": 10, "MID": 5}


def test_shortage_makes_the_order_short_with_an_exception(sessions):
    with unit_of_work(sessions) as s:
        total = sum(r[1] - r[2] for r in _stock(s, "SKU-00001"))
        order = add_order(
            s, [("SKU-00001", total + 7), ("SKU-00002", 1)], external_id="R-3", reserve=False
        )
        [result] = reserve_orders(s, [order], Actor.system())
        assert result.status == OrderStatus.short
        assert [(f.sku, f.missing) for f in result.shortfalls] == [("SKU-00001", 7)]
    with unit_of_work(sessions) as s:
        assert all(r[1] == r[2] for r in _stock(s, "SKU-00001"))  # never more than on hand
        exc = s.scalars(select(FloorException)).one()
        assert exc.reason == "short_allocation" and exc.details["missing"][0]["missing"] == 7
        assert available_to_promise(s, ["SKU-00001"]) == {"SKU-00001": 0}


def test_release_gives_stock_back(sessions):
    with unit_of_work(sessions) as s:
        before = available_to_promise(s, ["SKU-00003"])["SKU-00003"]
        order = add_order(s, [("SKU-00003", 4)], external_id="R-4", reserve=False)
        reserve_orders(s, [order], Actor.system())
    with unit_of_work(sessions) as s:
        assert available_to_promise(s, ["SKU-00003"])["SKU-00003"] == before - 4
        order = s.scalars(select(Order).where(Order.external_id == "R-4")).one()
        assert release_order(s, order) == 4
        assert order.lines[0].reserved_qty == 0
    with unit_of_work(sessions) as s:
        assert available_to_promise(s, ["SKU-00003"])["SKU-00003"] == before


def test_concurrent_intake_never_oversells(db_url):
    """8 threads each reserve orders for the same scarce SKU; no unit is reserved twice."""
    engine = make_engine(db_url)
    factory = make_session_factory(engine)
    with unit_of_work(factory) as s:
        stock_total = sum(r[1] for r in _stock(s, "SKU-00010"))
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def worker(n: int) -> None:
        try:
            barrier.wait()
            for k in range(5):
                with unit_of_work(factory) as s:
                    order = add_order(
                        s, [("SKU-00010", 7)], external_id=f"C-{n}-{k}", reserve=False
                    )
                    reserve_orders(s, [order], Actor.system())
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    with unit_of_work(factory) as s:
        rows = _stock(s, "SKU-00010")
        reserved_rows = sum(r[2] for r in rows)
        assert all(0 <= r[2] <= r[1] for r in rows)
        reserved_lines = s.scalar(select(func.sum(OrderLine.reserved_qty)))
        reservations = s.scalar(select(func.sum(Reservation.quantity)))
        assert reserved_rows == reserved_lines == reservations
        assert reserved_rows == min(stock_total, 8 * 5 * 7)
    engine.dispose()


def test_available_to_promise_lists_every_sku_even_without_stock(sessions):
    with unit_of_work(sessions) as s:
        s.add(Sku(code="SKU-NEW", name="Not yet received"))
        s.flush()
        atp = available_to_promise(s)
        assert len(atp) == 301 and atp["SKU-NEW"] == 0
        assert atp["SKU-00001"] == sum(r[1] - r[2] for r in _stock(s, "SKU-00001"))

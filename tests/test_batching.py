"""Batching tests: partition, cart capacity, big orders, and walk saved against FCFS."""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Sequence

import pytest

from floor.fulfilment.waves.batching import BatchOrder, batch_fcfs, batch_orders, totes_needed
from floor.site.routing import Layout, Pick, route_optimal

LAYOUT = Layout(tuple(3.0 * i for i in range(12)), 0.0, 30.0, (-2.0, 0.0))


def make_orders(rng: random.Random, n: int, lines: tuple[int, int] = (1, 4)) -> list[BatchOrder]:
    aisles = len(LAYOUT.aisle_x)
    return [
        BatchOrder(
            key=f"o{i}",
            picks=tuple(
                Pick(rng.randrange(aisles), rng.uniform(0.0, 30.0))
                for _ in range(rng.randint(*lines))
            ),
            units=rng.randint(1, 12),
        )
        for i in range(n)
    ]


def total_walk(orders: Sequence[BatchOrder], batches: list[list[object]]) -> float:
    by_key = {o.key: o for o in orders}
    return sum(
        route_optimal(LAYOUT, [p for k in b for p in by_key[k].picks]).length_m for b in batches
    )


def assert_partition(orders: Sequence[BatchOrder], batches: list[list[object]]) -> None:
    seen = Counter(k for b in batches for k in b)
    assert seen == Counter(o.key for o in orders)
    assert all(b for b in batches)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("max_units", [None, 5])
def test_every_order_once_and_carts_not_overfilled(seed: int, max_units: int | None) -> None:
    rng = random.Random(seed)
    orders = make_orders(rng, rng.randint(0, 300))
    totes = {o.key: totes_needed(o, max_units) for o in orders}
    batches = batch_orders(LAYOUT, orders, totes_per_cart=6, max_units_per_tote=max_units)
    assert_partition(orders, batches)
    for b in batches:
        assert len(b) == 1 or sum(totes[k] for k in b) <= 6


def test_totes_needed() -> None:
    order = BatchOrder("a", (), units=11)
    assert totes_needed(order, None) == 1
    assert totes_needed(order, 5) == 3
    assert totes_needed(BatchOrder("b", (), units=0), 5) == 1


def test_big_orders_and_cart_filling_orders_ride_alone() -> None:
    rng = random.Random(3)
    orders = make_orders(rng, 40)
    big = BatchOrder("big", tuple(Pick(i % 12, 1.0) for i in range(25)), units=3)
    bulky = BatchOrder("bulky", (Pick(0, 1.0),), units=100)
    orders[10:10] = [big, bulky]
    batches = batch_orders(LAYOUT, orders, max_units_per_tote=10)
    assert ["big"] in batches and ["bulky"] in batches
    assert_partition(orders, batches)


def test_fcfs_keeps_input_order() -> None:
    orders = make_orders(random.Random(1), 19)
    batches = batch_fcfs(LAYOUT, orders, totes_per_cart=8)
    assert [len(b) for b in batches] == [8, 8, 3]
    assert [k for b in batches for k in b] == [o.key for o in orders]


def test_empty_and_invalid() -> None:
    assert batch_orders(LAYOUT, []) == []
    assert batch_fcfs(LAYOUT, []) == []
    with pytest.raises(ValueError):
        batch_orders(LAYOUT, make_orders(random.Random(0), 3), totes_per_cart=0)
    with pytest.raises(ValueError):
        batch_orders(LAYOUT, [BatchOrder("x", (Pick(99, 1.0),), 1)])


@pytest.mark.parametrize("seed", range(3))
def test_batching_walks_less_than_fcfs(seed: int) -> None:
    orders = make_orders(random.Random(seed), 400, lines=(1, 5))
    smart = batch_orders(LAYOUT, orders)
    fcfs = batch_fcfs(LAYOUT, orders)
    assert_partition(orders, smart)
    assert total_walk(orders, smart) < 0.85 * total_walk(orders, fcfs)


def test_ten_thousand_orders_quickly() -> None:
    orders = make_orders(random.Random(9), 10_000, lines=(3, 3))
    start = time.perf_counter()
    batches = batch_orders(LAYOUT, orders)
    elapsed = time.perf_counter() - start
    assert_partition(orders, batches)
    assert all(len(b) == 8 for b in batches)
    assert elapsed < 10.0  # generous: about 1 s on a laptop-class core

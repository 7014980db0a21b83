"""Order batching: group orders into pick lists for a cart with ``totes_per_cart`` totes.

``batch_orders`` is a seed heuristic with a cheap travel proxy, so that it
handles tens of thousands of orders in pure Python:

* an order's footprint is its *aisle mask* (bit ``i`` set if it has a pick in
  aisle ``i``); orders with the same mask and tote count share a bucket, so a
  candidate search looks at buckets, not at orders;
* the proxy length of a set of orders with union mask ``U`` is
  ``2 * (x span of U and the depot) + aisle length * |U|`` - the cost of
  reaching the aisles plus one traversal of each (close to what S-shape or the
  optimal route pay on long aisles);
* a batch starts from the seed with the longest standalone proxy (the order
  farthest from the depot), then repeatedly adds the order with the smallest
  proxy increase that still fits on the cart.

Orders with ``big_order_picks`` or more picks, or needing the whole cart, get
a pick list of their own.  ``batch_fcfs`` is the first-come-first-served
baseline.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from floor.site.routing import Layout, Pick, validate

# How many buckets on each side of the seed (in x order) a batch considers.
# With few distinct aisle masks (short orders, tens of aisles) this is all of
# them; it bounds the work when nearly every order has its own mask.
_WINDOW = 200


@dataclass(frozen=True)
class BatchOrder:
    """An order to batch: ``key`` is the caller's id; ``units`` sizes its totes."""

    key: object
    picks: tuple[Pick, ...]
    units: int


def totes_needed(order: BatchOrder, max_units_per_tote: int | None) -> int:
    """Totes one order fills (always at least one)."""
    if max_units_per_tote is None:
        return 1
    return max(1, math.ceil(order.units / max_units_per_tote))


def batch_fcfs(
    layout: Layout, orders: Sequence[BatchOrder], *, totes_per_cart: int = 8
) -> list[list[object]]:
    """Baseline: consecutive runs of ``totes_per_cart`` orders, in input order."""
    _check(layout, orders, totes_per_cart)
    keys = [o.key for o in orders]
    return [keys[i : i + totes_per_cart] for i in range(0, len(keys), totes_per_cart)]


class _Bucket:
    """Waiting orders with the same aisle mask and tote count (earliest last)."""

    __slots__ = ("hi", "lo", "mask", "size", "stack", "totes", "x")

    def __init__(self, mask: int, lo: float, hi: float, totes: int, size: float) -> None:
        self.mask, self.lo, self.hi, self.totes, self.size = mask, lo, hi, totes, size
        self.x = (lo + hi) / 2
        self.stack: list[int] = []


class _Proxy:
    """Proxy tour length of an aisle set: 2 * x span (with the depot) + L per aisle."""

    def __init__(self, layout: Layout) -> None:
        self.xs = layout.aisle_x
        self.depot_x = layout.depot[0]
        self.aisle_len = layout.y_back - layout.y_front

    def mask(self, picks: Sequence[Pick]) -> int:
        m = 0
        for p in picks:
            m |= 1 << p.aisle
        return m

    def span(self, mask: int) -> tuple[float, float]:
        """x of the leftmost and rightmost aisle in ``mask``, widened to the depot."""
        if not mask:
            return self.depot_x, self.depot_x
        first = (mask & -mask).bit_length() - 1
        last = mask.bit_length() - 1
        return min(self.xs[first], self.depot_x), max(self.xs[last], self.depot_x)

    def length(self, mask: int) -> float:
        lo, hi = self.span(mask)
        return 2 * (hi - lo) + self.aisle_len * mask.bit_count()


def _check(layout: Layout, orders: Sequence[BatchOrder], totes_per_cart: int) -> None:
    if totes_per_cart < 1:
        raise ValueError("totes_per_cart must be at least 1")
    for o in orders:
        validate(layout, o.picks)


def batch_orders(
    layout: Layout,
    orders: Sequence[BatchOrder],
    *,
    totes_per_cart: int = 8,
    max_units_per_tote: int | None = None,
    big_order_picks: int = 25,
) -> list[list[object]]:
    """Group orders into pick lists (lists of order keys); every order exactly once.

    A list's orders need at most ``totes_per_cart`` totes in all (one tote an
    order, or ``ceil(units / max_units_per_tote)`` when that is given).  Lists
    are returned in order of their earliest order.
    """
    _check(layout, orders, totes_per_cart)
    totes = [totes_needed(o, max_units_per_tote) for o in orders]
    alone = [
        [i]
        for i, o in enumerate(orders)
        if len(o.picks) >= big_order_picks or totes[i] >= totes_per_cart
    ]
    singles = {b[0] for b in alone}
    pool = [i for i in range(len(orders)) if i not in singles]
    batches = alone + _seed_batches(_Proxy(layout), orders, pool, totes, totes_per_cart)
    batches.sort(key=min)
    return [[orders[i].key for i in sorted(b)] for b in batches]


def _buckets(
    proxy: _Proxy, orders: Sequence[BatchOrder], pool: list[int], totes: list[int]
) -> list[_Bucket]:
    """Bucket the pool by (aisle mask, totes), sorted by x then mask."""
    by_key: dict[tuple[int, int], _Bucket] = {}
    for i in reversed(pool):  # earliest order on top of each stack
        mask = proxy.mask(orders[i].picks)
        b = by_key.get((mask, totes[i]))
        if b is None:
            lo, hi = proxy.span(mask)
            b = by_key[(mask, totes[i])] = _Bucket(mask, lo, hi, totes[i], proxy.length(mask))
        b.stack.append(i)
    return sorted(by_key.values(), key=lambda b: (b.x, b.mask, b.totes))


def _seed_batches(
    proxy: _Proxy,
    orders: Sequence[BatchOrder],
    pool: list[int],
    totes: list[int],
    capacity: int,
) -> list[list[int]]:
    """Seed-and-grow batches over the buckets (see the module docstring)."""
    live = _buckets(proxy, orders, pool, totes)
    batches: list[list[int]] = []
    while live:
        seed = max(range(len(live)), key=lambda k: (live[k].size, -live[k].stack[-1]))
        window = live[max(0, seed - _WINDOW) : seed + _WINDOW + 1]
        batches.append(_grow(proxy, window, live[seed], capacity))
        live = [b for b in live if b.stack]
    return batches


def _grow(proxy: _Proxy, window: list[_Bucket], seed: _Bucket, capacity: int) -> list[int]:
    """Fill one cart: start with the seed, then add the cheapest fitting order."""
    batch = [seed.stack.pop()]
    room = capacity - seed.totes
    union, lo, hi = seed.mask, seed.lo, seed.hi
    aisle_len = proxy.aisle_len
    while room > 0:
        best, best_cost = None, math.inf
        for b in window:
            if not b.stack or b.totes > room:
                continue
            cost = 2 * (max(hi, b.hi) - min(lo, b.lo) - (hi - lo))
            cost += aisle_len * (b.mask & ~union).bit_count()
            if cost < best_cost:
                best, best_cost = b, cost
                if cost <= 0:
                    break
        if best is None:
            break
        batch.append(best.stack.pop())
        room -= best.totes
        union |= best.mask
        lo, hi = min(lo, best.lo), max(hi, best.hi)
    return batch

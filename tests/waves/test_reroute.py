"""Re-routing the rest of a list from the picker's position (pure routing, no database)."""

from __future__ import annotations

import itertools
import random

import pytest

from floor.fulfilment.picking.reroute import order_from
from floor.site.routing import Layout, Pick, distance, route_optimal

LAYOUT = Layout(tuple(3.0 * i for i in range(6)), 0.0, 20.0, (0.0, 0.0))


def _open_walk(start: Pick, picks: list[Pick], order: list[int]) -> float:
    """start -> picks in order -> depot."""
    seq = [start, *(picks[i] for i in order)]
    walk = sum(distance(LAYOUT, a, b) for a, b in itertools.pairwise(seq))
    last = seq[-1]
    return walk + abs(LAYOUT.depot[0] - LAYOUT.aisle_x[last.aisle]) + last.y - LAYOUT.y_front


def _best_open_walk(start: Pick, picks: list[Pick]) -> float:
    return min(_open_walk(start, picks, list(p)) for p in itertools.permutations(range(len(picks))))


@pytest.mark.parametrize("seed", range(30))
def test_reroute_from_a_position_is_near_the_exhaustive_optimum(seed):
    rng = random.Random(seed)
    picks = [Pick(rng.randrange(6), round(rng.uniform(0, 20), 1)) for _ in range(rng.randint(1, 6))]
    start = Pick(rng.randrange(6), round(rng.uniform(0, 20), 1))
    order = order_from(LAYOUT, picks, start)
    assert sorted(order) == list(range(len(picks)))
    got = _open_walk(start, picks, order)
    best = _best_open_walk(start, picks)
    # Never worse than walking back to the depot and doing the optimal tour ...
    back = distance(LAYOUT, start, Pick(0, 0.0)) + route_optimal(LAYOUT, picks).length_m
    assert got <= back + 1e-9
    # ... and, on these small instances (<= EXACT_OPEN_PATH_MAX picks), the exhaustive optimum.
    assert got == pytest.approx(best)


@pytest.mark.parametrize("seed", range(10))
def test_reroute_of_a_long_rest_never_walks_more_than_going_back_first(seed):
    rng = random.Random(seed)
    picks = [Pick(rng.randrange(6), rng.uniform(0, 20)) for _ in range(rng.randint(10, 30))]
    start = Pick(rng.randrange(6), rng.uniform(0, 20))
    order = order_from(LAYOUT, picks, start)
    assert sorted(order) == list(range(len(picks)))
    back = distance(LAYOUT, start, Pick(0, 0.0)) + route_optimal(LAYOUT, picks).length_m
    assert _open_walk(start, picks, order) <= back + 1e-9


def test_reroute_from_the_depot_is_the_exact_optimum():
    rng = random.Random(3)
    picks = [Pick(rng.randrange(6), rng.uniform(0, 20)) for _ in range(7)]
    order = order_from(LAYOUT, picks, None)
    assert order == list(route_optimal(LAYOUT, picks).order)

"""Routing tests: the exact DP against exhaustive search over all permutations."""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from floor.site.routing import (
    Layout,
    Pick,
    Route,
    distance,
    route_largest_gap,
    route_length,
    route_optimal,
    route_s_shape,
)

TOL = 1e-9
HEURISTICS = [route_s_shape, route_largest_gap]


def brute_force(layout: Layout, picks: Sequence[Pick]) -> float:
    """Shortest tour by trying every visiting order (distance matrix, depot = index n)."""
    n = len(picks)
    if n == 0:
        return 0.0
    depot = [route_length(layout, picks, [i]) / 2 for i in range(n)]
    dist = [[distance(layout, a, b) for b in picks] for a in picks]
    best = float("inf")
    for perm in itertools.permutations(range(n)):
        total = depot[perm[0]] + depot[perm[-1]]
        for a, b in itertools.pairwise(perm):
            total += dist[a][b]
        best = min(best, total)
    return best


def random_instance(rng: random.Random, max_picks: int = 7) -> tuple[Layout, list[Pick]]:
    """1..5 aisles at random spacing, depot at an aisle end, between or outside the aisles."""
    n_aisles = rng.randint(1, 5)
    xs = tuple(float(x) for x in sorted(rng.sample(range(25), n_aisles)))
    y_front = rng.choice([0.0, 2.5])
    y_back = y_front + rng.choice([4.0, 10.0, 30.0])
    depot_x = rng.choice(
        [
            xs[0],
            xs[-1],
            rng.choice(xs),
            xs[0] - 4.0,
            xs[-1] + 3.5,
            rng.uniform(xs[0] - 2, xs[-1] + 2),
        ]
    )
    layout = Layout(xs, y_front, y_back, (depot_x, y_front))
    spots = [y_front, y_back]
    picks = []
    for _ in range(rng.randint(1, max_picks)):
        y = rng.choice([*spots, rng.uniform(y_front, y_back), round(rng.uniform(y_front, y_back))])
        picks.append(Pick(rng.randrange(n_aisles), y, key=len(picks)))
        if rng.random() < 0.15:
            picks.append(picks[-1])  # a duplicated position
    return layout, picks[:max_picks]


def assert_valid(layout: Layout, picks: Sequence[Pick], route: Route) -> None:
    assert sorted(route.order) == list(range(len(picks)))
    assert route_length(layout, picks, route.order) == pytest.approx(route.length_m, abs=TOL)


@pytest.mark.parametrize("seed", range(40))
def test_optimal_matches_exhaustive_search(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(40):
        layout, picks = random_instance(rng, max_picks=6 if seed % 4 else 7)
        route = route_optimal(layout, picks)
        assert route.length_m == pytest.approx(brute_force(layout, picks), abs=TOL)
        assert_valid(layout, picks, route)


@st.composite
def instances(draw: st.DrawFn) -> tuple[Layout, list[Pick]]:
    """Small instances on a 0.5 m grid, so that ties and coincident points are common."""
    xs = draw(st.lists(st.integers(0, 12), min_size=1, max_size=4, unique=True))
    xs = tuple(sorted(3.0 * x for x in xs))
    y_back = draw(st.sampled_from([2.0, 6.0, 20.0]))
    depot_x = draw(st.integers(-4, 40)) / 1.0
    grid_y = st.integers(0, int(2 * y_back)).map(lambda k: k / 2)
    pick = st.builds(Pick, st.integers(0, len(xs) - 1), grid_y)
    return Layout(xs, 0.0, y_back, (depot_x, 0.0)), draw(st.lists(pick, max_size=6))


@settings(max_examples=300, deadline=None)
@given(instances())
def test_optimal_matches_exhaustive_search_property(
    inst: tuple[Layout, list[Pick]],
) -> None:
    layout, picks = inst
    route = route_optimal(layout, picks)
    assert route.length_m == pytest.approx(brute_force(layout, picks), abs=TOL)
    assert_valid(layout, picks, route)


@pytest.mark.parametrize("heuristic", HEURISTICS)
@pytest.mark.parametrize("seed", range(10))
def test_heuristics_valid_and_never_beat_optimum(heuristic, seed: int) -> None:
    rng = random.Random(1000 + seed)
    for _ in range(50):
        layout, picks = random_instance(rng, max_picks=rng.choice([3, 7, 20]))
        route = heuristic(layout, picks)
        assert_valid(layout, picks, route)
        assert route.length_m >= route_optimal(layout, picks).length_m - TOL


@pytest.mark.parametrize("router", [route_optimal, *HEURISTICS])
def test_empty(router) -> None:
    layout = Layout((0.0, 3.0), 0.0, 10.0, (0.0, 0.0))
    assert router(layout, []) == Route((), 0.0)


@pytest.mark.parametrize("router", [route_optimal, *HEURISTICS])
def test_single_pick(router) -> None:
    layout = Layout((0.0, 3.0, 6.0), 0.0, 10.0, (-1.0, 0.0))
    route = router(layout, [Pick(2, 4.0, key="t1")])
    assert route == Route((0,), 2 * (7.0 + 4.0))


def test_all_picks_in_one_aisle_is_a_return_trip() -> None:
    layout = Layout((0.0, 3.0, 6.0), 0.0, 10.0, (3.0, 0.0))
    picks = [Pick(1, y) for y in (7.0, 2.0, 5.0)]
    route = route_optimal(layout, picks)
    assert route.length_m == pytest.approx(14.0)
    assert route.order == (1, 2, 0)


def test_picks_on_the_cross_aisles() -> None:
    layout = Layout((0.0, 3.0, 6.0), 0.0, 10.0, (0.0, 0.0))
    picks = [Pick(0, 10.0), Pick(2, 10.0), Pick(1, 0.0), Pick(2, 0.0)]
    route = route_optimal(layout, picks)
    assert route.length_m == pytest.approx(brute_force(layout, picks))
    assert route.length_m == pytest.approx(10 + 6 + 10 + 6)
    assert_valid(layout, picks, route)


def test_duplicated_positions_and_picks_at_the_depot() -> None:
    layout = Layout((0.0, 3.0), 0.0, 10.0, (3.0, 0.0))
    picks = [Pick(1, 0.0), Pick(1, 0.0), Pick(0, 6.0), Pick(0, 6.0), Pick(1, 0.0)]
    route = route_optimal(layout, picks)
    assert route.length_m == pytest.approx(2 * (3 + 6))
    assert_valid(layout, picks, route)


def test_large_list_against_heuristics() -> None:
    rng = random.Random(7)
    layout = Layout(tuple(3.0 * i for i in range(10)), 0.0, 30.0, (0.0, 0.0))
    for _ in range(20):
        picks = [Pick(rng.randrange(10), rng.uniform(0, 30)) for _ in range(100)]
        best = route_optimal(layout, picks)
        assert_valid(layout, picks, best)
        for heuristic in HEURISTICS:
            assert heuristic(layout, picks).length_m >= best.length_m - TOL


@pytest.mark.parametrize(
    "bad",
    [[Pick(3, 1.0)], [Pick(0, -0.5)], [Pick(0, 10.5)]],
)
def test_rejects_picks_outside_the_layout(bad: list[Pick]) -> None:
    layout = Layout((0.0, 3.0), 0.0, 10.0, (0.0, 0.0))
    with pytest.raises(ValueError):
        route_optimal(layout, bad)

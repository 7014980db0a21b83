"""Pick-path routing in a single-block rectangular warehouse.

Geometry: parallel vertical aisles at ``Layout.aisle_x``, joined by a front
cross aisle (``y_front``) and a back cross aisle (``y_back``).  A picker walks
only along aisles and cross aisles; the depot sits on the front cross aisle.

``route_optimal`` is the exact dynamic programme of Ratliff & Rosenthal (1983),
"Order-picking in a rectangular warehouse: a solvable case of the traveling
salesman problem".  The tour is built as a multigraph on the aisle graph,
column by column from left to right.  A *column* is an aisle that holds picks,
or the depot's x (a zero-length "aisle" whose only required vertex is the
depot on the front cross aisle).  Aisles without picks are never needed: a
shortest path between two points never runs along a third aisle, so an optimal
tour (a chain of shortest paths) never does either.

Each column ``j`` has a front corner ``a_j`` and a back corner ``b_j``.  After
the edges of columns ``0..j`` are chosen, a partial tour subgraph is summarised
by its equivalence class ``(deg a_j, deg b_j, components)`` where a degree is
``0`` (untouched), ``E`` (even, > 0) or ``U`` (odd) and every component must
touch ``a_j`` or ``b_j`` (a component that does not can never be joined to the
rest).  The classes that occur are those of the paper::

    (U,U,1C) (E,0,1C) (0,E,1C) (E,E,1C) (E,E,2C) (0,0,0C) (0,0,1C)

``(0,0,0C)`` is the empty start and ``(0,0,1C)`` a closed tour; because every
column here holds a required vertex, the tour closes only after the last
column, which is the final step below.

Two kinds of transitions alternate:

* cross-aisle step ``j -> j+1``: the front and back cross-aisle edges between
  the columns are used 0, 1 or 2 times each; the corners ``a_j``, ``b_j`` are
  then final, so their degrees must be even, and every component must carry
  on into column ``j+1``;
* within-aisle step at column ``j``: one of the only useful edge patterns of
  an aisle with picks - a single traversal, a double traversal, a return from
  the back (top), a return from the front (bottom), or a double visit from both
  ends leaving out the largest gap between consecutive points.

The optimal multigraph is connected with all degrees even; an Euler tour from
the depot visits every pick, and the order of first visits is the route.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from itertools import groupby, pairwise

# Degree classes of a corner vertex.
ZERO, ODD, EVEN = 0, 1, 2


@dataclass(frozen=True)
class Layout:
    """A single-block rectangular warehouse (all lengths in metres)."""

    aisle_x: tuple[float, ...]  # x of each aisle centreline, strictly increasing
    y_front: float  # y of the front cross aisle
    y_back: float  # y of the back cross aisle, > y_front
    depot: tuple[float, float]  # (x, y) of the depot; y == y_front


@dataclass(frozen=True)
class Pick:
    """A point to visit: ``aisle`` indexes ``Layout.aisle_x``; ``key`` is the caller's id."""

    aisle: int
    y: float
    key: object = None


@dataclass(frozen=True)
class Route:
    """A tour: ``order`` indexes the input picks in visiting order."""

    order: tuple[int, ...]
    length_m: float


# --------------------------------------------------------------------------
# Distances
# --------------------------------------------------------------------------


def _via_cross_aisles(layout: Layout, xa: float, ya: float, xb: float, yb: float) -> float:
    """Shortest walk between points in two different aisles (via front or back)."""
    front = (ya - layout.y_front) + (yb - layout.y_front)
    back = (layout.y_back - ya) + (layout.y_back - yb)
    return abs(xa - xb) + min(front, back)


def distance(layout: Layout, a: Pick, b: Pick) -> float:
    """Shortest aisle-graph distance between two picks."""
    if a.aisle == b.aisle:
        return abs(a.y - b.y)
    return _via_cross_aisles(layout, layout.aisle_x[a.aisle], a.y, layout.aisle_x[b.aisle], b.y)


def _depot_distance(layout: Layout, p: Pick) -> float:
    """Shortest distance between the depot (on the front cross aisle) and a pick."""
    return abs(layout.depot[0] - layout.aisle_x[p.aisle]) + (p.y - layout.y_front)


def route_length(layout: Layout, picks: Sequence[Pick], order: Iterable[int]) -> float:
    """Length of depot -> picks[order[0]] -> ... -> depot along shortest paths."""
    seq = [picks[i] for i in order]
    if not seq:
        return 0.0
    total = _depot_distance(layout, seq[0]) + _depot_distance(layout, seq[-1])
    for prev, cur in pairwise(seq):
        total += distance(layout, prev, cur)
    return total


def validate(layout: Layout, picks: Sequence[Pick]) -> None:
    """Raise ``ValueError`` if the layout or a pick is outside the geometry contract."""
    if not layout.y_back > layout.y_front:
        raise ValueError("y_back must be greater than y_front")
    if any(b <= a for a, b in pairwise(layout.aisle_x)):
        raise ValueError("aisle_x must be strictly increasing")
    for i, p in enumerate(picks):
        if not 0 <= p.aisle < len(layout.aisle_x):
            raise ValueError(f"pick {i}: aisle {p.aisle} out of range")
        if not layout.y_front <= p.y <= layout.y_back:
            raise ValueError(f"pick {i}: y={p.y} outside the aisle")


def picks_by_aisle(picks: Sequence[Pick]) -> dict[int, list[int]]:
    """Pick indices grouped by aisle, each group sorted by y (front to back)."""
    ordered = sorted(range(len(picks)), key=lambda i: (picks[i].aisle, picks[i].y, i))
    return {aisle: list(g) for aisle, g in groupby(ordered, key=lambda i: picks[i].aisle)}


# --------------------------------------------------------------------------
# Columns and their within-aisle edge patterns
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Column:
    """A column of the DP: an aisle with picks, or the depot (``picks == ()``)."""

    x: float
    picks: tuple[int, ...]  # input indices sorted by y
    ys: tuple[float, ...]  # (y_front, *pick ys, y_back): vertex positions

    @property
    def is_depot(self) -> bool:
        return not self.picks


@dataclass(frozen=True)
class _Pattern:
    """Within-aisle edges: ``da``/``db`` edge ends at the corners, ``joins`` a to b.

    ``gap`` is the index of the segment left out of a double visit (segment
    ``i`` joins vertices ``i`` and ``i+1``); ``mult`` is the multiplicity of
    the segments that are used.
    """

    name: str
    cost: float
    da: int
    db: int
    joins: bool
    mult: int = 2
    gap: int | None = None


def _patterns(col: _Column) -> list[_Pattern]:
    """The useful edge patterns of a column (Ratliff & Rosenthal's aisle moves)."""
    if col.is_depot:
        # The depot is a required vertex on the front cross aisle: a zero-cost
        # "loop" marks a_j as visited without any aisle edge.
        return [_Pattern("depot", 0.0, 2, 0, False, mult=0)]
    ys = col.ys
    n = len(col.picks)
    length = ys[-1] - ys[0]
    pats = [
        _Pattern("traverse", length, 1, 1, True, mult=1),
        _Pattern("double", 2 * length, 2, 2, True),
        _Pattern("top", 2 * (ys[-1] - ys[1]), 0, 2, False, gap=0),
        _Pattern("bottom", 2 * (ys[n] - ys[0]), 2, 0, False, gap=n),
    ]
    if n >= 2:
        gap = max(range(1, n), key=lambda i: ys[i + 1] - ys[i])
        pats.append(_Pattern("split", 2 * (length - (ys[gap + 1] - ys[gap])), 2, 2, False, gap=gap))
    return pats


def _columns(layout: Layout, picks: Sequence[Pick]) -> list[_Column]:
    """Columns sorted by x: aisles holding picks plus the depot."""
    cols = [
        _Column(
            layout.aisle_x[aisle],
            tuple(idx),
            (layout.y_front, *(picks[i].y for i in idx), layout.y_back),
        )
        for aisle, idx in picks_by_aisle(picks).items()
    ]
    cols.append(_Column(layout.depot[0], (), (layout.y_front, layout.y_back)))
    # A depot at an aisle's x becomes its own column 0 m away: equivalent graph.
    cols.sort(key=lambda c: c.x)
    return cols


# --------------------------------------------------------------------------
# The DP's state algebra (cached: only a few hundred distinct arguments)
# --------------------------------------------------------------------------

State = tuple[int, int, int]  # (class of deg a_j, class of deg b_j, components)


def _add(cls: int, ends: int) -> int:
    """Degree class after adding ``ends`` edge ends to a vertex of class ``cls``."""
    if ends == 0:
        return cls
    odd = (cls == ODD) != (ends % 2 == 1)
    return ODD if odd else EVEN


@cache
def _cross_step(state: State, hf: int, hb: int) -> tuple[int, int, bool] | None:
    """Use the front/back cross-aisle edges ``hf``/``hb`` times to reach the next column.

    Returns the next column's entry ``(deg a, deg b, a and b already joined)``
    or ``None`` if the step leaves an odd corner or strands a component.
    """
    pa, pb, comps = state
    if (pa == ODD) != (hf == 1) or (pb == ODD) != (hb == 1):
        return None  # a_j and b_j get no more edges: their degree must be even
    if comps == 2 and not (hf and hb):
        return None
    if comps == 1 and not ((pa and hf) or (pb and hb)):
        return None
    joined = comps == 1 and bool(pa and pb and hf and hb)
    return hf, hb, joined


@cache
def _aisle_step(entry: tuple[int, int, bool], da: int, db: int, joins: bool) -> State:
    """Class after adding a within-aisle pattern to a column entered as ``entry``."""
    hf, hb, joined = entry
    pa, pb = _add(ZERO, hf + da), _add(ZERO, hb + db)
    if pa and pb:
        comps = 1 if (joined or joins) else 2
    else:
        comps = 1 if (pa or pb) else 0
    return pa, pb, comps


def _is_closed(state: State) -> bool:
    """A final class that is a tour: one component, both corners even."""
    pa, pb, comps = state
    return comps == 1 and pa != ODD and pb != ODD


# A DP cell: state -> (cost, previous state, (hf, hb), pattern index).
_Cell = dict[State, tuple[float, State | None, tuple[int, int], int]]


def _relax(cell: _Cell, state: State, cost: float, back: tuple) -> None:
    old = cell.get(state)
    if old is None or cost < old[0]:
        cell[state] = (cost, *back)


def _solve(cols: list[_Column]) -> tuple[list[_Cell], list[list[_Pattern]], State]:
    """Run the DP; return the cells, the patterns and the best closing state."""
    patterns = [_patterns(c) for c in cols]
    cells: list[_Cell] = []
    entries: dict[tuple[int, int, bool], tuple[float, State | None, tuple[int, int]]]
    entries = {(0, 0, False): (0.0, None, (0, 0))}
    for j, col in enumerate(cols):
        cell: _Cell = {}
        for entry, (cost, prev, h) in entries.items():
            for k, pat in enumerate(patterns[j]):
                state = _aisle_step(entry, pat.da, pat.db, pat.joins)
                _relax(cell, state, cost + pat.cost, (prev, h, k))
        cells.append(cell)
        if j + 1 == len(cols):
            break
        dx = cols[j + 1].x - col.x
        entries = {}
        for state, (cost, *_rest) in cell.items():
            for hf in (0, 1, 2):
                for hb in (0, 1, 2):
                    entry = _cross_step(state, hf, hb)
                    if entry is None:
                        continue
                    new = cost + (hf + hb) * dx
                    old = entries.get(entry)
                    if old is None or new < old[0]:
                        entries[entry] = (new, state, (hf, hb))
    final = min((s for s in cells[-1] if _is_closed(s)), key=lambda s: cells[-1][s][0])
    return cells, patterns, final


# --------------------------------------------------------------------------
# From the optimal tour subgraph to a visiting order
# --------------------------------------------------------------------------

Vertex = tuple[int, int]  # (column, index into the column's ys)


def _edges(
    cols: list[_Column],
    cells: list[_Cell],
    patterns: list[list[_Pattern]],
    final: State,
) -> list[tuple[Vertex, Vertex]]:
    """Backtrack the DP into the multigraph's edge list (one entry per copy)."""
    edges: list[tuple[Vertex, Vertex]] = []
    state: State | None = final
    for j in range(len(cols) - 1, -1, -1):
        assert state is not None
        _cost, prev, (hf, hb), k = cells[j][state]
        pat = patterns[j][k]
        for i in range(len(cols[j].ys) - 1):
            if i != pat.gap:
                edges += [((j, i), (j, i + 1))] * pat.mult
        if j > 0:
            top_prev, top = len(cols[j - 1].ys) - 1, len(cols[j].ys) - 1
            edges += [((j - 1, 0), (j, 0))] * hf
            edges += [((j - 1, top_prev), (j, top))] * hb
        state = prev
    return edges


def _euler_walk(edges: list[tuple[Vertex, Vertex]], start: Vertex) -> list[Vertex]:
    """Hierholzer's algorithm: an Euler circuit through all edges from ``start``."""
    adj: dict[Vertex, list[tuple[Vertex, int]]] = {}
    for e, (u, v) in enumerate(edges):
        adj.setdefault(u, []).append((v, e))
        adj.setdefault(v, []).append((u, e))
    used = [False] * len(edges)
    stack, walk = [start], []
    while stack:
        u = stack[-1]
        nbrs = adj.get(u, [])
        while nbrs and used[nbrs[-1][1]]:
            nbrs.pop()
        if nbrs:
            v, e = nbrs.pop()
            used[e] = True
            stack.append(v)
        else:
            walk.append(stack.pop())
    return walk[::-1]


def _first_visits(cols: list[_Column], walk: list[Vertex]) -> tuple[int, ...]:
    """Pick indices in the order the walk first passes them."""
    seen: set[int] = set()
    order: list[int] = []
    for j, i in walk:
        if 1 <= i <= len(cols[j].picks):
            p = cols[j].picks[i - 1]
            if p not in seen:
                seen.add(p)
                order.append(p)
    return tuple(order)


def route_optimal(layout: Layout, picks: Sequence[Pick]) -> Route:
    """Shortest tour depot -> all picks -> depot (Ratliff & Rosenthal DP, linear time)."""
    validate(layout, picks)
    if not picks:
        return Route((), 0.0)
    cols = _columns(layout, picks)
    cells, patterns, final = _solve(cols)
    depot_col = next(j for j, c in enumerate(cols) if c.is_depot)
    walk = _euler_walk(_edges(cols, cells, patterns, final), (depot_col, 0))
    order = _first_visits(cols, walk)
    assert len(order) == len(picks), "optimal tour subgraph must reach every pick"
    return Route(order, cells[-1][final][0])


# --------------------------------------------------------------------------
# Heuristics (baselines).  Each fixes a visiting order; its length is that of
# walking the order along shortest paths, so it can never beat route_optimal.
# --------------------------------------------------------------------------


def _route(layout: Layout, picks: Sequence[Pick], order: list[int]) -> Route:
    return Route(tuple(order), route_length(layout, picks, order))


def _s_shape_order(groups: list[list[int]]) -> list[int]:
    """Traverse every aisle with picks, alternating up and down; an odd last aisle is a return."""
    order: list[int] = []
    for i, idx in enumerate(groups):
        last_odd = i == len(groups) - 1 and len(groups) % 2 == 1
        order += idx if (i % 2 == 0 or last_odd) else idx[::-1]
    return order


def route_s_shape(layout: Layout, picks: Sequence[Pick]) -> Route:
    """S-shape (traversal) routing, started from the left or the right end, whichever is shorter."""
    validate(layout, picks)
    groups = list(picks_by_aisle(picks).values())
    candidates = [_route(layout, picks, _s_shape_order(g)) for g in (groups, groups[::-1])]
    return min(candidates, key=lambda r: r.length_m)


def _split_at_largest_gap(layout: Layout, picks: Sequence[Pick], idx: list[int]) -> int:
    """Number of picks (from the front) below the largest gap of an aisle."""
    ys = [layout.y_front, *(picks[i].y for i in idx), layout.y_back]
    return max(range(len(ys) - 1), key=lambda k: ys[k + 1] - ys[k])


def route_largest_gap(layout: Layout, picks: Sequence[Pick]) -> Route:
    """Largest-gap routing (Hall 1993).

    The leftmost and rightmost aisles with picks are traversed; every aisle in
    between is entered from the back (on the way right) and from the front (on
    the way back to the left), each side up to its largest gap.
    """
    validate(layout, picks)
    groups = list(picks_by_aisle(picks).values())
    if len(groups) <= 1:
        return _route(layout, picks, [i for g in groups for i in g])
    middle = groups[1:-1]
    cuts = [_split_at_largest_gap(layout, picks, g) for g in middle]
    order = list(groups[0])
    for g, k in zip(middle, cuts, strict=True):
        order += g[k:][::-1]
    order += groups[-1][::-1]
    for g, k in zip(middle[::-1], cuts[::-1], strict=True):
        order += g[:k]
    return _route(layout, picks, order)

"""Re-routing the rest of a pick list from where the picker stands (after a short pick adds
replacement tasks, or a hold removes some)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from floor.fulfilment.models import PickList, PickTask
from floor.fulfilment.states import TaskStatus
from floor.fulfilment.waves.planning import OPEN_TASK
from floor.site.geometry import geometry
from floor.site.routing import Layout, Pick, distance, route_length, route_optimal


def _depot_dist(layout: Layout, p: Pick) -> float:
    return abs(layout.depot[0] - layout.aisle_x[p.aisle]) + (p.y - layout.y_front)


# Up to this many remaining picks the open path start -> picks -> depot is solved exactly.
EXACT_OPEN_PATH_MAX = 9


def _held_karp_open(layout: Layout, picks: list[Pick], start: Pick) -> list[int]:
    """Exact shortest walk start -> every pick -> depot (Held-Karp over subsets)."""
    n = len(picks)
    d = [[distance(layout, a, b) for b in picks] for a in picks]
    best: dict[tuple[int, int], tuple[float, int]] = {
        (1 << i, i): (distance(layout, start, picks[i]), -1) for i in range(n)
    }
    for mask in range(1, 1 << n):
        for last in range(n):
            cur = best.get((mask, last))
            if cur is None:
                continue
            for nxt in range(n):
                if mask & (1 << nxt):
                    continue
                key = (mask | (1 << nxt), nxt)
                cost = cur[0] + d[last][nxt]
                if key not in best or cost < best[key][0]:
                    best[key] = (cost, last)
    full = (1 << n) - 1
    last = min(range(n), key=lambda i: best[(full, i)][0] + _depot_dist(layout, picks[i]))
    order, mask = [], full
    while last != -1:
        order.append(last)
        prev = best[(mask, last)][1]
        mask &= ~(1 << last)
        last = prev
    return order[::-1]


def order_from(layout: Layout, picks: list[Pick], start: Pick | None) -> list[int]:
    """Visiting order of ``picks`` for a picker at ``start`` who ends at the depot.

    From the depot (``start`` None) this is the exact optimum (``route_optimal``). From a
    point inside the block, up to ``EXACT_OPEN_PATH_MAX`` picks are solved exactly (Held-Karp);
    longer rests use an approximation: the optimal closed tour of the remaining picks, entered
    at its best rotation and direction (every rotation and both directions are tried: start ->
    tour from there -> depot), never longer than walking back to the depot first and then
    doing the optimal tour.
    """
    if not picks:
        return []
    base = list(route_optimal(layout, picks).order)
    if start is None or len(base) == 1:
        return base
    if len(picks) <= EXACT_OPEN_PATH_MAX:
        return _held_karp_open(layout, picks, start)
    best, best_cost = base, float("inf")
    for seq in (base, base[::-1]):
        n = len(seq)
        links = [distance(layout, picks[seq[k - 1]], picks[seq[k]]) for k in range(n)]
        cycle = sum(links)
        for i in range(n):
            cost = (
                distance(layout, start, picks[seq[i]])
                + cycle
                - links[i]
                + _depot_dist(layout, picks[seq[i - 1]])
            )
            if cost < best_cost - 1e-9:
                best, best_cost = seq[i:] + seq[:i], cost
    return best


def reroute(session: Session, pick_list: PickList, from_location_id: int | None) -> None:
    """Re-sequence the open tasks of a list after the done ones; update its route length."""
    geo = geometry(session)
    session.flush()
    tasks = session.scalars(
        select(PickTask)
        .where(PickTask.pick_list_id == pick_list.id)
        .order_by(PickTask.seq, PickTask.id)
    ).all()
    done = [t for t in tasks if t.status in (TaskStatus.picked, TaskStatus.short)]
    rest = [t for t in tasks if t.status in OPEN_TASK]
    start = geo.pick(from_location_id) if from_location_id is not None else None
    order = order_from(geo.layout, [geo.pick(t.location_id) for t in rest], start)
    seq = [*done, *(rest[i] for i in order)]
    for n, t in enumerate(seq, 1):
        t.seq = n
    picks = [geo.pick(t.location_id) for t in seq]
    pick_list.route_length_m = round(route_length(geo.layout, picks, range(len(picks))), 3)

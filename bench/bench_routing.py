"""Benchmark of pick-path routing and order batching.

Run from the repository root::

    python -m bench.bench_routing            # prints the tables, writes docs/benchmarks-routing.md
    python -m bench.bench_routing --no-write # print only

Routing: random pick lists over a 10-aisle layout (aisles 3 m apart, 30 m
long, depot at the front of the first aisle).  The best known length of each
list is the minimum of route_optimal, a 2-opt + or-opt local search started
from the optimal, S-shape and largest-gap orders and, for 10 picks, the
exact Held-Karp optimum; route_optimal must equal it.  Batching: 2,000
three-line orders on 12 aisles, total walk of all pick lists (each routed
optimally) for batch_orders and batch_fcfs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import os
import platform
import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from floor.fulfilment.waves.batching import BatchOrder, batch_fcfs, batch_orders
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

SIZES = (10, 20, 30, 50, 100)
SEEDS = (1, 2, 3, 4, 5)
LISTS_PER_SEED = 10
LAYOUT = Layout(tuple(3.0 * i for i in range(10)), 0.0, 30.0, (0.0, 0.0))
BATCH_LAYOUT = Layout(tuple(3.0 * i for i in range(12)), 0.0, 30.0, (0.0, 0.0))
DOC = Path("docs/benchmarks-routing.md")
Router = Callable[[Layout, Sequence[Pick]], Route]


# --------------------------------------------------------------------------
# Reference solutions (independent of the DP)
# --------------------------------------------------------------------------


def distance_matrix(layout: Layout, picks: Sequence[Pick]) -> list[list[float]]:
    """Node 0 is the depot, node i + 1 is picks[i]."""
    n = len(picks)
    d = [[0.0] * (n + 1) for _ in range(n + 1)]
    for i, a in enumerate(picks):
        d[0][i + 1] = d[i + 1][0] = route_length(layout, picks, [i]) / 2
        for j, b in enumerate(picks):
            d[i + 1][j + 1] = distance(layout, a, b)
    return d


def held_karp(d: list[list[float]]) -> float:
    """Exact TSP over nodes 1..n from depot 0 (O(2^n n^2); fine for n <= 12)."""
    n = len(d) - 1
    full = (1 << n) - 1
    best = {(1 << i, i): d[0][i + 1] for i in range(n)}
    for mask in range(1, full + 1):
        for last in range(n):
            cost = best.get((mask, last))
            if cost is None:
                continue
            for nxt in range(n):
                if mask & (1 << nxt):
                    continue
                key = (mask | (1 << nxt), nxt)
                new = cost + d[last + 1][nxt + 1]
                if new < best.get(key, float("inf")):
                    best[key] = new
    return min(best[(full, i)] + d[i + 1][0] for i in range(n))


def tour_cost(d: list[list[float]], tour: list[int]) -> float:
    return sum(d[a][b] for a, b in itertools.pairwise(tour))


def two_opt_pass(d: list[list[float]], t: list[int]) -> bool:
    """One first-improvement 2-opt sweep over the closed tour ``t`` (t[0] == t[-1] == 0)."""
    for i in range(len(t) - 3):
        for j in range(i + 2, len(t) - 1):
            a, b, c, e = t[i], t[i + 1], t[j], t[j + 1]
            if d[a][c] + d[b][e] < d[a][b] + d[c][e] - 1e-9:
                t[i + 1 : j + 1] = t[i + 1 : j + 1][::-1]
                return True
    return False


def or_opt_pass(d: list[list[float]], t: list[int]) -> bool:
    """Move a segment of 1-3 picks (either way round) to its best other place."""
    for k in (1, 2, 3):
        for i in range(1, len(t) - k):
            seg = t[i : i + k]
            rest = t[:i] + t[i + k :]
            removed = d[t[i - 1]][seg[0]] + d[seg[-1]][t[i + k]] - d[t[i - 1]][t[i + k]]
            for j in range(len(rest) - 1):
                p, q = rest[j], rest[j + 1]
                for s in (seg, seg[::-1]):
                    added = d[p][s[0]] + d[s[-1]][q] - d[p][q]
                    if added < removed - 1e-9:
                        t[:] = rest[: j + 1] + s + rest[j + 1 :]
                        return True
    return False


def local_search(d: list[list[float]], order: Sequence[int]) -> float:
    """2-opt + or-opt to a local optimum from ``order`` (pick indices)."""
    t = [0, *(i + 1 for i in order), 0]
    while two_opt_pass(d, t) or or_opt_pass(d, t):
        pass
    return tour_cost(d, t)


# --------------------------------------------------------------------------
# Routing benchmark
# --------------------------------------------------------------------------


@dataclass
class SizeResult:
    size: int
    lists: int
    opt_gap: list[float]  # (optimal - best known) / best known
    s_shape: list[float]  # s-shape / optimal
    largest_gap: list[float]
    ms: dict[str, list[float]]
    exact_checked: bool


def timed(router: Router, picks: list[Pick]) -> tuple[Route, float]:
    start = time.perf_counter()
    route = router(LAYOUT, picks)
    return route, (time.perf_counter() - start) * 1e3


def bench_size(size: int) -> SizeResult:
    res = SizeResult(size, 0, [], [], [], {"optimal": [], "s_shape": [], "largest_gap": []}, False)
    for seed in SEEDS:
        rng = random.Random(seed * 1000 + size)
        for _ in range(LISTS_PER_SEED):
            picks = [
                Pick(rng.randrange(len(LAYOUT.aisle_x)), rng.uniform(0.0, 30.0))
                for _ in range(size)
            ]
            opt, t_opt = timed(route_optimal, picks)
            s, t_s = timed(route_s_shape, picks)
            lg, t_lg = timed(route_largest_gap, picks)
            d = distance_matrix(LAYOUT, picks)
            starts = (opt.order, s.order, lg.order)
            best = min(opt.length_m, *(local_search(d, o) for o in starts))
            if size <= 12:
                best = min(best, held_karp(d))
                res.exact_checked = True
            res.lists += 1
            # Float noise (1e-14) is not an improvement; a real one is a bug.
            gap = (opt.length_m - best) / best
            res.opt_gap.append(gap if gap > 1e-12 else 0.0)
            res.s_shape.append(s.length_m / opt.length_m - 1)
            res.largest_gap.append(lg.length_m / opt.length_m - 1)
            for name, ms in (
                ("optimal", t_opt),
                ("s_shape", t_s),
                ("largest_gap", t_lg),
            ):
                res.ms[name].append(ms)
    return res


def pct(xs: list[float]) -> str:
    return f"{100 * statistics.fmean(xs):.2f} / {100 * max(xs):.2f}"


def ms(xs: list[float]) -> str:
    return f"{statistics.fmean(xs):.2f} / {max(xs):.2f}"


def routing_table(results: list[SizeResult]) -> str:
    head = [
        "picks",
        "lists",
        "optimal vs best known, % mean / max",
        "S-shape vs optimal, % mean / max",
        "largest gap vs optimal, % mean / max",
        "route_optimal ms mean / max",
        "S-shape ms mean / max",
        "largest gap ms mean / max",
    ]
    rows = ["| " + " | ".join(head) + " |", "|---:" * len(head) + "|"]
    for r in results:
        check = " (exact check)" if r.exact_checked else ""
        rows.append(
            f"| {r.size} | {r.lists} | {pct(r.opt_gap)}{check} | {pct(r.s_shape)} "
            f"| {pct(r.largest_gap)} | {ms(r.ms['optimal'])} | {ms(r.ms['s_shape'])} "
            f"| {ms(r.ms['largest_gap'])} |"
        )
    return "\n".join(rows)


# --------------------------------------------------------------------------
# Batching benchmark
# --------------------------------------------------------------------------


def batch_walk(orders: Sequence[BatchOrder], batches: list[list[object]]) -> float:
    by_key = {o.key: o for o in orders}
    return sum(
        route_optimal(BATCH_LAYOUT, [p for k in b for p in by_key[k].picks]).length_m
        for b in batches
    )


def batching_table(n_orders: int = 2000, seed: int = 7) -> str:
    rng = random.Random(seed)
    aisles = len(BATCH_LAYOUT.aisle_x)
    orders = [
        BatchOrder(
            i,
            tuple(Pick(rng.randrange(aisles), rng.uniform(0.0, 30.0)) for _ in range(3)),
            1,
        )
        for i in range(n_orders)
    ]
    rows = [
        "| method | pick lists | total walk, m | vs FCFS | batching time, ms |",
        "|---|---:|---:|---:|---:|",
    ]
    fcfs_walk = None
    for name, fn in (("batch_fcfs", batch_fcfs), ("batch_orders", batch_orders)):
        start = time.perf_counter()
        batches = fn(BATCH_LAYOUT, orders, totes_per_cart=8)
        elapsed = (time.perf_counter() - start) * 1e3
        walk = batch_walk(orders, batches)
        fcfs_walk = fcfs_walk or walk
        rows.append(
            f"| {name} | {len(batches)} | {walk:,.0f} | {100 * (walk / fcfs_walk - 1):+.1f} % "
            f"| {elapsed:.0f} |"
        )
    return "\n".join(rows)


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs (nproc), {cpu}, Python {platform.python_version()}"


def report(routing: str, batching: str) -> str:
    today = dt.date.today().isoformat()
    return f"""## Pick-path routing and batching

Command: `python -m bench.bench_routing` (from the repository root).
Machine: {machine()}. Date: {today}.

Layout: 10 aisles 3 m apart, 30 m long, depot at the front of the first aisle;
picks uniform over aisles and depth; {len(SEEDS)} seeds x {LISTS_PER_SEED} lists per size.
"Best known" is the minimum of route_optimal, 2-opt + or-opt local search
started from the optimal, the S-shape and the largest-gap order, and (10 picks) the
exact Held-Karp optimum; 0.00 means route_optimal was never beaten.
Heuristic lengths are their visiting order walked along shortest paths.

{routing}

Batching: 2,000 orders x 3 picks (uniform over 12 aisles 3 m apart, 30 m long),
8 totes a cart, every pick list routed with route_optimal.

{batching}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help=f"do not write {DOC}")
    args = parser.parse_args()
    routing = routing_table([bench_size(n) for n in SIZES])
    text = report(routing, batching_table())
    print(text)
    if not args.no_write:
        DOC.parent.mkdir(exist_ok=True)
        DOC.write_text(text)
        print(f"wrote {DOC}")


if __name__ == "__main__":
    main()

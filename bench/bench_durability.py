"""Benchmark: what SQLite ``synchronous=FULL`` costs against ``NORMAL`` for acknowledged OMS
writes — single orders (one commit, one fsync each: the worst case) and batches of 100 (one
commit per batch) through the real app (Flask test client, no network), same disk, same run.

    python -m bench.bench_durability              # 400 single orders, 40 batches per mode
    python -m bench.bench_durability --single 1000

Results: printed, for docs/benchmarks.md → Durability.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench.bench_api import AUTH, make_orders, prepare


def _run(template: Path, work: Path, mode: str, singles: list[str], batches: list[str]) -> dict:
    from app import create_app

    results = {}
    for kind, bodies, path in (
        ("single", singles, "/api/v1/orders"),
        ("batch", batches, "/api/v1/orders/batch"),
    ):
        db = work / f"{mode}-{kind}.sqlite3"
        shutil.copyfile(template, db)
        app = create_app(
            {"database_url": f"sqlite:///{db}", "secret_key": "bench", "sqlite_synchronous": mode}
        )
        client = app.test_client()
        times = []
        for body in bodies:
            t0 = time.perf_counter()
            r = client.post(path, data=body, headers=AUTH)
            times.append(time.perf_counter() - t0)
            assert r.status_code in (200, 201, 207), (r.status_code, r.get_data(as_text=True))
        app.extensions["floor"].engine.dispose()
        results[kind] = {
            "requests": len(bodies),
            "median_ms": statistics.median(times) * 1000,
            "p95_ms": sorted(times)[int(0.95 * (len(times) - 1))] * 1000,
            "per_s": len(bodies) / sum(times),
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--single", type=int, default=400)
    parser.add_argument("--batches", type=int, default=40)
    args = parser.parse_args()
    orders = make_orders(args.single + args.batches * 100, seed=11)
    singles = [json.dumps(o) for o in orders[: args.single]]
    rest = orders[args.single :]
    batches = [json.dumps({"orders": rest[i : i + 100]}) for i in range(0, len(rest), 100)]
    work = Path(tempfile.mkdtemp(prefix="bench-durability-"))
    try:
        template = work / "template.sqlite3"
        prepare(f"sqlite:///{template}")
        for mode in ("NORMAL", "FULL", "NORMAL", "FULL"):  # twice, interleaved
            for kind, r in _run(template, work, mode, singles, batches).items():
                print(
                    f"{mode:<6} {kind:<6} {r['requests']:>4} requests"
                    f"  median {r['median_ms']:7.2f} ms  p95 {r['p95_ms']:7.2f} ms"
                    f"  {r['per_s']:8.1f} requests/s"
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

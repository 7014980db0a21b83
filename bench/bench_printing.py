"""Benchmark of printing: labels built per second, and "close package" -> last byte at the printer.

Run from the repository root::

    python -m bench.bench_printing                 # SQLite in a temporary directory
    python -m bench.bench_printing --database-url postgresql+psycopg://...  # an empty database
    python -m bench.bench_printing --rounds 5 --stations 20

1. Labels: ``printing.zpl.build_shipping_label`` on a realistic label (ship-to with non-Latin
   letters), and ``printing.labels.build_package_label`` (the same with the package, its order and
   its siblings read from the database), labels per second.
2. Latency: the real app (``create_app``) with its print worker thread, ``--stations`` pack
   stations each with its own virtual Zebra on 127.0.0.1 (a real TCP listener that answers
   ``~HS``). Each round, one packer per station posts ``/pack/close`` at the same instant (a
   barrier); the time from just before the POST to the moment the station's printer has the
   label's last byte (``^XZ``) is one sample. Goal: p95 under 200 ms with 20 stations.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from core.db import make_engine, make_session_factory, unit_of_work
from floor.fulfilment.models import Package, Tote
from floor.fulfilment.picking.scans import confirm_scan, next_task
from floor.fulfilment.waves.planning import RuleSpec, plan_waves, release_wave
from floor.site.layout import Location, LocationType, SkuGtin
from migrations import migrate
from printing.labels import build_package_label, site_address
from printing.printers import make_spec, sync_printers
from printing.virtual_zebra import VirtualZebra
from printing.zpl import Address, ShippingLabel, build_shipping_label
from web.demo import check_code, load_demo

SHIP_TO = {
    "name": "Zoë Ødegård 山田",
    "address1": "12 St James's Square",
    "address2": "Flat 3",
    "city": "London",
    "postal_code": "SW1Y 4JH",
    "country": "GB",
}


class TimedZebra(VirtualZebra):
    """A virtual Zebra that notes when each label's last byte arrived."""

    def __init__(self) -> None:
        super().__init__(0)
        self.arrivals: list[float] = []

    def _keep(self, label: str) -> None:
        self.arrivals.append(time.perf_counter())
        super()._keep(label)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


# --- labels per second --------------------------------------------------------------------------


def bench_build(n: int) -> float:
    label = ShippingLabel(
        ship_from=site_address(""),
        ship_to=Address(
            "Zoë Ødegård 山田", "12 St James's Square", "Flat 3", "London", "", "SW1Y", "GB"
        ),
        carrier="ups",
        service="ground",
        carrier_is_demo=True,
        tracking_number="1Z999AA10123456784",
        sscc="106141411234567897",
        order_ref="SO-1042",
        package_no=1,
        package_count=2,
        weight_g=1254,
        qr_payload="(00)106141411234567897|1Z999AA10123456784|SO-1042|1/2",
    )
    started = time.perf_counter()
    for _ in range(n):
        build_shipping_label(label)
    return n / (time.perf_counter() - started)


def bench_build_from_db(sessions: Any, n: int) -> float:
    site = site_address("")
    with unit_of_work(sessions) as s:
        packages = list(s.scalars(select(Package).where(Package.tracking_number.is_not(None))))
        assert packages, "run the latency part first (it ships packages)"
        started = time.perf_counter()
        for i in range(n):
            build_package_label(s, packages[i % len(packages)], site)
        return n / (time.perf_counter() - started)


# --- close -> last byte -------------------------------------------------------------------------


def add_stations(sessions: Any, count: int) -> list[str]:
    with unit_of_work(sessions) as s:
        have = list(s.scalars(select(Location).where(Location.type == LocationType.pack_station)))
        zone_id = have[0].zone_id
        for n in range(len(have) + 1, count + 1):
            code = f"PACK-{n:02d}"
            s.add(
                Location(
                    code=code,
                    type=LocationType.pack_station,
                    zone_id=zone_id,
                    x_m=have[0].x_m + 1.5 * n,
                    y_m=have[0].y_m,
                    check_code=check_code(code),
                )
            )
    return [f"PACK-{n:02d}" for n in range(1, count + 1)]


def picked_orders(sessions: Any, count: int) -> list[str]:
    """``count`` two-line orders through the real wave and pick flow; their external ids."""
    from tests.factories import actor_for, add_order, supervisor

    with unit_of_work(sessions) as s:
        orders = []
        for _ in range(count):
            order = add_order(s, [("SKU-00005", 1), ("SKU-00006", 1)])
            order.carrier, order.service, order.ship_to = "ups", "ground", SHIP_TO
            orders.append(order)
        for wave in plan_waves(s, RuleSpec(split_by_zone=False), supervisor(s)).waves:
            release_wave(s, wave.id, supervisor(s))
        pat = actor_for(s, "pat")
        n = 0
        while (task := next_task(s, pat)) is not None:
            gtin = s.scalar(select(SkuGtin.gtin).where(SkuGtin.sku_id == task.sku_id))
            for _ in range(task.quantity - task.picked_qty):
                n += 1
                confirm_scan(s, pat, task.id, gtin, f"bench-{task.id}-{n}")
        ids = [o.external_id for o in orders]
        busy = set(s.scalars(select(Tote.order_id).where(Tote.order_id.is_not(None))))
        assert all(o.id in busy for o in orders)
        return ids


class Station:
    def __init__(self, app: Any, code: str) -> None:
        self.code = code
        self.client = app.test_client()
        page = self.client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        self.client.post(
            "/login", data={"csrf_token": token, "username": "paco", "password": "packer-demo"}
        )
        page = self.client.get("/pack").get_data(as_text=True)
        self.token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)

    def close(self, order: str) -> None:
        r = self.client.post(
            "/pack/close",
            json={"order": order, "station": self.code, "items": {"1": 1, "2": 1}, "weight_g": 900},
            headers={"X-CSRFToken": self.token},
        )
        assert r.status_code == 201, r.get_json()


def bench_latency(
    database_url: str, stations: int, rounds: int
) -> tuple[list[float], list[float], Any]:
    from app import create_app

    migrate.upgrade(database_url)
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    with unit_of_work(sessions) as s:
        load_demo(s)
    codes = add_stations(sessions, stations)
    zebras = {code: TimedZebra().start() for code in codes}
    with unit_of_work(sessions) as s:
        sync_printers(s, [make_spec(c, f"tcp://127.0.0.1:{z.port}") for c, z in zebras.items()])
    app = create_app({"database_url": database_url, "secret_key": "bench", "print_poll_s": 0.5})
    worker = app.extensions["floor"].print_worker.start()
    desks = [Station(app, code) for code in codes]
    samples: list[float] = []
    responses: list[float] = []
    try:
        for _ in range(rounds):
            orders = picked_orders(sessions, stations)
            barrier = threading.Barrier(stations)
            started: dict[str, float] = {}
            answered: dict[str, float] = {}

            def run(
                desk: Station,
                order: str,
                barrier: threading.Barrier = barrier,
                started: dict[str, float] = started,
                answered: dict[str, float] = answered,
            ) -> None:
                barrier.wait()
                started[desk.code] = time.perf_counter()
                desk.close(order)
                answered[desk.code] = time.perf_counter()

            threads = [
                threading.Thread(target=run, args=(d, o))
                for d, o in zip(desks, orders, strict=True)
            ]
            before = {c: len(z.arrivals) for c, z in zebras.items()}
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            for code, zebra in zebras.items():
                zebra.wait_for_labels(before[code] + 1, timeout_s=30)
                samples.append(zebra.arrivals[before[code]] - started[code])
                responses.append(answered[code] - started[code])
    finally:
        worker.stop()
        for zebra in zebras.values():
            zebra.stop()
    app.extensions["floor"].engine.dispose()
    return samples, responses, (engine, sessions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="")
    parser.add_argument("--stations", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--labels", type=int, default=2000)
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs")
    print(f"labels built (build_shipping_label): {bench_build(args.labels):,.0f}/s")
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        samples, responses, (engine, sessions) = bench_latency(url, args.stations, args.rounds)
        print(
            f"labels built from the database (build_package_label): "
            f"{bench_build_from_db(sessions, 500):,.0f}/s"
        )
        engine.dispose()
    ms = [s * 1000 for s in samples]
    backend = url.split(":", 1)[0].split("+")[0]
    print(
        f"close package -> last byte at the printer ({backend}, {args.stations} stations at once, "
        f"{len(ms)} closes): p50 {statistics.median(ms):.0f} ms, p95 {pct(ms, 95):.0f} ms, "
        f"max {max(ms):.0f} ms  (goal: p95 < 200 ms)"
    )
    rs = [s * 1000 for s in responses]
    print(
        f"  of which the /pack/close answer itself: p50 {statistics.median(rs):.0f} ms, "
        f"p95 {pct(rs, 95):.0f} ms"
    )
    after = [m - r for m, r in zip(ms, rs, strict=True)]
    print(
        f"  answer -> last byte at the printer (the print path): p50 "
        f"{statistics.median(after):.0f} ms, p95 {pct(after, 95):.0f} ms"
    )


if __name__ == "__main__":
    main()

"""The demo warehouse: deterministic (seeded) so that tests and benchmarks can rely on it.

Layout: 3 zones × 4 aisles (A–L), aisles 3 m apart and 30 m long between a front cross aisle
(y = 2 m) and a back cross aisle (y = 32 m); 20 bays per aisle (odd on the left, even on the
right), levels A–D (A/B pick faces, C/D reserve) → 960 rack locations, plus pack stations,
staging lanes and docks on the front cross aisle. 300 SKUs with valid GTIN-13s, stock with some
lots and expiry dates, one user per role, two pack stations, 200 totes. No printers: ``serve``
starts a virtual Zebra per pack station (or syncs FLOOR_PRINTERS), see ``web/printing_setup.py``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.accounts import create_api_key, create_user
from core.actors import Actor
from core.users import Role
from floor.fulfilment.models import Tote, WaveRule
from floor.site.gtin import check_digit
from floor.site.layout import Aisle, Location, LocationType, Sku, SkuGtin, Zone
from floor.site.stock import Stock

SEED = 20261123
AISLE_CODES = "ABCDEFGHIJKL"
AISLE_SPACING_M = 3.0
FIRST_AISLE_X_M = 3.0
Y_FRONT_M = 2.0
Y_BACK_M = 32.0
BAYS_PER_AISLE = 20
BAY_PITCH_M = 2.8
LEVELS = "ABCD"
PICK_LEVELS = "AB"
DEPOT_X_M = 0.0
DEMO_API_KEY = "demo-oms-key-change-me"


@dataclass(frozen=True)
class DemoUser:
    username: str
    role: Role
    password: str | None
    badge: str | None


DEMO_USERS = (
    DemoUser("pat", Role.picker, None, "BADGE-PICKER-1"),
    DemoUser("pia", Role.picker, None, "BADGE-PICKER-2"),
    DemoUser("paco", Role.packer, "packer-demo", "BADGE-PACKER-1"),
    DemoUser("sam", Role.supervisor, "supervisor-demo", "BADGE-SUPER-1"),
    DemoUser("ada", Role.admin, "admin-demo", None),
)

_ADJ = [
    "Red",
    "Blue",
    "Green",
    "Steel",
    "Oak",
    "Large",
    "Small",
    "Classic",
    "Eco",
    "Pro",
    "Mini",
    "Ultra",
    "Soft",
    "Heavy",
    "Light",
]
_NOUN = [
    "Mug",
    "Lamp",
    "Cable",
    "Notebook",
    "Bottle",
    "Towel",
    "Charger",
    "Bowl",
    "Candle",
    "Backpack",
    "Speaker",
    "Pillow",
    "Kettle",
    "Tape",
    "Glove",
    "Frame",
    "Clock",
    "Brush",
    "Filter",
    "Hook",
]


def check_code(location_code: str) -> str:
    """The 2-digit check code printed on a location label (stable for a given code)."""
    return f"{int(hashlib.sha256(location_code.encode()).hexdigest(), 16) % 100:02d}"


def demo_gtin(n: int) -> str:
    body = f"400{n:09d}"
    return body + check_digit(body)


def bay_y(bay: int) -> float:
    """Bays 1/2 face each other at the front; the pitch runs to the back cross aisle."""
    return round(Y_FRONT_M + BAY_PITCH_M * ((bay - 1) // 2) + BAY_PITCH_M / 2, 2)


def is_loaded(session: Session) -> bool:
    return (session.scalar(select(func.count()).select_from(Location)) or 0) > 0


def load_demo(session: Session) -> dict[str, int]:
    """Load the demo warehouse into an empty database. Returns counts of what was made."""
    if is_loaded(session):
        raise RuntimeError("the database already has a warehouse; demo data loads only when empty")
    rng = random.Random(SEED)
    zones = [
        Zone(code=f"Z{i + 1}", name=name)
        for i, name in enumerate(["Fast movers", "Ambient", "Bulk"])
    ]
    session.add_all(zones)
    session.flush()

    pick_faces: list[Location] = []
    reserves: list[Location] = []
    for i, letter in enumerate(AISLE_CODES):
        zone = zones[i // 4]
        x = FIRST_AISLE_X_M + AISLE_SPACING_M * i
        aisle = Aisle(
            zone_id=zone.id,
            code=letter,
            number=i + 1,
            x_m=x,
            y_front_m=Y_FRONT_M,
            y_back_m=Y_BACK_M,
        )
        session.add(aisle)
        session.flush()
        for bay in range(1, BAYS_PER_AISLE + 1):
            for level in LEVELS:
                code = f"{letter}-{bay:02d}-{level}-1"
                is_pick = level in PICK_LEVELS
                loc = Location(
                    code=code,
                    zone_id=zone.id,
                    aisle_id=aisle.id,
                    bay=bay,
                    level=level,
                    slot=1,
                    side="L" if bay % 2 else "R",
                    x_m=x,
                    y_m=bay_y(bay),
                    type=LocationType.pick_face if is_pick else LocationType.reserve,
                    check_code=check_code(code),
                    min_qty=10 if is_pick else 0,
                    max_qty=120 if is_pick else 0,
                )
                session.add(loc)
                (pick_faces if is_pick else reserves).append(loc)

    specials = [
        ("PACK-01", LocationType.pack_station, 0.0),
        ("PACK-02", LocationType.pack_station, 1.5),
    ]
    specials += [(f"STAGE-{n:02d}", LocationType.staging, 20.0 + 3 * n) for n in range(1, 5)]
    specials += [(f"DOCK-{n:02d}", LocationType.dock, 10.0 * n) for n in range(1, 3)]
    for code, kind, x in specials:
        loc = Location(
            code=code,
            type=kind,
            zone_id=zones[0].id,
            x_m=DEPOT_X_M + x,
            y_m=Y_FRONT_M if kind != LocationType.dock else 0.0,
            check_code=check_code(code),
        )
        session.add(loc)
    session.flush()

    skus = []
    for n in range(1, 301):
        sku = Sku(
            code=f"SKU-{n:05d}",
            name=f"{rng.choice(_ADJ)} {rng.choice(_NOUN)} {n}",
            weight_g=rng.randint(50, 4000),
            length_mm=rng.randint(40, 500),
            width_mm=rng.randint(30, 400),
            height_mm=rng.randint(10, 300),
        )
        sku.gtins.append(SkuGtin(gtin=demo_gtin(n).zfill(14)))
        skus.append(sku)
    session.add_all(skus)
    session.flush()

    # Pick faces in slotting order (zone 1 first, front bays first) get the fastest movers.
    faces = sorted(
        pick_faces, key=lambda loc: (loc.zone_id, loc.bay or 0, loc.x_m, loc.level or "")
    )
    today = dt.date(2026, 11, 23)
    stock_rows = 0
    for n, sku in enumerate(skus):
        session.add(Stock(location_id=faces[n].id, sku_id=sku.id, on_hand=rng.randint(40, 120)))
        stock_rows += 1
    # A second pick face for the 60 fastest movers, so short picks can find another location.
    for n, sku in enumerate(skus[:60]):
        session.add(
            Stock(location_id=faces[300 + n].id, sku_id=sku.id, on_hand=rng.randint(10, 40))
        )
        stock_rows += 1
    # Reserve stock (some lot-controlled with expiry dates for FEFO) for 240 SKUs.
    for n, sku in enumerate(skus[:240]):
        lot = f"L{rng.randint(1000, 9999)}" if n % 8 == 0 else ""
        expiry = today + dt.timedelta(days=rng.randint(30, 400)) if lot else None
        session.add(
            Stock(
                location_id=reserves[n * 2].id,
                sku_id=sku.id,
                lot=lot,
                expiry=expiry,
                on_hand=rng.randint(100, 400),
            )
        )
        stock_rows += 1

    actor = Actor.system()
    for u in DEMO_USERS:
        create_user(
            session,
            u.username,
            u.role,
            display_name=u.username.title(),
            password=u.password,
            badge=u.badge,
            actor=actor,
            demo=True,
        )
    create_api_key(session, "demo OMS", key=DEMO_API_KEY, actor=actor, demo=True)

    session.add_all([Tote(code=f"T{n:04d}") for n in range(1, 201)])
    session.add(WaveRule(name="Default"))
    session.flush()
    return {
        "zones": 3,
        "aisles": len(AISLE_CODES),
        "locations": len(pick_faces) + len(reserves) + len(specials),
        "skus": len(skus),
        "stock_rows": stock_rows,
        "users": len(DEMO_USERS),
    }

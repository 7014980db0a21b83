"""From the floor's rows to the office documents of ``printing.documents``.

Each function reads what one document needs with a few ``select()`` statements and returns the
frozen dataclass its PDF builder takes, so the builders stay pure and the web layer only streams
bytes. Badge codes are stored hashed and cannot be read back: a badge sheet issues new codes
(``issue_badges``), which retires the old cards — the caller audits it.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence

from sqlalchemy import case, select
from sqlalchemy.orm import Session

from core.accounts import DESK_ROLES, end_sessions, sha256
from core.actors import Actor
from core.audit import audit
from core.users import User
from floor.fulfilment.models import Package, PickList, PickTask, Tote
from floor.fulfilment.states import TaskStatus
from floor.site.layout import Location, LocationType, Sku
from orders.models import Order, OrderLine
from orders.states import OrderStatus
from printing.documents import (
    Address,
    BadgeCard,
    LocationLabel,
    PackingSlip,
    PickListSheet,
    PickStop,
    SlipLine,
    SlipPackage,
)

PICKABLE = (LocationType.pick_face, LocationType.reserve)
MAX_LABELS = 2000  # one sheet request; a whole demo floor is under 1,000 locations


def pick_list_code(pick_list_id: int) -> str:
    return f"PL-{pick_list_id:06d}"


def pick_list_sheet(session: Session, pick_list_id: int) -> PickListSheet | None:
    pick_list = session.get(PickList, pick_list_id)
    if pick_list is None:
        return None
    # A stop is what a picker walks to: a canceled task (its wave or order canceled) is none,
    # and a short one only for what was picked there before it ran out (its rest was re-routed
    # to another stop of the list, or is short on the order).
    qty = case((PickTask.status == TaskStatus.short, PickTask.picked_qty), else_=PickTask.quantity)
    rows = session.execute(
        select(PickTask.seq, Location.code, Sku.code, Sku.name, qty, Tote.code)
        .join(Location, Location.id == PickTask.location_id)
        .join(Sku, Sku.id == PickTask.sku_id)
        .outerjoin(Tote, Tote.id == PickTask.tote_id)
        .where(PickTask.pick_list_id == pick_list_id, PickTask.status != TaskStatus.canceled)
        .order_by(PickTask.seq)
    ).all()
    stops = tuple(
        PickStop(seq, loc, sku, name, n, tote or "")
        for seq, loc, sku, name, n, tote in rows
        if n > 0
    )
    totes = tuple(dict.fromkeys(stop.tote for stop in stops if stop.tote))
    picker = ""
    if pick_list.assigned_user_id is not None:
        user = session.get(User, pick_list.assigned_user_id)
        picker = user.display_name if user else ""
    return PickListSheet(pick_list_code(pick_list.id), pick_list.wave.code, picker, totes, stops)


def location_labels(
    session: Session, *, prefix: str = "", limit: int = MAX_LABELS
) -> list[LocationLabel]:
    """Shelf labels of the pickable locations whose code starts with ``prefix`` (e.g. ``A-``)."""
    stmt = (
        select(Location.code, Location.check_code)
        .where(Location.type.in_(PICKABLE), Location.active.is_(True))
        .order_by(Location.code)
        .limit(limit)
    )
    if prefix:
        stmt = stmt.where(Location.code.startswith(prefix, autoescape=True))
    return [
        LocationLabel(code, check, caption="check digits") for code, check in session.execute(stmt)
    ]


def issue_badges(session: Session, user_ids: Sequence[int], actor: Actor) -> list[BadgeCard]:
    """Give each active user a new random badge code; the old badge stops working at once, and
    so do the sessions of pickers and packers (as on logout: a lost card is why badges are
    reissued, and theirs logs in alone; a desk user's badge never opens a session by itself)."""
    users = session.scalars(
        select(User).where(User.id.in_(list(user_ids)), User.active.is_(True)).order_by(User.id)
    ).all()
    cards = []
    for user in users:
        code = f"BADGE-{secrets.token_hex(6).upper()}"
        user.badge_hash = sha256(code)
        audit(session, actor, "user.badge_reissued", entity="user", entity_id=user.id)
        cards.append(BadgeCard(user.display_name, user.role.value, code))
    session.flush()
    for user_id in [u.id for u in users if u.role not in DESK_ROLES]:
        end_sessions(session, user_id)
    return cards


def _address(fields: dict[str, str]) -> Address:
    city = " ".join(
        part for part in (fields.get("postal_code", ""), fields.get("city", "")) if part
    )
    lines = tuple(
        part
        for part in (
            fields.get("company", ""),
            fields.get("address1", ""),
            fields.get("address2", ""),
            city,
            fields.get("region", ""),
        )
        if part
    )
    return Address(fields.get("name") or "—", lines, fields.get("country", ""))


def packing_slip(
    session: Session, external_id: str, ship_from: dict[str, str], zone: dt.tzinfo = dt.UTC
) -> PackingSlip | None:
    """The slip of one order; its date is the day the order arrived in the site's ``zone``.
    Before the order is packed the slip is not ``final``: it shows what is picked and packed so
    far and marks no line short (nothing is short until the order is packed). Nor is the slip
    of a canceled order or one on hold, packed or not: it says so, and not to ship it."""
    order = session.scalar(select(Order).where(Order.external_id == external_id))
    if order is None:
        return None
    final = order.status in SLIP_FINAL
    lines = tuple(
        SlipLine(
            code,
            name,
            line.quantity,
            line.shipped_qty or line.packed_qty,
            None if final else line.picked_qty,
        )
        for line, code, name in session.execute(
            select(OrderLine, Sku.code, Sku.name)
            .join(Sku, Sku.id == OrderLine.sku_id)
            .where(OrderLine.order_id == order.id)
            .order_by(OrderLine.id)
        )
    )
    packages = tuple(
        SlipPackage(
            p.sscc,
            f"{p.carrier.upper()} {p.service.replace('_', ' ').title()}".strip(),
            p.tracking_number or "",
            p.weight_g,
        )
        for p in session.scalars(
            select(Package).where(Package.order_id == order.id).order_by(Package.id)
        )
    )
    return PackingSlip(
        order_ref=order.external_id,
        ship_from=_address(ship_from),
        ship_to=_address(order.ship_to or {}),
        lines=lines,
        packages=packages,
        order_date=order.created_at.astimezone(zone).date().isoformat(),
        final=final,
        warning=SLIP_WARNINGS.get(order.status, ""),
    )


# An order in these states has its cartons closed: what is not in them is short.
SLIP_FINAL = (OrderStatus.packed, OrderStatus.shipped, OrderStatus.delivered)
# Orders that must not ship as they stand, whatever was packed: their slip says so instead of
# "not yet packed" (which promised a packing, and was untrue of a packed order canceled after).
SLIP_WARNINGS = {
    OrderStatus.canceled: "ORDER CANCELED: do not ship",
    OrderStatus.on_hold: "ORDER ON HOLD: do not ship yet",
}


DEFAULT_SITE_ADDRESS = "Floor Demo Warehouse|1 Dock Road||Springfield|IL|62701|US"
_SITE_FIELDS = ("name", "address1", "address2", "city", "region", "postal_code", "country")


def site_address_fields(text: str) -> dict[str, str]:
    """``FLOOR_SITE_ADDRESS`` ("name|line1|line2|city|region|zip|cc") as ship-to-style fields."""
    parts = [p.strip() for p in text.split("|")]
    return dict(zip(_SITE_FIELDS, parts + [""] * (len(_SITE_FIELDS) - len(parts)), strict=False))

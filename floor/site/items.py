"""Item identification: "which SKU is this code, and which lot?".

A scanned item barcode is a GTIN-8/12/13/14 (check digit verified), a GS1 element string
with AI 01 (GS1-128 / DataMatrix, parsed by :func:`floor.site.gs1.parse_scan`, which reads AIM
prefixes such as ``]C1`` and a group separator or its typed substitute ``~``), or the SKU code
itself. :func:`read_item` keeps the lot (AI 10) and expiry (AI 17) so picking can check them
against the reserved stock; :func:`identify_item` is the short form when only the SKU matters.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from floor.site.gs1 import GS, Gs1Error, parse_scan
from floor.site.layout import Sku, SkuGtin

#: What a keyboard (wedge scanner, handheld) may send for the GS1 group separator.
TYPED_SEPARATORS = (GS, "~")


@dataclass(frozen=True)
class ItemScan:
    """A scanned item: its SKU (None when unknown), units per scan, lot and expiry if marked."""

    sku_id: int | None
    units: int = 0
    gtin: str | None = None
    lot: str | None = None
    expiry: dt.date | None = None
    error: str | None = None  # a GS1 code that does not read (bad check digit, bad date ...)


def extract_gtin(code: str) -> str | None:
    """The 14-digit GTIN in a scan, or None."""
    try:
        return parse_scan(code, separators=TYPED_SEPARATORS).gtin
    except Gs1Error:
        return None


def read_item(session: Session, code: str) -> ItemScan:
    """Parse ``code`` and look its GTIN (else the SKU code) up."""
    try:
        parsed = parse_scan(code, separators=TYPED_SEPARATORS)
    except Gs1Error as exc:
        return ItemScan(None, error=exc.message)
    if parsed.gtin is not None:
        row = session.execute(
            select(SkuGtin.sku_id, SkuGtin.units).where(SkuGtin.gtin == parsed.gtin)
        ).first()
        if row is not None:
            return ItemScan(row[0], max(1, row[1]), parsed.gtin, parsed.lot, parsed.expiry)
    sku_id = session.scalar(select(Sku.id).where(func.upper(Sku.code) == code.strip().upper()))
    if sku_id is not None:
        return ItemScan(sku_id, 1)
    return ItemScan(None, gtin=parsed.gtin, lot=parsed.lot, expiry=parsed.expiry)


def identify_item(session: Session, code: str) -> tuple[int | None, int]:
    """(sku id, units per scan) for an item barcode or SKU code; (None, 0) if unknown."""
    item = read_item(session, code)
    return (item.sku_id, item.units) if item.sku_id is not None else (None, 0)

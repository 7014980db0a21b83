"""What a scanned item barcode means: GTIN-8/12/13/14 (check digit verified), a GS1 element
string with AI 01 (GS1-128 / DataMatrix, parsed by ``biip``, which tolerates AIM prefixes such as
``]C1`` and missing group separators), or the SKU code itself."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from floor.site.gtin import is_valid_gtin
from floor.site.layout import Sku, SkuGtin


def extract_gtin(code: str) -> str | None:
    """The 14-digit GTIN in a scan, or None."""
    code = code.strip()
    if code.isdigit():
        return code.zfill(14) if is_valid_gtin(code) else None
    try:
        import biip

        parsed = biip.parse(code)
    except Exception:  # biip raises ParseError on anything it cannot read
        return None
    if parsed.gtin is not None:
        return parsed.gtin.value.zfill(14)
    if parsed.gs1_message is not None:
        for es in parsed.gs1_message.element_strings:
            if es.ai.ai == "01" and is_valid_gtin(es.value):
                return es.value
    return None


def identify_item(session: Session, code: str) -> tuple[int | None, int]:
    """(sku id, units per scan) for an item barcode or SKU code; (None, 0) if unknown."""
    gtin = extract_gtin(code)
    if gtin is not None:
        row = session.execute(
            select(SkuGtin.sku_id, SkuGtin.units).where(SkuGtin.gtin == gtin)
        ).first()
        if row is not None:
            return row[0], max(1, row[1])
    sku_id = session.scalar(select(Sku.id).where(func.upper(Sku.code) == code.strip().upper()))
    return (sku_id, 1) if sku_id is not None else (None, 0)

"""Error codes of the site: stock and its replenishment (``ReplenishmentError``)."""

from __future__ import annotations

import enum


class SiteErrorCode(enum.StrEnum):
    invalid_quantity = "invalid_quantity"
    nothing_to_move = "nothing_to_move"

"""Error codes of the upstream sync: dead-letter actions (``OutboxActionError``) and the
carriers' end of day (``ManifestError``). Carrier adapters raise the packing side's
``CarrierError`` with ``FulfilmentErrorCode``s: the interface is owned there."""

from __future__ import annotations

import enum


class SyncErrorCode(enum.StrEnum):
    not_dead = "not_dead"
    reason_required = "reason_required"
    nothing_to_close = "nothing_to_close"

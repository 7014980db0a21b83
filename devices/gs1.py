"""Scan decoding for devices: the GS1 parser lives in ``floor.site.gs1``.

The floor needs it to answer "which SKU, which lot is this?" and ``floor`` sits below
``devices`` in the layers, so the pure parser moved down; this module re-exports it so
device code (and its tests) keep importing ``devices.gs1``.
"""

from __future__ import annotations

from floor.site.gs1 import GS, Gs1Error, Gs1ErrorCode, ScanCode, ScanKind, parse_scan

__all__ = ["GS", "Gs1Error", "Gs1ErrorCode", "ScanCode", "ScanKind", "parse_scan"]

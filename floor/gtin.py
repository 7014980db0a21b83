"""GTIN check digits (GS1 mod-10) and normalisation to 14 digits."""

from __future__ import annotations


def check_digit(body: str) -> str:
    """GS1 check digit for the digits before it (weights 3,1,3,... from the right)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return str((10 - total % 10) % 10)


def is_valid_gtin(code: str) -> bool:
    return code.isdigit() and len(code) in (8, 12, 13, 14) and check_digit(code[:-1]) == code[-1]


def normalise_gtin(code: str) -> str:
    """GTIN-8/12/13/14 → 14 digits; raises ValueError on a bad check digit."""
    code = code.strip()
    if not is_valid_gtin(code):
        raise ValueError(f"not a valid GTIN: {code!r}")
    return code.zfill(14)

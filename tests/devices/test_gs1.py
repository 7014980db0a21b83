"""Scans decoded as a packer's scanner sends them: EAN, GS1-128 / DataMatrix with lot and
expiry, SSCC, plain codes, and GS1 that reads wrong."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.gs1 import Gs1Error, Gs1ErrorCode, ScanKind, parse_scan

GTIN14 = "09501101530003"


@pytest.mark.parametrize(
    "scan",
    [
        "9501101530003",  # EAN-13
        "09501101530003",  # GTIN-14
        "]E09501101530003",  # EAN-13 with its symbology identifier
        "01" + GTIN14,  # GS1-128 with only AI 01
        "]C101" + GTIN14,
    ],
)
def test_a_product_is_the_same_gtin_however_it_is_scanned(scan):
    result = parse_scan(scan)
    assert (result.kind, result.gtin, result.lot) == (ScanKind.gtin, GTIN14, None)


@pytest.mark.parametrize(
    ("scan", "symbology"),
    [
        ("]C101" + GTIN14 + "10LOT-42\x1d17261130", "]C1"),
        ("]d201" + GTIN14 + "17261130" + "10LOT-42", "]d2"),
        ("]Q301" + GTIN14 + "10LOT-42\x1d17261130", "]Q3"),
        ("01" + GTIN14 + "10LOT-42\x1d17261130\x1d", None),  # no identifier, trailing GS
    ],
)
def test_gs1_lot_and_expiry(scan, symbology):
    result = parse_scan(scan)
    assert result.kind is ScanKind.gs1
    assert (result.gtin, result.lot, result.expiry) == (GTIN14, "LOT-42", dt.date(2026, 11, 30))
    assert result.symbology == symbology


def test_substitute_separator_and_day_zero_expiry():
    result = parse_scan("01" + GTIN14 + "10AB~17260200~21S123", separators=("~",))
    assert (result.lot, result.expiry, result.serial) == ("AB", dt.date(2026, 2, 28), "S123")
    assert "\x1d" in result.code


def test_sscc():
    result = parse_scan("]C100376130321109103420")
    assert (result.kind, result.sscc, result.gtin) == (ScanKind.sscc, "376130321109103420", None)
    pallet = parse_scan("00376130321109103420" + "02" + GTIN14 + "3712")
    assert (pallet.kind, pallet.sscc, pallet.gtin) == (ScanKind.gs1, "376130321109103420", GTIN14)


@pytest.mark.parametrize(
    "scan",
    ["TOTE-07", "LOC-A-01-02", "21000123", "10ABC", "1234567890123", "]C0LOC-7", "ORD 17"],
)
def test_plain_codes_stay_plain(scan):
    result = parse_scan(f"  {scan} ")
    assert result.kind is ScanKind.plain and result.gtin is None
    assert result.code == scan.removeprefix("]C0")


@pytest.mark.parametrize(
    ("scan", "code"),
    [
        ("", Gs1ErrorCode.empty),
        ("  \x1d ", Gs1ErrorCode.empty),
        ("]C1", Gs1ErrorCode.empty),
        ("01" + "09501101530004" + "10AB", Gs1ErrorCode.bad_check_digit),
        ("]E09501101530004", Gs1ErrorCode.bad_check_digit),
        ("]C100376130321109103421", Gs1ErrorCode.bad_check_digit),
        ("01" + GTIN14 + "17261399", Gs1ErrorCode.bad_date),
        ("]d201" + GTIN14 + "17261340", Gs1ErrorCode.bad_date),
        ("]C1ABC", Gs1ErrorCode.malformed),
        ("01" + GTIN14 + "X", Gs1ErrorCode.malformed),
        ("]C110LOT\x1d17261130", Gs1ErrorCode.no_key),
        ("01" + GTIN14 + "10A\x1d10B", Gs1ErrorCode.malformed),
    ],
)
def test_gs1_that_reads_wrong_is_refused_with_a_reason(scan, code):
    with pytest.raises(Gs1Error) as info:
        parse_scan(scan)
    assert info.value.code is code


def check_scan_or_reason(scan: str) -> None:
    try:
        result = parse_scan(scan)
    except Gs1Error as exc:
        assert exc.code in set(Gs1ErrorCode)
    else:
        assert result.kind in set(ScanKind)
        assert result.gtin is None or len(result.gtin) == 14


@given(st.text(max_size=60))
def test_any_text_is_a_scan_or_a_reason(scan):
    check_scan_or_reason(scan)


@given(st.text(alphabet="0123456789\x1d]CdQ1230", max_size=40))
def test_gs1_like_text_is_a_scan_or_a_reason(scan):
    check_scan_or_reason(scan)

"""Scale lines as real scales send them, converted to whole grams with the stable flag."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.scale import (
    MAX_WEIGHT_G,
    ScaleError,
    ScaleErrorCode,
    ScaleReading,
    check_range,
    parse_scale_frame,
    to_grams,
)


@pytest.mark.parametrize(
    ("line", "weight_g", "stable"),
    [
        # Mettler Toledo MT-SICS
        ("S S     1.234 kg", 1234, True),
        ("S D     1.230 kg", 1230, False),
        ("S S      250.4 g", 250, True),
        ("S S     -0.020 kg", -20, True),
        # A&D standard format
        ("ST,+00123.45  g", 123, True),
        ("US,+00123.60  g", 124, False),
        ("ST,-00000.50  g", -1, True),
        # CAS / T-Scale style with gross/net
        ("ST,GS,+  1.234kg", 1234, True),
        ("US,NT,+  0.998kg", 998, False),
        ("ST,+001.25,kg", 1250, True),
        # plain print-on-demand
        ("   1.234 kg", 1234, True),
        ("0.000 kg", 0, True),
        ("12.5 lb G", 5670, True),
        ("3.00 LB N", 1361, True),
        ("16 oz", 454, True),
        ("1.2 kg ?", 1200, False),
        ("1.2 kg M", 1200, False),
    ],
)
def test_weight_lines(line, weight_g, stable):
    reading = parse_scale_frame(line)
    assert (reading.weight_g, reading.stable, reading.raw) == (weight_g, stable, line)


@pytest.mark.parametrize(
    ("line", "code"),
    [
        ("", ScaleErrorCode.empty),
        ("S I", ScaleErrorCode.not_ready),
        ("S +", ScaleErrorCode.overload),
        ("S -", ScaleErrorCode.underload),
        ("ES", ScaleErrorCode.scale_error),
        ("OL,+9999999   g", ScaleErrorCode.overload),
        ("OL,GS,+  -----kg", ScaleErrorCode.overload),
        ("QT,+000000010 PC", ScaleErrorCode.bad_unit),
        ("ST,+00010.00 ct", ScaleErrorCode.bad_unit),
        ("ST,TR,+  0.100kg", ScaleErrorCode.tare_frame),
        ("12 pcs", ScaleErrorCode.bad_unit),
        ("1.234", ScaleErrorCode.unrecognised),
        ("S S     ", ScaleErrorCode.unrecognised),
        ("\x02\x00\x10", ScaleErrorCode.unrecognised),
        ("kg 1.2", ScaleErrorCode.unrecognised),
    ],
)
def test_lines_that_are_no_weight(line, code):
    with pytest.raises(ScaleError) as info:
        parse_scale_frame(line)
    assert info.value.code is code


def test_unit_conversion_is_exact_and_rounds_half_up():
    assert to_grams("1", "lb") == 454  # 453.59237
    assert to_grams("0.0005", "kg") == 1
    assert to_grams("0.0004", "kg") == 0
    assert to_grams("1000", "mg") == 1
    assert to_grams("2.5", "g", "-") == -3


@given(st.text(max_size=40))
def test_any_line_is_a_reading_or_a_reason(line):
    try:
        reading = parse_scale_frame(line)
    except ScaleError as exc:
        assert exc.code in set(ScaleErrorCode)
    else:
        assert isinstance(reading.weight_g, int)


@pytest.mark.parametrize("grams", [0, 1, MAX_WEIGHT_G])
def test_a_weight_in_range_is_kept(grams):
    reading = ScaleReading(grams, True, "x")
    assert check_range(reading) is reading


@pytest.mark.parametrize("grams", [-1, MAX_WEIGHT_G + 1, 999_999_999_000])
def test_a_negative_or_huge_weight_is_out_of_range(grams):
    with pytest.raises(ScaleError) as info:
        check_range(ScaleReading(grams, True, "x"))
    assert info.value.code is ScaleErrorCode.out_of_range


def test_the_scale_bound_is_the_pack_close_bound():
    from web.pack_pages import MAX_WEIGHT_G as CLOSE_MAX

    assert MAX_WEIGHT_G == CLOSE_MAX

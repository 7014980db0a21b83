"""Labels read as a person (and a scanner) would: rendered by zplkit, decoded by zxing-cpp."""

from __future__ import annotations

import dataclasses
import io

import pytest
import zxingcpp
from PIL import Image
from zplkit.parse import parse

from printing.render import RenderError, render_labels, render_png
from printing.zpl import (
    LabelError,
    LabelErrorCode,
    build_shipping_label,
    carrier_line,
    escape_field,
    field,
    format_weight,
    passthrough,
    printable_text,
    sscc_hri,
)
from tests.printing.conftest import SSCC, TRACKING, make_label

HOSTILE_NAME = "Zoë Ødegård 山田 ^XZ^XA~JR^JUF \x00 ~HS ^FS\r\n_5E \\ >;"


def decoded(zpl: str) -> dict[str, list[zxingcpp.Barcode]]:
    image = Image.open(io.BytesIO(render_png(zpl)))
    found: dict[str, list[zxingcpp.Barcode]] = {}
    for barcode in zxingcpp.read_barcodes(image):
        found.setdefault(barcode.format.name, []).append(barcode)
    return found


def commands(zpl: str) -> list[tuple[str, str]]:
    """(kind, two-letter name) of every command as the printer tokenizes the stream."""
    return [
        (e.kind, e.data[:3].decode("ascii", "replace").upper())
        for e in parse(zpl).elements
        if e.kind != "before_first_command"
    ]


def test_label_decodes_to_the_packages_sscc_and_tracking_number(label):
    codes = decoded(build_shipping_label(label))
    (sscc,) = [b for b in codes["Code128"] if b.symbology_identifier == "]C1"]
    assert sscc.content_type == zxingcpp.ContentType.GS1
    assert sscc.text == f"(00){SSCC}"
    assert sscc.bytes == b"00" + SSCC.encode()
    (tracking,) = [b for b in codes["Code128"] if b.symbology_identifier == "]C0"]
    assert tracking.text == TRACKING
    (qr,) = codes["QRCode"]
    assert qr.text == label.qr_payload


def test_label_text_says_carrier_of_the_order_package_weight_and_sscc_line(label):
    zpl = build_shipping_label(label)
    assert "^FDUPS GROUND _C2_B7 demo^FS" in zpl  # "UPS GROUND · demo", escaped
    assert "^FDPACKAGE 1 OF 2^FS" in zpl
    assert "^FDWEIGHT 1.25 kg^FS" in zpl
    assert "^FD(00) 1 0614141 123456789 7^FS" in zpl
    assert "^FD>;>800" + SSCC + "^FS" in zpl  # GS1-128: subset C, FNC1, AI 00
    assert "^CI28" in zpl and "^PW812" in zpl and "^LL1218" in zpl


def test_a_real_carrier_is_not_called_demo(label):
    real = dataclasses.replace(
        label, carrier="dhl", service="express_worldwide", carrier_is_demo=False
    )
    assert carrier_line(real) == "DHL EXPRESS WORLDWIDE"
    assert carrier_line(label) == "UPS GROUND · demo"


def test_hostile_ship_to_cannot_inject_zpl_and_still_renders_and_decodes(label):
    hostile = dataclasses.replace(
        label,
        ship_to=dataclasses.replace(label.ship_to, name=HOSTILE_NAME, line2="~JR^JUF\x00"),
        order_ref="SO^XZ~JR",
        qr_payload="x^XZ^XA~JR^JUF~" + HOSTILE_NAME,
    )
    zpl = build_shipping_label(hostile)

    tokens = commands(zpl)
    assert tokens.count(("format_command", "^XA")) == 1
    assert tokens.count(("format_command", "^XZ")) == 1
    assert tokens[0] == ("format_command", "^XA") and tokens[-1] == ("format_command", "^XZ")
    assert not [t for t in tokens if t[0] != "format_command"]  # no ~JR, ~HS, no control char
    assert ("format_command", "^JU") not in tokens
    assert "~" not in zpl and "\x00" not in zpl and "\r" not in zpl
    assert zpl.count("^XA") == 1 and zpl.count("^XZ") == 1

    image_codes = decoded(zpl)
    assert [b.text for b in image_codes["Code128"] if b.symbology_identifier == "]C1"] == [
        f"(00){SSCC}"
    ]
    assert [b.bytes for b in image_codes["QRCode"]] == [hostile.qr_payload.encode()]  # unchanged


def test_hostile_text_is_printed_as_text():
    # what the printer prints for the name: Latin-1 kept, CJK as "?", controls as spaces
    assert printable_text(HOSTILE_NAME) == "Zoë Ødegård ?? ^XZ^XA~JR^JUF ~HS ^FS _5E \\ >;"
    assert (
        printable_text("Dvořák Łódź") == "Dvorák ?ódz"
    )  # Latin-1 kept, ř -> r, Ł has no Latin-1 base
    assert printable_text("a" * 50, 10) == "aaaaaaa..."


@pytest.mark.parametrize("ch", ["^", "~", "_", "\\", ">", "\x00", "\r", "\n", "\x7f", "é", "山"])
def test_escape_field_hex_escapes_every_unsafe_byte(ch):
    escaped = escape_field(f"a{ch}b")
    assert escaped == "a" + "".join(f"_{b:02X}" for b in ch.encode()) + "b"


def test_field_round_trips_through_the_printers_hex_decoding():
    zpl = "^XA^CI28" + field(10, 10, "A^B~C_D", font="D", height=18, width=10) + "^XZ"
    assert "^FH_^FDA_5EB_7EC_5FD^FS" in zpl
    assert len(render_labels(zpl)) == 1


def test_non_ascii_text_falls_back_to_a_font_with_latin1_glyphs():
    assert "^A0N,36,0" in field(0, 0, "Plain", height=36)
    assert "^ADN,36,20" in field(0, 0, "Zoë", height=36)


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"sscc": "106141411234567890"}, LabelErrorCode.bad_sscc),  # wrong check digit
        ({"sscc": "12345"}, LabelErrorCode.bad_sscc),
        ({"sscc": "１０６１４１４１１２３４５６７８９７"}, LabelErrorCode.bad_sscc),  # fullwidth
        ({"tracking_number": "1Z^XZ"}, LabelErrorCode.bad_tracking_number),
        ({"tracking_number": ""}, LabelErrorCode.bad_tracking_number),
        ({"package_no": 3}, LabelErrorCode.bad_package_count),
        ({"package_no": 0}, LabelErrorCode.bad_package_count),
        ({"weight_g": -1}, LabelErrorCode.bad_weight),
        ({"qr_payload": "x" * 301}, LabelErrorCode.qr_payload_too_long),
        ({"order_ref": "\x00\r\n"}, LabelErrorCode.empty_field),
    ],
)
def test_bad_label_data_is_refused_with_a_reason(changes, code):
    with pytest.raises(LabelError) as info:
        build_shipping_label(make_label(**changes))
    assert info.value.code == code


def test_zero_grams_is_a_weight():
    assert format_weight(0) == "0.00 kg"
    assert format_weight(1005) == "1.01 kg"
    assert "^FDWEIGHT 0.00 kg^FS" in build_shipping_label(make_label(weight_g=0))


def test_sscc_human_readable_line():
    assert sscc_hri(SSCC) == "(00) 1 0614141 123456789 7"


CARRIER_LABEL = "^XA^FO50,50^A0N,40,40^FDCARRIER LABEL^FS^XZ\r\n"


def test_carrier_label_passes_through_unchanged():
    assert passthrough(CARRIER_LABEL) == CARRIER_LABEL
    with_logo = "~DGR:LOGO.GRF,2,1,FF00\n" + CARRIER_LABEL
    assert passthrough(with_logo) == with_logo


@pytest.mark.parametrize(
    ("zpl", "code"),
    [
        ("", LabelErrorCode.not_one_label),
        ("^XA^FDx^FS", LabelErrorCode.not_one_label),
        (CARRIER_LABEL + CARRIER_LABEL, LabelErrorCode.not_one_label),
        ("^XA^FDa^FS^XZ^XA^FDb^FS^XZ", LabelErrorCode.not_one_label),
        ("^XA^FD~JR^FS^XZ", LabelErrorCode.control_command),
        ("~JR" + CARRIER_LABEL, LabelErrorCode.control_command),
        ("^XA^JUS^XZ", LabelErrorCode.config_command),
        ("hello " + CARRIER_LABEL, LabelErrorCode.not_one_label),
    ],
)
def test_carrier_label_that_is_not_one_plain_block_is_refused(zpl, code):
    with pytest.raises(LabelError) as info:
        passthrough(zpl)
    assert info.value.code == code


def test_render_refuses_what_it_cannot_draw():
    with pytest.raises(RenderError):
        render_png("^XA^FO1,1^A0N,30,30^FH_^FD_E5_B1_B1^FS^XZ")  # no resident CJK glyph

"""Web barcode pictures: what a scanner reads off them is what was asked for."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET

import pytest
from PIL import Image, ImageDraw

from printing.barcode_images import (
    CODE128_MAX_CHARS,
    BarcodeError,
    BarcodeErrorCode,
    code128_svg,
    qr_png,
    qr_svg,
)
from tests.printing_docs.pdfs import CODE128, QR, decoded

SVG = "{http://www.w3.org/2000/svg}"


def raster_code128(svg: str, px_per_mm: int = 12) -> Image.Image:
    """Draw the SVG's bars (its <rect>s in mm) into a picture, as a browser would."""
    root = ET.fromstring(svg.encode())
    width_mm = float(root.get("width").removesuffix("mm"))
    height_mm = float(root.get("height").removesuffix("mm"))
    img = Image.new("L", (round(width_mm * px_per_mm), round(height_mm * px_per_mm)), 255)
    draw = ImageDraw.Draw(img)
    for rect in root.iter(f"{SVG}rect"):
        if "fill:black" not in rect.get("style", ""):
            continue
        x, y, w, h = (float(rect.get(k).removesuffix("mm")) for k in ("x", "y", "width", "height"))
        draw.rectangle(
            [x * px_per_mm, y * px_per_mm, (x + w) * px_per_mm - 1, (y + h) * px_per_mm - 1], fill=0
        )
    return img


def raster_qr_svg(svg: str, px: int = 8) -> Image.Image:
    root = ET.fromstring(svg.encode())
    size = int(root.get("viewBox").split()[2])
    img = Image.new("L", (size * px, size * px), 255)
    draw = ImageDraw.Draw(img)
    path = next(root.iter(f"{SVG}path")).get("d")
    for x, y in re.findall(r"M(\d+),(\d+)H", path):
        draw.rectangle(
            [int(x) * px, int(y) * px, (int(x) + 1) * px - 1, (int(y) + 1) * px - 1], fill=0
        )
    return img


@pytest.mark.parametrize("data", ["A01-03-B", "PL-240315-007", "0123456789", 'a<b&c "q"'])
def test_code128_svg_scans_back_as_the_data(data: str) -> None:
    svg = code128_svg(data)
    assert decoded(raster_code128(svg), CODE128) == [data]
    # the human-readable line says the same (escaped as XML text, so the SVG stays valid)
    texts = [t.text for t in ET.fromstring(svg.encode()).iter(f"{SVG}text")]
    assert texts == [data]


def test_qr_png_scans_back_including_non_latin_text() -> None:
    data = "SO-100482 · Zoë Łukasiewicz · Чайник · 茶杯"
    img = Image.open(io.BytesIO(qr_png(data)))
    assert img.format == "PNG"
    assert decoded(img.convert("L"), QR) == [data]


def test_qr_svg_scans_back() -> None:
    data = "https://shop.example/returns?order=SO-100482"
    assert decoded(raster_qr_svg(qr_svg(data)), QR) == [data]


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ("", BarcodeErrorCode.empty),
        ("LOC-Ä1", BarcodeErrorCode.not_printable_ascii),
        ("A\tB", BarcodeErrorCode.not_printable_ascii),
        ("X" * (CODE128_MAX_CHARS + 1), BarcodeErrorCode.too_long),
    ],
)
def test_code128_refuses_what_a_scanner_cannot_type(data: str, code: BarcodeErrorCode) -> None:
    with pytest.raises(BarcodeError) as err:
        code128_svg(data)
    assert err.value.code == code


def test_qr_refuses_empty_and_oversized_data() -> None:
    with pytest.raises(BarcodeError) as err:
        qr_png("")
    assert err.value.code == BarcodeErrorCode.empty
    with pytest.raises(BarcodeError) as err:
        qr_svg("x" * 3000)
    assert err.value.code == BarcodeErrorCode.too_long

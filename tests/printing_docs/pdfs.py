"""Read a PDF as a person would: its text (pypdf) and its pictures (pdftoppm + zxing-cpp)."""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
from pathlib import Path

import pypdf
import pytest
import zxingcpp
from PIL import Image

needs_dejavu = pytest.mark.skipif(
    not Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf").is_file(),
    reason="DejaVu Sans missing (Debian package fonts-dejavu-core): non-Latin text prints as '?'",
)


def page_texts(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages]


def page_lines(pdf: bytes, page: int = 0) -> list[str]:
    return [line.strip() for line in page_texts(pdf)[page].splitlines() if line.strip()]


def page_size_pt(pdf: bytes, page: int = 0) -> tuple[float, float]:
    box = pypdf.PdfReader(io.BytesIO(pdf)).pages[page].mediabox
    return float(box.width), float(box.height)


def text_sizes(pdf: bytes, page: int = 0) -> dict[str, float]:
    """Each piece of text drawn on the page and the largest size (pt) it is drawn at."""
    sizes: dict[str, float] = {}

    def visit(text: str, cm: list[float], tm: list[float], font: object, size: float) -> None:
        text = text.strip()
        if text:
            scale = abs(tm[0] * cm[0]) or 1.0  # font size times the text matrix's scale
            sizes[text] = max(sizes.get(text, 0.0), size * scale)

    pypdf.PdfReader(io.BytesIO(pdf)).pages[page].extract_text(visitor_text=visit)
    return sizes


def render(pdf: bytes, page: int = 0, dpi: int = 200) -> Image.Image:
    """Page ``page`` (0-based) as a picture, rendered by poppler's pdftoppm like a printer would."""
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm not installed (Debian package poppler-utils): cannot render the PDF")
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp, "doc.pdf")
        src.write_bytes(pdf)
        n = str(page + 1)
        subprocess.run(
            [
                "pdftoppm",
                "-r",
                str(dpi),
                "-f",
                n,
                "-l",
                n,
                "-png",
                "-singlefile",
                str(src),
                str(Path(tmp, "page")),
            ],
            check=True,
        )
        with Image.open(Path(tmp, "page.png")) as img:
            return img.convert("L")


CODE128 = zxingcpp.BarcodeFormat.Code128
QR = zxingcpp.BarcodeFormat.QRCode


def decoded(img: Image.Image, fmt: zxingcpp.BarcodeFormat | None = None) -> list[str]:
    """What a scanner reads off the picture (of format ``fmt``), top-to-bottom, left-to-right."""
    found = zxingcpp.read_barcodes(img)
    found = [b for b in found if fmt is None or b.format == fmt]
    found.sort(key=lambda b: (round(b.position.top_left.y / 20), b.position.top_left.x))
    return [b.text for b in found]

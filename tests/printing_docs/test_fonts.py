"""Without DejaVu Sans the documents still print (Helvetica, '?' for what it cannot show)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from printing.documents import PickListSheet, PickStop, document_fonts, pick_list_pdf
from printing.documents._common import DEFAULT_FONT_DIR, FONT_DIR_ENV
from tests.printing_docs.pdfs import CODE128, decoded, page_texts, render

SHEET = PickListSheet(
    "PL-9", "W-1", "Алексей", ("T-1",), (PickStop(1, "A01-01-A", "SKU-1", "Чайник Zoë", 2, "T-1"),)
)


def test_missing_font_falls_back_to_helvetica_with_a_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(FONT_DIR_ENV, str(tmp_path))  # a real, empty font directory
    with caplog.at_level(logging.WARNING):
        fonts = document_fonts()
    assert not fonts.embedded and fonts.regular == "Helvetica"
    assert "fonts-dejavu-core" in fonts.note
    assert "fonts-dejavu-core" in caplog.text
    pdf = pick_list_pdf(SHEET)
    text = page_texts(pdf)[0]
    assert "Zoë" in text  # Latin-1 letters still print
    assert "?????? Zoë" in text  # the rest is replaced visibly, not dropped
    assert decoded(render(pdf), CODE128) == ["PL-9"]


def test_a_font_directory_elsewhere_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not Path(DEFAULT_FONT_DIR, "DejaVuSans.ttf").is_file():
        pytest.skip(f"DejaVu Sans not in {DEFAULT_FONT_DIR} (Debian package fonts-dejavu-core)")
    for name in ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSansMono-Bold.ttf"):
        shutil.copy(Path(DEFAULT_FONT_DIR, name), tmp_path / name)
    monkeypatch.setenv(FONT_DIR_ENV, str(tmp_path))
    assert document_fonts().embedded
    assert "Чайник Zoë" in page_texts(pick_list_pdf(SHEET))[0]

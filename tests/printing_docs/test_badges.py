"""Badge sheets: each card scans as its user's badge; the sheet says it is a credential and never
shows a badge code as text."""

from __future__ import annotations

import io

import pypdf
import pytest

from printing.documents import (
    BadgeCard,
    DocumentError,
    DocumentErrorCode,
    PageSize,
    badge_sheet_pdf,
)
from tests.printing_docs.pdfs import CODE128, decoded, needs_dejavu, page_texts, render
from tests.printing_docs.samples import badges


@needs_dejavu
def test_cards_show_name_and_role_and_scan_as_the_badge_code() -> None:
    cards = badges()
    pdf = badge_sheet_pdf(cards, site_name="Northwind Leeds DC")
    text = page_texts(pdf)[0]
    for card in cards:
        assert card.name in text
        assert card.role.capitalize() in text
    assert text.count("Northwind Leeds DC") == len(cards)
    assert decoded(render(pdf), CODE128) == [card.badge_code for card in cards]


def test_the_sheet_says_these_are_credentials_to_keep_safe() -> None:
    cards = badges()[:3]
    pdf = badge_sheet_pdf(cards)
    text = page_texts(pdf)[0]
    assert "CONFIDENTIAL - LOGIN CREDENTIALS - KEEP SAFE" in text
    assert "shred spoiled or spare sheets" in text
    assert text.count("Personal login credential · keep safe") == len(cards)
    meta = pypdf.PdfReader(io.BytesIO(pdf)).metadata
    assert "confidential" in meta.title.lower()


def test_badge_codes_are_never_in_the_text_layer_or_metadata() -> None:
    cards = badges()
    pdf = badge_sheet_pdf(cards * 3, PageSize.letter)  # several pages
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    everything = "".join(page_texts(pdf)) + repr(dict(reader.metadata or {}))
    # the drawing instructions themselves (decompressed): bars only, no string with the code
    streams = b"".join(page.get_contents().get_data() for page in reader.pages)
    assert len(reader.pages) == 3  # 8 cards a page
    for card in cards:
        assert card.badge_code not in everything
        assert card.badge_code.encode() not in streams
        assert card.badge_code.encode() not in pdf


@needs_dejavu
def test_names_in_any_script_do_not_break_the_sheet() -> None:
    # CJK has no glyphs in DejaVu Sans (prints as empty boxes) but must not stop the sheet,
    # and the badge still scans.
    cards = [BadgeCard("山田 花子", "picker", "BADGE-YAMADA"), BadgeCard("Ζωή", "packer", "B-2")]
    pdf = badge_sheet_pdf(cards)
    assert decoded(render(pdf), CODE128) == ["BADGE-YAMADA", "B-2"]
    assert "Ζωή" in page_texts(pdf)[0]


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda: BadgeCard("", "picker", "B-1"), DocumentErrorCode.missing_field),
        (lambda: BadgeCard("Pat", "", "B-1"), DocumentErrorCode.missing_field),
        (lambda: BadgeCard("Pat", "picker", ""), DocumentErrorCode.bad_barcode_data),
        (lambda: BadgeCard("Pat", "picker", "B-\n1"), DocumentErrorCode.bad_barcode_data),
        (lambda: badge_sheet_pdf([]), DocumentErrorCode.empty_document),
    ],
)
def test_bad_badges_are_refused_with_a_reason(make, code: DocumentErrorCode) -> None:
    with pytest.raises(DocumentError) as err:
        make()
    assert err.value.code == code


def test_a_long_name_is_shrunk_then_cut_never_overprinted() -> None:
    name = "Maximilian Alexander von Hohenzollern-Sigmaringen der Dritte"
    pdf = badge_sheet_pdf([BadgeCard(name, "picker", "B-1")], site_name="Northwind " * 8)
    text = page_texts(pdf)[0]
    assert name not in text
    assert "Maximilian Alexander von Hohenzollern" in text and "…" in text
    assert decoded(render(pdf), CODE128) == ["B-1"]

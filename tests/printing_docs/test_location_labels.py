"""Location label sheets: each label scans as its location and shows its check digits large."""

from __future__ import annotations

import pytest

from printing.documents import (
    DocumentError,
    DocumentErrorCode,
    LocationLabel,
    PageSize,
    location_labels_pdf,
)
from printing.documents.location_labels import grid
from tests.printing_docs.pdfs import CODE128, decoded, page_texts, render, text_sizes
from tests.printing_docs.samples import labels


def test_each_label_scans_as_its_location_in_sheet_order() -> None:
    given = labels(14)
    pdf = location_labels_pdf(given)
    assert decoded(render(pdf), CODE128) == [label.location_code for label in given]


def test_check_digits_are_printed_large_next_to_their_location() -> None:
    given = labels(6)
    pdf = location_labels_pdf(given)
    lines = [line.strip() for line in page_texts(pdf)[0].splitlines()]
    sizes = text_sizes(pdf)
    for label in given:
        at = lines.index(label.location_code)
        # the label reads: caption, code, CHECK, digits
        assert lines[at + 1 : at + 3] == ["CHECK", label.check_code]
        assert sizes[label.check_code] >= 36  # pt: readable from the floor
        assert sizes[label.check_code] > 1.8 * sizes[label.location_code]


@pytest.mark.parametrize(("size", "per_sheet"), [(PageSize.a4, 14), (PageSize.letter, 12)])
def test_sheets_fill_in_order_and_say_sheet_n_of_m(size: PageSize, per_sheet: int) -> None:
    cols, rows = grid(size)
    assert cols * rows == per_sheet
    given = labels(30)
    pdf = location_labels_pdf(given, size)
    texts = page_texts(pdf)
    sheets = -(-30 // per_sheet)
    assert len(texts) == sheets
    assert f"Sheet {sheets} of {sheets}" in texts[-1]
    last = given[(sheets - 1) * per_sheet :]
    assert f"{last[0].location_code} to {last[-1].location_code}" in texts[-1]
    assert decoded(render(pdf, page=sheets - 1), CODE128) == [x.location_code for x in last]


def test_a_long_location_code_still_fits_and_scans() -> None:
    label = LocationLabel("MEZZ-2-AISLE-14-BAY-07", "4711")
    pdf = location_labels_pdf([label])
    assert decoded(render(pdf, dpi=300), CODE128) == [label.location_code]
    assert "4711" in page_texts(pdf)[0]


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda: LocationLabel("A01-01-A", "7"), DocumentErrorCode.bad_check_code),
        (lambda: LocationLabel("A01-01-A", "1a"), DocumentErrorCode.bad_check_code),
        (lambda: LocationLabel("A01-01-A", "١٢"), DocumentErrorCode.bad_check_code),
        (lambda: LocationLabel("Regal-Ü1", "12"), DocumentErrorCode.bad_barcode_data),
        (lambda: location_labels_pdf([]), DocumentErrorCode.empty_document),
        # fits the Code 128 rule but not a 93 mm label at a scannable bar width
        (
            lambda: location_labels_pdf([LocationLabel("X" * 40, "12")]),
            DocumentErrorCode.bad_barcode_data,
        ),
    ],
)
def test_bad_labels_are_refused_with_a_reason(make, code: DocumentErrorCode) -> None:
    with pytest.raises(DocumentError) as err:
        make()
    assert err.value.code == code


def test_a_long_caption_is_cut_with_an_ellipsis() -> None:
    caption = "Mezzanine 2 · carton flow rack · fragile goods, handle with care, two-person lift"
    text = page_texts(location_labels_pdf([LocationLabel("A01-01-A", "12", caption)]))[0]
    assert caption not in text and "Mezzanine 2 · carton flow rack" in text and "…" in text

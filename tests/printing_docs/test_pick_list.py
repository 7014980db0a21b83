"""The pick-list sheet read as a picker reads it: header, stops in route order, the scan code."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from printing.documents import (
    DocumentError,
    DocumentErrorCode,
    PageSize,
    PickListSheet,
    PickStop,
    pick_list_pdf,
)
from tests.printing_docs.pdfs import (
    CODE128,
    decoded,
    needs_dejavu,
    page_lines,
    page_size_pt,
    page_texts,
    render,
)
from tests.printing_docs.samples import pick_sheet

LOCATION = re.compile(r"^A\d\d-\d\d-[A-D]$")
TOTE = re.compile(r"^T-\d{4}$")


def rows(pdf: bytes) -> list[tuple[str, int, str]]:
    """(location, quantity, tote) of every stop, in the order printed, over all pages."""
    out = []
    for page in range(len(page_texts(pdf))):
        lines = page_lines(pdf, page)
        location = None
        for i, line in enumerate(lines):
            if LOCATION.match(line):
                location = line
            elif TOTE.match(line) and location is not None:
                out.append((location, int(lines[i - 1]), line))
                location = None
    return out


@needs_dejavu
def test_header_and_stops_in_route_order() -> None:
    sheet = pick_sheet(14)  # stops handed over in reverse: the sheet must print by sequence
    pdf = pick_list_pdf(sheet)
    text = page_texts(pdf)[0]
    for expected in (
        "PICK LIST",
        "PL-240315-007",
        "W-240315-02",
        "Pat Kowalski",
        "T-0101, T-0102, T-0103",
        "14 stops · 41 units",
        "Page 1 of 1",
    ):
        assert expected in text
    route = sorted(sheet.stops, key=lambda s: s.sequence)
    assert rows(pdf) == [(s.location_code, s.quantity, s.tote) for s in route]
    # descriptions print as written: markup characters and Cyrillic included
    assert "Notebook A5 dotted <premium>" in text
    assert "Чайник" in text


def test_list_code_scans_off_the_printed_page() -> None:
    pdf = pick_list_pdf(pick_sheet(5))
    assert decoded(render(pdf), CODE128) == ["PL-240315-007"]


def test_long_list_breaks_pages_and_repeats_the_header_and_scan_code() -> None:
    sheet = pick_sheet(70)
    pdf = pick_list_pdf(sheet)
    texts = page_texts(pdf)
    assert len(texts) >= 3
    for number, text in enumerate(texts, start=1):
        assert "PL-240315-007" in text and "W-240315-02" in text
        assert "Location" in text and "Qty" in text  # column titles repeated
        assert f"Page {number} of {len(texts)}" in text
    assert "PICK LIST (continued)" in texts[1]
    # every stop exactly once, in route order, across the pages
    assert [r[0] for r in rows(pdf)] == [
        s.location_code for s in sorted(sheet.stops, key=lambda s: s.sequence)
    ]
    assert decoded(render(pdf, page=len(texts) - 1), CODE128) == ["PL-240315-007"]


def test_us_letter() -> None:
    pdf = pick_list_pdf(pick_sheet(3), PageSize.letter)
    assert page_size_pt(pdf) == pytest.approx((612, 792))
    assert page_size_pt(pick_list_pdf(pick_sheet(3))) == pytest.approx((595.28, 841.89), abs=0.01)


def test_unassigned_picker_and_no_totes_print_plainly() -> None:
    sheet = pick_sheet(2)
    stops = tuple(replace(s, tote="loose") for s in sheet.stops)
    pdf = pick_list_pdf(replace(sheet, picker="", cart_totes=(), stops=stops))
    assert "unassigned" in page_texts(pdf)[0]


def stop(seq: int, **kw: object) -> PickStop:
    fields = {
        "sequence": seq,
        "location_code": f"A01-0{seq}-A",
        "sku": "SKU-1",
        "description": "thing",
        "quantity": 1,
        "tote": "T-1",
    }
    fields.update(kw)
    return PickStop(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda: PickListSheet("PL-1", "W", "p", ("T-1",), ()), DocumentErrorCode.empty_document),
        (
            lambda: PickListSheet("PL-Ω", "W", "p", ("T-1",), (stop(1),)),
            DocumentErrorCode.bad_barcode_data,
        ),
        (
            lambda: PickListSheet("", "W", "p", ("T-1",), (stop(1),)),
            DocumentErrorCode.bad_barcode_data,
        ),
        (
            lambda: PickListSheet("PL-1", "W", "p", ("T-1",), (stop(1), stop(1))),
            DocumentErrorCode.duplicate_sequence,
        ),
        (
            lambda: PickListSheet("PL-1", "W", "p", ("T-1",), (stop(1, tote="T-9"),)),
            DocumentErrorCode.unknown_tote,
        ),
        (lambda: stop(1, quantity=0), DocumentErrorCode.bad_quantity),
        (lambda: stop(1, sku=" "), DocumentErrorCode.missing_field),
    ],
)
def test_bad_sheets_are_refused_with_a_reason(make, code: DocumentErrorCode) -> None:
    with pytest.raises(DocumentError) as err:
        make()
    assert err.value.code == code

"""The packing slip read as the customer reads it: who, what was ordered and shipped, cartons."""

from __future__ import annotations

from dataclasses import replace

import pytest

from printing.documents import (
    Address,
    DocumentError,
    DocumentErrorCode,
    PackingSlip,
    PageSize,
    SlipLine,
    SlipPackage,
    packing_slip_pdf,
)
from tests.printing_docs.pdfs import (
    QR,
    decoded,
    needs_dejavu,
    page_lines,
    page_size_pt,
    page_texts,
    render,
)
from tests.printing_docs.samples import slip, sscc


@needs_dejavu
def test_ship_to_order_and_lines_with_what_is_short() -> None:
    s = slip()
    pdf = packing_slip_pdf(s)
    text = page_texts(pdf)[0]
    for expected in (
        "PACKING SLIP",
        "SO-100482",
        "2024-03-15",
        "PO 7781",
        "Zoë Łukasiewicz-Brontë",
        "Flat 2, 17 Rue des Écoles",
        "75005 Paris",
        "Northwind Fulfilment",
        "9 units shipped",
        "2 cartons, 3.19 kg",
        "Returns: within 30 days",
        "Page 1 of 1",
    ):
        assert expected in text
    lines = page_lines(pdf)
    for line in s.lines:
        at = lines.index(line.sku)
        # SKU, description, ordered, shipped, then "short n" where it is
        assert lines[at + 1] == line.description
        assert lines[at + 2 : at + 4] == [str(line.qty_ordered), str(line.qty_shipped)]
        assert (lines[at + 4] == f"short {line.short_by}") == (line.short_by > 0)


def test_cartons_show_sscc_with_its_ai_and_tracking() -> None:
    s = slip()
    text = page_texts(packing_slip_pdf(s))[0]
    assert "(00) 0 0614141 123456789 0" in text
    assert "(00) 0 0614141 123456790 6" in text
    for n, pkg in enumerate(s.packages, start=1):
        assert f"{n}/2" in text
        assert pkg.tracking_number in text
    assert "2.35 kg" in text and "0.84 kg" in text
    assert "UPS Ground · demo" in text


def test_qr_code_says_the_order_or_the_given_data() -> None:
    assert decoded(render(packing_slip_pdf(slip())), QR) == ["SO-100482"]
    url = "https://shop.example/returns?order=SO-100482"
    assert decoded(render(packing_slip_pdf(replace(slip(), qr_data=url))), QR) == [url]


def test_long_order_flows_onto_more_pages_on_letter() -> None:
    many = tuple(SlipLine(f"SKU-{i:05d}", f"Item number {i}", 2, 2) for i in range(80))
    pdf = packing_slip_pdf(replace(slip(), lines=many), PageSize.letter)
    texts = page_texts(pdf)
    assert page_size_pt(pdf) == pytest.approx((612, 792))
    assert len(texts) >= 2
    assert "SO-100482  (continued)" in texts[1]
    assert f"Page {len(texts)} of {len(texts)}" in texts[-1]
    assert "Ordered" in texts[1]  # the lines' column titles repeat
    printed = [
        line for t in range(len(texts)) for line in page_lines(pdf, t) if line.startswith("SKU-")
    ]
    assert printed == [line.sku for line in many]


def test_a_slip_without_cartons_yet_prints() -> None:
    text = page_texts(packing_slip_pdf(replace(slip(), packages=())))[0]
    assert "0 cartons" in text and "Cartons" not in text.replace("0 cartons", "")


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda: replace(slip(), lines=()), DocumentErrorCode.empty_document),
        (lambda: replace(slip(), order_ref=""), DocumentErrorCode.missing_field),
        (lambda: SlipLine("S", "d", 1, 2), DocumentErrorCode.bad_quantity),
        (lambda: SlipLine("S", "d", -1, 0), DocumentErrorCode.bad_quantity),
        (
            lambda: SlipPackage(
                sscc(1)[:-1] + "9" if sscc(1)[-1] != "9" else sscc(1)[:-1] + "8", "UPS", "", 100
            ),
            DocumentErrorCode.bad_sscc,
        ),
        (lambda: SlipPackage("12345", "UPS", "", 100), DocumentErrorCode.bad_sscc),
        (lambda: SlipPackage(sscc(1), "UPS", "", -1), DocumentErrorCode.bad_quantity),
        (lambda: Address(" ", ()), DocumentErrorCode.missing_field),
        (lambda: packing_slip_pdf(replace(slip(), qr_data="")), DocumentErrorCode.bad_barcode_data),
    ],
)
def test_bad_slips_are_refused_with_a_reason(make, code: DocumentErrorCode) -> None:
    with pytest.raises(DocumentError) as err:
        make()
    assert err.value.code == code


def test_zero_shipped_is_a_quantity_not_a_missing_value() -> None:
    s = PackingSlip("SO-1", Address("A", ()), Address("B", ()), (SlipLine("S-1", "d", 3, 0),), ())
    lines = page_lines(packing_slip_pdf(s))
    at = lines.index("S-1")
    assert lines[at + 2 : at + 5] == ["3", "0", "short 3"]


def test_a_slip_before_packing_marks_nothing_short() -> None:
    """Before packing, nothing has been shipped short yet: no "short n", no "units shipped"."""
    lines = (SlipLine("S-1", "d", 3, 0, qty_picked=2), SlipLine("S-2", "e", 1, 0, qty_picked=0))
    s = replace(slip(), lines=lines, packages=(), final=False)
    text = page_texts(packing_slip_pdf(s))[0]
    assert "short" not in text.replace("marked short", "") and "shipped" not in text
    assert "NOT YET PACKED" in text and "0 units packed so far" in text
    printed = page_lines(packing_slip_pdf(s))
    at = printed.index("S-1")
    assert printed[at + 2 : at + 5] == ["3", "2", "0"]
    at = printed.index("S-2")
    assert printed[at + 2 : at + 5] == ["1", "0", "0"]

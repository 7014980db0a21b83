"""Sample documents, as a warehouse would fill them (also used to make docs/screenshots/).

Run ``python -m tests.printing_docs.samples OUT_DIR`` to write each sample PDF and a 100 dpi PNG
of its first page (needs ``pdftoppm`` from Debian's poppler-utils).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from printing.documents import (
    Address,
    BadgeCard,
    LocationLabel,
    PackingSlip,
    PickListSheet,
    PickStop,
    SlipLine,
    SlipPackage,
    badge_sheet_pdf,
    location_labels_pdf,
    packing_slip_pdf,
    pick_list_pdf,
)
from printing.documents.model import gs1_check_digit

ITEMS = [
    ("SKU-10023", "Cable ties, black, 200 mm (pack of 100)"),
    ("SKU-20417", "Stainless hinge 75 mm · Edelstahl-Scharnier"),
    ("SKU-30991", "Kettle 1.7 l — Чайник электрический"),
    ("SKU-41200", "Desk lamp, LED, warm white"),
    ("SKU-52018", "Notebook A5 dotted <premium> & co."),
    ("SKU-60110", "Tea cups, porcelain (set of 4)"),
]


def sscc(serial: int) -> str:
    body = f"0{'0614141':s}{serial:09d}"
    return body + gs1_check_digit(body)


def pick_sheet(stops: int = 14) -> PickListSheet:
    totes = ("T-0101", "T-0102", "T-0103")
    made = []
    for i in range(stops):
        sku, desc = ITEMS[i % len(ITEMS)]
        aisle, bay = 1 + i // 6, 1 + (i % 6) * 2
        made.append(
            PickStop(
                sequence=i + 1,
                location_code=f"A{aisle:02d}-{bay:02d}-{'ABC'[i % 3]}",
                sku=sku,
                description=desc,
                quantity=1 + (i * 7) % 5,
                tote=totes[i % 3],
            )
        )
    # given out of order on purpose: the sheet prints by sequence
    return PickListSheet(
        "PL-240315-007", "W-240315-02", "Pat Kowalski", totes, tuple(reversed(made))
    )


def labels(n: int = 14) -> list[LocationLabel]:
    out = []
    for i in range(n):
        code = f"A{1 + i // 8:02d}-{1 + i % 8:02d}-{'ABCD'[i % 4]}"
        out.append(
            LocationLabel(
                code,
                f"{(i * 37 + 11) % 100:02d}",
                caption=f"Zone A · pick face · level {'ABCD'[i % 4]}",
            )
        )
    return out


def badges() -> list[BadgeCard]:
    people = [
        ("Pat Kowalski", "picker"),
        ("Pia Müller", "picker"),
        ("Søren Ødegård", "packer"),
        ("Алексей Смирнов", "packer"),
        ("Sam Okafor", "supervisor"),
        ("Νίκος Παπαδόπουλος", "picker"),
    ]
    return [
        BadgeCard(name, role, f"BADGE-{role[:3].upper()}-{i + 1:04d}")
        for i, (name, role) in enumerate(people)
    ]


def slip() -> PackingSlip:
    return PackingSlip(
        order_ref="SO-100482",
        ship_from=Address(
            "Northwind Fulfilment", ("Unit 4, Harbour Road", "Leeds LS10 1AB"), "United Kingdom"
        ),
        ship_to=Address(
            "Zoë Łukasiewicz-Brontë", ("Flat 2, 17 Rue des Écoles", "75005 Paris"), "France"
        ),
        lines=(
            SlipLine("SKU-10023", ITEMS[0][1], 3, 3),
            SlipLine("SKU-30991", ITEMS[2][1], 2, 1),
            SlipLine("SKU-52018", ITEMS[4][1], 5, 5),
            SlipLine("SKU-60110", ITEMS[5][1], 1, 0),
        ),
        packages=(
            SlipPackage(sscc(123456789), "UPS Ground · demo", "1Z999AA10123456784", 2350),
            SlipPackage(sscc(123456790), "UPS Ground · demo", "1Z999AA10123456795", 840),
        ),
        order_date="2024-03-15",
        customer_ref="PO 7781",
        note="Returns: within 30 days, quote the order reference. Items marked short follow in "
        "a separate delivery at no extra cost.",
    )


def write_all(out_dir: Path, dpi: int = 100) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    docs = {
        "doc-pick-list": pick_list_pdf(pick_sheet()),
        "doc-location-labels": location_labels_pdf(labels()),
        "doc-badges": badge_sheet_pdf(badges(), site_name="Northwind Leeds DC"),
        "doc-packing-slip": packing_slip_pdf(slip()),
    }
    written = []
    for name, pdf in docs.items():
        path = out_dir / f"{name}.pdf"
        path.write_bytes(pdf)
        subprocess.run(
            [
                "pdftoppm",
                "-r",
                str(dpi),
                "-f",
                "1",
                "-l",
                "1",
                "-png",
                "-singlefile",
                str(path),
                str(out_dir / name),
            ],
            check=True,
        )
        written.append(out_dir / f"{name}.png")
    return written


if __name__ == "__main__":
    for p in write_all(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/docs-samples")):
        print(p)

"""Shared label data for the printing tests."""

from __future__ import annotations

import dataclasses

import pytest

from printing.zpl import Address, ShippingLabel

SSCC = "106141411234567897"  # valid GS1 check digit
TRACKING = "1Z999AA10123456784"


def make_label(**changes: object) -> ShippingLabel:
    label = ShippingLabel(
        ship_from=Address("Acme Warehouse", "1 Dock Road", "", "Springfield", "IL", "62701", "US"),
        ship_to=Address(
            "Ada Lovelace", "12 St James's Square", "Flat 3", "London", "", "SW1Y 4JH", "GB"
        ),
        carrier="ups",
        service="ground",
        carrier_is_demo=True,
        tracking_number=TRACKING,
        sscc=SSCC,
        order_ref="SO-1042",
        package_no=1,
        package_count=2,
        weight_g=1254,
        qr_payload=f"{TRACKING}|SO-1042|1/2",
    )
    return dataclasses.replace(label, **changes)


@pytest.fixture
def label() -> ShippingLabel:
    return make_label()

"""Sync fixtures: a real OMS receiver and a carrier sandbox, each on a free port (orders,
events and delivery settings to feed them: tests/factories.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sync.sandbox import CarrierSandbox, OmsReceiver
from tests.factories import SECRET


@pytest.fixture
def oms() -> Iterator[OmsReceiver]:
    receiver = OmsReceiver(SECRET).start()
    yield receiver
    receiver.stop()


@pytest.fixture
def carrier_sandbox() -> Iterator[CarrierSandbox]:
    sandbox = CarrierSandbox(api_key="carrier-key").start()
    yield sandbox
    sandbox.stop()

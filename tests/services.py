"""The outside services the suite drives for real, and what a test does when one is absent.

PostgreSQL (``TEST_DATABASE_URL``: the only backend with row locks, ``COPY`` and arrays), Redis
(``REDIS_URL``: the Socket.IO message queue between server processes) and headless Chromium.
On a laptop a missing service skips its tests, with the reason in the summary. In CI
(``FLOOR_REQUIRE_SERVICES=1``, set by ``.ci/run``) a missing service fails the run instead:
a green CI run has exercised every backend.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

PG_URL = os.environ.get("TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("REDIS_URL", "")
REQUIRED = os.environ.get("FLOOR_REQUIRE_SERVICES", "") not in ("", "0")


def skip_or_fail(reason: str) -> NoReturn:
    """Skip the test because ``reason``, or fail it where every service is required."""
    if REQUIRED:
        pytest.fail(f"{reason}, and FLOOR_REQUIRE_SERVICES=1 requires it", pytrace=False)
    pytest.skip(reason)


def missing_variables() -> list[str]:
    """The service variables CI must set but did not (empty unless services are required)."""
    if not REQUIRED:
        return []
    wanted = {"TEST_DATABASE_URL": PG_URL, "REDIS_URL": REDIS_URL}
    return [name for name, value in wanted.items() if not value]

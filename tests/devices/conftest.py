"""Real pty pairs for serial tests: ``socat -d -d pty,raw,echo=0,link=A pty,raw,echo=0,link=B``.

The reader under test opens ``device`` (end A) as a scanner's port; the test plays the
scanner by writing to ``host`` (end B).  ``unplug()`` stops socat - the pty closes and
socat removes both links, as when a USB scanner is pulled - and ``plug()`` starts it
again on the same link names.
"""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import serial

SOCAT = shutil.which("socat")
WAIT_S = 10.0  # a generous deadline for things that happen in milliseconds


class PtyPair:
    def __init__(self, directory: Path) -> None:
        self.device = directory / "scanner"
        self.host = directory / "host"
        self._log = directory / "socat.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._writer: serial.Serial | None = None

    def plug(self) -> None:
        assert SOCAT is not None
        self._log.write_bytes(b"")
        log = self._log.open("wb")
        self._proc = subprocess.Popen(
            [SOCAT, "-d", "-d", f"pty,raw,echo=0,link={self.device}",
             f"pty,raw,echo=0,link={self.host}"],
            stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip
        log.close()
        wait_for(
            lambda: b"starting data transfer loop" in self._log.read_bytes(),
            "socat to set up the pty pair",
        )
        self._writer = serial.Serial(str(self.host), 9600, timeout=1)

    def unplug(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(WAIT_S)
            self._proc = None
        wait_for(lambda: not os.path.lexists(self.device), "socat to remove its pty link")

    def send(self, data: bytes) -> None:
        assert self._writer is not None, "plug() first"
        self._writer.write(data)
        self._writer.flush()


def wait_for(condition: Callable[[], object], what: str, timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.01)


def next_item(q: queue.Queue[Any], what: str) -> Any:
    try:
        return q.get(timeout=WAIT_S)
    except queue.Empty:
        raise AssertionError(f"nothing arrived: {what}") from None


@pytest.fixture
def pty_pair(tmp_path: Path) -> Iterator[PtyPair]:
    if SOCAT is None:
        pytest.skip("socat is not installed (Debian: apt-get install socat)")
    pair = PtyPair(tmp_path)
    pair.plug()
    yield pair
    pair.unplug()

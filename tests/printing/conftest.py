"""Shared label data for the printing tests."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import time
from pathlib import Path

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


# --- a private CUPS scheduler ---

CUPSD_CONF = """LogLevel warn
Listen {root}/cups.sock
Browsing No
WebInterface No
DefaultAuthType None
<Location />
  Order allow,deny
  Allow all
</Location>
<Policy default>
  <Limit All>
    Order deny,allow
  </Limit>
</Policy>
"""

CUPS_FILES_CONF = """ServerRoot {root}
RequestRoot {root}/spool
TempDir {root}/tmp
CacheDir {root}/cache
StateDir {root}/state
ErrorLog {root}/log/error_log
AccessLog {root}/log/access_log
PageLog {root}/log/page_log
Sandboxing Relaxed
"""


@pytest.fixture
def private_cups(tmp_path_factory, monkeypatch):
    """A cupsd of our own (own config, spool and socket); CUPS_SERVER points the clients at it."""
    cupsd = shutil.which("cupsd") or (
        "/usr/sbin/cupsd" if os.path.exists("/usr/sbin/cupsd") else None
    )
    missing = [n for n in ("lpadmin", "lpstat", "lpr") if shutil.which(n) is None]
    if cupsd is None or missing:
        pytest.skip(
            f"CUPS not installed (Debian packages cups, cups-client, cups-bsd): "
            f"cupsd={cupsd}, missing {missing}"
        )
    if os.geteuid() != 0:
        pytest.skip("a private cupsd needs root here (its backends run as user lp)")
    root = Path("/tmp") / f"cups-test-{os.getpid()}-{time.monotonic_ns()}"
    root.mkdir(mode=0o755)
    for sub, mode in (
        ("spool", 0o755),
        ("tmp", 0o1777),
        ("cache", 0o755),
        ("state", 0o755),
        ("log", 0o755),
    ):
        (root / sub).mkdir()
        (root / sub).chmod(mode)
    (root / "cupsd.conf").write_text(CUPSD_CONF.format(root=root))
    (root / "cups-files.conf").write_text(CUPS_FILES_CONF.format(root=root))
    proc = subprocess.Popen(
        [cupsd, "-f", "-c", str(root / "cupsd.conf"), "-s", str(root / "cups-files.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        socket_path = root / "cups.sock"
        for _ in range(100):
            if socket_path.exists() or proc.poll() is not None:
                break
            time.sleep(0.05)
        if not socket_path.exists():
            proc.kill()
            err = proc.communicate()[1].decode(errors="replace").strip()
            pytest.skip(f"private cupsd did not start: {err or 'no socket'}")
        monkeypatch.setenv("CUPS_SERVER", str(socket_path))
        yield root
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(root, ignore_errors=True)


def add_raw_queue(name: str, port: int) -> None:
    """A raw queue (no filter) on the private cupsd whose device is the TCP printer at ``port``."""
    uri = f"socket://127.0.0.1:{port}"
    subprocess.run(
        ["lpadmin", "-p", name, "-E", "-v", uri, "-m", "raw"], check=True, capture_output=True
    )

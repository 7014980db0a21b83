"""The virtual Zebra as a program: ``python -m printing.virtual_zebra`` keeps labels as files."""

from __future__ import annotations

import re
import subprocess
import sys
import time

from printing.transports import parse_printer_uri, query_host_status, send
from printing.zpl import build_shipping_label
from tests.printing.conftest import make_label


def test_standalone_virtual_zebra_keeps_labels_in_a_directory(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "printing.virtual_zebra", "--port", "0", "--dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        banner = proc.stdout.readline()
        match = re.search(r"tcp://127\.0\.0\.1:(\d+)", banner)
        assert match, banner
        address = parse_printer_uri(match.group(0))
        assert query_host_status(address, timeout_s=5).ready
        label = build_shipping_label(make_label())
        send(address, "job-1", label.encode() + label.encode(), timeout_s=5)  # two labels
        for _ in range(100):
            if len(list(tmp_path.iterdir())) == 2:
                break
            time.sleep(0.05)
        files = sorted(p.name for p in tmp_path.iterdir())
        assert files == ["label-000001.zpl", "label-000002.zpl"]
        assert (tmp_path / "label-000002.zpl").read_text(encoding="utf-8") == label.strip()
    finally:
        proc.terminate()
        proc.wait(timeout=10)

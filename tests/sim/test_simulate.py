"""The floor simulator end to end: a real server process, the simulator as the command a person
runs beside it, a small day — every order shipped once, nothing lost or doubled."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.factories import free_port, stop, wait_healthy

ROOT = Path(__file__).resolve().parents[2]


def _env(db_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOOR_")}
    return env | {"FLOOR_DATABASE_URL": db_url, "FLOOR_SECRET_KEY": "sim-test"} | extra


def _simulate(db_url: str, port: int, *args: str) -> tuple[int, dict[str, Any], str]:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "flask",
            "--app",
            "app",
            "simulate",
            "--url",
            f"http://127.0.0.1:{port}",
            "--json",
            *args,
        ],
        cwd=ROOT,
        env=_env(db_url),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    try:
        summary = json.loads(out.stdout)
    except ValueError:
        raise AssertionError(f"no JSON summary:\n{out.stdout}\n{out.stderr}") from None
    return out.returncode, summary, out.stderr


def test_a_small_day_ships_every_order_once(db_url: str) -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "serve"],
        cwd=ROOT,
        env=_env(db_url, FLOOR_PORT=str(port)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_healthy(port, server)
        code, s, progress = _simulate(
            db_url,
            port,
            "--orders",
            "20",
            "--pickers",
            "3",
            "--packers",
            "1",
            "--wrong-scan-rate",
            "0.2",
            "--short-rate",
            "0",
            "--stall",
            "60",
        )
    finally:
        log = stop(server)
    assert code == 0, json.dumps(s, indent=1) + log[-3000:]
    assert s["ok"] and not s["stalled"]
    assert s["orders"]["pushed"] == s["orders"]["shipped"] == s["orders"]["shipped_once"] == 20
    assert s["orders"]["by_status"] == {"shipped": 20}
    assert not any(s["lost"].values()) and not any(s["doubled"].values())
    # the database was reachable: reservations and print jobs were checked, one label each
    db = s["database_checks"]
    assert db["reservations_left_on_shipped_orders"] == {} and db["print_jobs"] == 20
    assert s["packing"]["closed"] == s["packing"]["labels_fetched"] == 20
    # wrong scans were refused and counted nothing; the offline handheld's replay was known
    assert s["scans"]["wrong_item_caught"] > 0 and s["scans"]["unexpected"] == {}
    assert s["scans"]["offline_queued"] >= 1
    assert s["scans"]["replays_sent"] == s["scans"]["replays_acknowledged"] == 1
    assert s["events"]["seen"] == s["events"]["distinct"] >= 20 * 7
    assert s["scans"]["scan_to_ack_ms"]["p50"] is not None
    assert "shipped 20/20" in progress  # the progress line (not a TTY: one line at the end)


def test_refused_credentials_end_the_run_with_a_reason(db_url: str) -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "serve"],
        cwd=ROOT,
        env=_env(db_url, FLOOR_PORT=str(port)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_healthy(port, server)
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "flask",
                "--app",
                "app",
                "simulate",
                "--url",
                f"http://127.0.0.1:{port}",
                "--orders",
                "2",
                "--api-key",
                "wrong-key",
            ],
            cwd=ROOT,
            env=_env(db_url),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        stop(server)
    assert out.returncode != 0
    assert "401" in out.stderr and "Traceback" not in out.stderr


def test_bad_options_and_no_server_are_one_line_not_a_traceback(db_url: str) -> None:
    """A --url without a scheme, or no server listening, ended simulate with an aiohttp
    traceback; --duration nan and --stall -1 were taken."""
    nobody = f"http://127.0.0.1:{free_port()}"
    for args, says, code in (
        (("--url", "127.0.0.1:5000"), "not an http:// or https:// URL", 2),
        (("--url", nobody), f"no server answers at {nobody}", 1),
        (("--url", nobody, "--duration", "nan"), "--duration", 2),
        (("--url", nobody, "--stall", "-1"), "--stall", 2),
        (("--url", nobody, "--stall", "inf"), "--stall", 2),
    ):
        out = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "app", "simulate", "--no-progress"]
            + ["--orders", "2", *args],
            cwd=ROOT,
            env=_env(db_url),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert out.returncode == code, (args, out.stderr[-2000:])
        assert says in out.stderr and "Traceback" not in out.stderr, (args, out.stderr[-2000:])


def test_without_a_server_it_says_where_it_looked_in_one_line(db_url: str) -> None:
    """``simulate`` beside a server started with ``FLOOR_PORT`` went to port 5000 all the same
    (its ``--url`` default was fixed), and finding no server there printed a 90-line traceback.
    Now it drives FLOOR_HOST:FLOOR_PORT, like ``serve``, and says in one line where it looked."""
    port = free_port()  # nobody listens there
    out = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "simulate", "--orders", "1"],
        cwd=ROOT,
        env=_env(db_url, FLOOR_PORT=str(port)),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode != 0
    assert "Traceback" not in out.stderr, out.stderr[-2000:]
    assert f"no server answers at http://127.0.0.1:{port}" in out.stderr
    assert "--url" in out.stderr

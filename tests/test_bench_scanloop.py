"""bench/bench_scanloop.py: windows of the floor and the echo taking turns add up to one row, and
the row says the floor's rate in % of the echo's overall and pair by pair; a handheld resumes a
task whose units wait for their tote with the tote scan."""

from __future__ import annotations

from bench.bench_scanloop import awaited_tote, summary
from bench.scanloop_report import markdown_row


def _window(latencies_ms: list[float], errors: dict[str, int], seconds: float) -> dict:
    return {
        "handhelds": 10,
        "asked_per_s": None,
        "latencies_s": [v / 1000 for v in latencies_ms],
        "errors": errors,
        "connect_failures": 0,
        "next_calls": 3,
        "out_of_work": 0,
        "acked": len(latencies_ms) - sum(errors.values()),
        "sql": 10 * len(latencies_ms),
        "duration_s": seconds,
        "cpu_s": 0.9 * seconds,
        "busy_s": 1.1 * seconds,
        "wall_s": seconds,
        "load_1m": 1.0,
    }


def test_windows_add_up_to_one_row_with_the_ratio_by_pair() -> None:
    floor = [_window([10.0] * 40, {}, 2.0), _window([30.0] * 58 + [900.0] * 2, {"timeout": 2}, 2.0)]
    echo = [_window([1.0] * 200, {}, 2.0), _window([2.0] * 400, {}, 2.0)]
    f, e = summary(floor), summary(echo)
    assert f["scans"] == 100
    assert f["scans_per_s"] == (100 - 2) / 4.0  # errors are not good scans
    assert f["errors"] == {"timeout": 2}
    assert f["p50_ms"] == 30.0 and f["max_ms"] == 900.0
    assert f["server_cpu_pct"] == 90.0
    assert e["scans_per_s"] == 150.0
    row = {
        "db": "sqlite",
        "serve": "flask",
        "handhelds": 10,
        "rate": None,
        "floor": f,
        "echo": e,
        "of_echo_by_window": [20 / 100, 29 / 200],
    }
    line = markdown_row(row)
    assert line.startswith("| 10 handhelds, flat out | sqlite | 24.5 |")
    assert line.endswith("| 16.3 % (windows: 20.0, 14.5) |")


def test_a_handheld_resumes_units_in_hand_with_their_tote_scan() -> None:
    # a handheld of the window before held the units and stopped: scanning the item again is
    # an over-pick, and was, over and over (765 refused scans, the rate down to a quarter)
    task = {"tote": "T-0042", "tote_scan": True, "held_units": 2}
    assert awaited_tote(task) == "T-0042"
    assert awaited_tote({**task, "held_units": 0}) is None
    assert awaited_tote({**task, "tote_scan": False}) is None

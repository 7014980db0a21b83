"""FLOOR_* variables with values the server must not run with: each is refused at start-up with
one line naming the variable, the value (never a secret's) and what is allowed; no traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from core.settings import Settings, SettingsError
from tests.factories import ROOT, free_port, start_server


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("FLOOR_WEBHOOK_TIMEOUT_S", "0"),
        ("FLOOR_WEBHOOK_TIMEOUT_S", "-1"),
        ("FLOOR_WEBHOOK_TIMEOUT_S", "nan"),
        ("FLOOR_WEBHOOK_TIMEOUT_S", "inf"),
        ("FLOOR_WEBHOOK_TIMEOUT_S", "1e999"),
        ("FLOOR_WEBHOOK_TIMEOUT_S", "abc"),
        ("FLOOR_PRINT_TIMEOUT_S", "-1"),
        ("FLOOR_PRINT_POLL_S", "0"),
        ("FLOOR_WEBHOOK_MAX_ATTEMPTS", "0"),
        ("FLOOR_WEBHOOK_CONCURRENCY", "-1"),
        ("FLOOR_WEBHOOK_BATCH", "0"),
        ("FLOOR_PORT", "0"),
        ("FLOOR_PORT", "70000"),
        ("FLOOR_PORT", " "),
        ("FLOOR_PORT", "9" * 5000),
        ("FLOOR_MAX_BODY_BYTES", "0"),
        ("FLOOR_STUCK_AFTER_MIN", "0"),
        ("FLOOR_SSCC_EXTENSION_DIGIT", "10"),
        ("FLOOR_TRUSTED_PROXIES", "-1"),
        ("FLOOR_TRACKING_POLL_S", "1.5"),
        ("FLOOR_DEMO_DELIVERY_MIN", "-1"),
        ("FLOOR_DEMO", "yes please"),
        ("FLOOR_SECURE_COOKIES", "ture"),
        ("FLOOR_TIMEZONE", "Mars/Olympus"),
        ("FLOOR_EOD_CLOSE_AT", "25:00"),
        ("FLOOR_EOD_CLOSE_AT", "5pm"),
        ("FLOOR_LOCATION_CONFIRM", "always"),
        ("FLOOR_SQLITE_SYNCHRONOUS", "OFF"),
        ("FLOOR_ASYNC_MODE", "eventlets"),
        ("FLOOR_GS1_COMPANY_PREFIX", "06141A1"),
        ("FLOOR_OMS_WEBHOOK_URL", "oms.example/hooks"),
        ("FLOOR_REDIS_URL", "localhost:6379"),
        ("FLOOR_DATABASE_URL", "postgres-ish://nope"),
        ("FLOOR_SITE_ADDRESS", "|||"),
        ("FLOOR_SITE_ADDRESS", "Dock 4|1 Dock Road||Springfield|IL|62701|USA"),
        ("FLOOR_SITE_ADDRESS", "Dock 4|1 Dock Road||Springfield|IL|62701|US|extra"),
        ("FLOOR_LOGIN_LIMIT_USER", "five a minute"),
        ("FLOOR_LOGIN_LIMIT_ADDRESS", "0/minute"),
        ("FLOOR_ALLOWED_ORIGINS", "desk.example"),
        ("FLOOR_CARRIER_URLS", "acme"),
        ("FLOOR_CARRIER_URLS", "acme=ftp://carrier.example"),
    ],
)
def test_a_bad_value_is_refused_naming_the_variable(name, raw):
    with pytest.raises(SettingsError) as err:
        Settings.from_env({name: raw})
    assert err.value.message.startswith(name)
    assert "\n" not in err.value.message


def test_zero_is_a_value_where_it_means_something():
    s = Settings.from_env(
        {"FLOOR_TRACKING_POLL_S": "0", "FLOOR_TRUSTED_PROXIES": "0", "FLOOR_DEMO_DELIVERY_MIN": "0"}
    )
    assert (s.tracking_poll_s, s.trusted_proxies, s.demo_delivery_min) == (0, 0, 0.0)
    assert Settings.from_env({"FLOOR_DEMO": "0", "FLOOR_SECURE_COOKIES": "off"}).demo is False


def test_a_checked_value_is_used_without_the_spaces_around_it():
    s = Settings.from_env(
        {
            "FLOOR_TIMEZONE": " Europe/Berlin ",
            "FLOOR_GS1_COMPANY_PREFIX": "0614141 ",
            "FLOOR_ASYNC_MODE": "Threading\n",
            "FLOOR_OMS_WEBHOOK_URL": " https://oms.example/hooks",
        }
    )
    assert (s.timezone, s.gs1_company_prefix, s.async_mode) == (
        "Europe/Berlin",
        "0614141",
        "threading",
    )
    assert s.oms_webhook_url == "https://oms.example/hooks"


def test_backoff_base_above_its_maximum_is_refused():
    with pytest.raises(SettingsError, match="FLOOR_WEBHOOK_BACKOFF_BASE_S"):
        Settings.from_env({"FLOOR_WEBHOOK_BACKOFF_BASE_S": "1000"})


def test_an_api_key_with_spaces_around_it_is_refused_and_never_echoed():
    """A client's bearer key is stripped; FLOOR_OMS_API_KEY="k3y " matched no request while the
    banner said it was set and the demo key was closed."""
    for name in ("FLOOR_OMS_API_KEY", "FLOOR_CARRIER_API_KEY"):
        for raw in ("s3cret-key ", " s3cret-key", "s3cret-key\n", "   "):
            with pytest.raises(SettingsError) as err:
                Settings.from_env({name: raw})
            assert err.value.message.startswith(name + ":") and "s3cret" not in err.value.message
    assert Settings.from_env({"FLOOR_OMS_API_KEY": "s3cret key"}).oms_api_key == "s3cret key"


def test_a_url_with_a_password_is_never_echoed():
    for name in (
        "FLOOR_DATABASE_URL",
        "FLOOR_REDIS_URL",
        "FLOOR_OMS_WEBHOOK_URL",
        "FLOOR_CARRIER_URLS",
    ):
        with pytest.raises(SettingsError) as err:
            Settings.from_env({name: "ftp-ish://floor:hunter2@db.local:99999/x"})
        assert "hunter2" not in err.value.message


def test_serve_refuses_a_bad_setting_with_one_line_and_no_traceback(tmp_path):
    """FLOOR_WEBHOOK_TIMEOUT_S=abc crashed start-up with a ValueError traceback; -1 started a
    server whose every webhook delivery timed out until it was a dead letter."""
    for raw in ("abc", "-1"):
        proc = start_server(tmp_path / "floor.sqlite3", free_port(), FLOOR_WEBHOOK_TIMEOUT_S=raw)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode != 0
        assert "Traceback" not in out
        assert f"FLOOR_WEBHOOK_TIMEOUT_S={raw!r}: a number more than 0 up to 600" in out
    assert not (tmp_path / "floor.sqlite3").exists()


def test_serve_port_zero_is_refused_not_replaced_by_the_default(tmp_path):
    proc = start_server(tmp_path / "floor.sqlite3", free_port(), "--port", "0")
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2, out
    assert "--port" in out and "Traceback" not in out


@pytest.mark.parametrize(
    ("argv", "env", "says"),
    [
        (["--workers", "0"], {}, "--workers"),
        (["--workers", "abc"], {}, "--workers"),
        ([], {"WORKERS": "abc"}, "--workers"),
        (["--keep-alive", "-1"], {}, "--keep-alive"),
        (["--worker-connections", "0"], {}, "--worker-connections"),
        (["--base-port", "65535", "--workers", "2"], {}, "--base-port"),
        ([], {"FLOOR_PRINT_TIMEOUT_S": "nan"}, "FLOOR_PRINT_TIMEOUT_S='nan'"),
        ([], {"FLOOR_DATABASE_URL": "postgresql+nope://floor:hunter2@h/db"}, "FLOOR_DATABASE_URL"),
        ([], {"FLOOR_SECRET_KEY": "hunter2"}, "FLOOR_SECRET_KEY is shorter than 16 characters"),
    ],
)
def test_serve_prod_refuses_bad_options_before_starting_anything(argv, env, says):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("FLOOR_")}
    environ.update({"FLOOR_SECRET_KEY": "settings-test-secret", "WORKERS": "1", **env})
    done = subprocess.run(
        [sys.executable, "-m", "web.serve_prod", *argv],
        cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert says in done.stderr and "Traceback" not in done.stderr
    assert "hunter2" not in done.stderr + done.stdout
    assert done.stdout == ""


def test_a_database_that_cannot_be_opened_is_one_line_without_its_password(tmp_path):
    """serve, db-upgrade and serve-prod with the database down (or a SQLite file in a directory
    that does not exist) ended in a SQLAlchemy traceback; serve-prod's db-upgrade step also ran
    the scheduler leader (FLOOR_RUN_SCHEDULER=1), which logged its own traceback per retry."""
    down = f"postgresql+psycopg://floor:hunter2@127.0.0.1:{free_port()}/floor"
    proc = start_server(tmp_path / "no-such-dir" / "floor.sqlite3", free_port())
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "Traceback" not in out
    assert "Error: cannot open the database sqlite:///" in out and "unable to open" in out
    environ = {k: v for k, v in os.environ.items() if not k.startswith("FLOOR_")}
    environ.update(FLOOR_SECRET_KEY="settings-test-secret", FLOOR_DATABASE_URL=down)
    for argv in (["-m", "flask", "--app", "app", "db-upgrade"], ["-m", "web.serve_prod"]):
        done = subprocess.run(
            [sys.executable, *argv],
            cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        both = done.stdout + done.stderr
        assert done.returncode != 0 and "Traceback" not in both, both
        assert "cannot open the database postgresql+psycopg://floor:***@127.0.0.1" in both
        assert "hunter2" not in both and "leader" not in both


def test_serve_refuses_the_gevent_async_mode_it_cannot_stop_cleanly(tmp_path):
    proc = start_server(tmp_path / "floor.sqlite3", free_port(), FLOOR_ASYNC_MODE="gevent")
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "Traceback" not in out
    assert "FLOOR_ASYNC_MODE=gevent is for gunicorn -k gevent" in out

"""FLOOR_SCANNERS / FLOOR_SCALES: what a correct setting yields and why a wrong one is refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.config import (
    ConfigErrorCode,
    DeviceConfigError,
    SerialDeviceConfig,
    Suffix,
    parse_device_list,
    scales_from_env,
    scanners_from_env,
)


def test_the_documented_example():
    (config,) = parse_device_list("PACK-01=serial:///dev/ttyACM0?baud=9600&suffix=cr")
    assert config == SerialDeviceConfig(station="PACK-01", url="/dev/ttyACM0")
    assert config.serial_kwargs() == {
        "baudrate": 9600,
        "bytesize": 8,
        "parity": "N",
        "stopbits": 1,
    }


def test_every_option():
    (config,) = parse_device_list(
        "PACK-02=serial:///dev/serial/by-path/pci-0000:00:14.0-usb-0:2:1.0-port0"
        "?baud=19200&bytesize=7&parity=even&stopbits=1.5&suffix=TAB&prefix=%5DC1"
        "&gs=%3CGS%3E&max_len=64&gap_ms=250&retry_ms=500"
    )
    assert config.url == "/dev/serial/by-path/pci-0000:00:14.0-usb-0:2:1.0-port0"
    assert (config.baud, config.bytesize, config.parity, config.stopbits) == (19200, 7, "E", 1.5)
    assert (config.suffix, config.prefix, config.gs) == (Suffix.tab, "]C1", "<GS>")
    assert (config.max_len, config.gap_s, config.retry_s) == (64, 0.25, 0.5)
    assert config.serial_kwargs()["stopbits"] == 1.5


def test_several_stations_blanks_and_trailing_comma():
    configs = parse_device_list(
        " PACK-01=serial:///dev/ttyACM0 , PACK-02=serial://COM4?parity=O&stopbits=2, "
    )
    assert [(c.station, c.url, c.parity, c.stopbits) for c in configs] == [
        ("PACK-01", "/dev/ttyACM0", "N", 1.0),
        ("PACK-02", "COM4", "O", 2.0),
    ]
    assert parse_device_list("") == ()


def test_gs_literal_plus_and_real_gs():
    (tilde,) = parse_device_list("P=serial:///dev/x?gs=~&prefix=+")
    assert (tilde.gs, tilde.prefix) == ("~", "+")  # "+" is not a space here
    (real,) = parse_device_list("P=serial:///dev/x?gs=%1D")
    assert real.gs is None  # the scanner sends GS itself: nothing to substitute


def test_loop_url_and_env_helpers():
    env = {
        "FLOOR_SCANNERS": "PACK-01=loop://?suffix=lf",
        "FLOOR_SCALES": "PACK-01=serial:///dev/ttyUSB0",
    }
    (scanner,) = scanners_from_env(env)
    assert (scanner.url, scanner.suffix) == ("loop://", Suffix.lf)
    (scale,) = scales_from_env(env)
    assert scale.suffix is Suffix.crlf  # scales end their lines with CR LF by default
    assert scanners_from_env({}) == ()


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("PACK-01 serial:///dev/ttyACM0", ConfigErrorCode.missing_equals),
        ("=serial:///dev/ttyACM0", ConfigErrorCode.bad_station),
        ("PACK 01=serial:///dev/ttyACM0", ConfigErrorCode.bad_station),
        ("A=serial:///dev/a,A=serial:///dev/b", ConfigErrorCode.duplicate_station),
        ("A=serial:///dev/a,B=serial:///dev/a", ConfigErrorCode.duplicate_port),
        ("A=/dev/ttyACM0", ConfigErrorCode.unknown_scheme),
        ("A=tcp://10.0.0.5:9100", ConfigErrorCode.unknown_scheme),
        ("A=serial://?baud=9600", ConfigErrorCode.missing_port),
        # NUL crashed the start (os.path.realpath's ValueError escaped the port comparison)
        ("A=serial:///dev/tty%00x", ConfigErrorCode.bad_port),
        ("A=serial:///dev/tty%0Ax", ConfigErrorCode.bad_port),
        ("A=serial:///dev/a?speed=9600", ConfigErrorCode.unknown_option),
        ("A=serial:///dev/a?baud", ConfigErrorCode.bad_option),
        ("A=serial:///dev/a?baud=9600&baud=4800", ConfigErrorCode.duplicate_option),
        ("A=serial:///dev/a?baud=fast", ConfigErrorCode.bad_baud),
        ("A=serial:///dev/a?baud=0", ConfigErrorCode.bad_baud),
        ("A=serial:///dev/a?baud=-9600", ConfigErrorCode.bad_baud),
        ("A=serial:///dev/a?bytesize=9", ConfigErrorCode.bad_bytesize),
        ("A=serial:///dev/a?parity=X", ConfigErrorCode.bad_parity),
        ("A=serial:///dev/a?stopbits=3", ConfigErrorCode.bad_stopbits),
        ("A=serial:///dev/a?suffix=etx", ConfigErrorCode.bad_suffix),
        ("A=serial:///dev/a?prefix=%0D", ConfigErrorCode.bad_prefix),
        ("A=serial:///dev/a?gs=", ConfigErrorCode.bad_gs),
        ("A=serial:///dev/a?gs=a%0Ab", ConfigErrorCode.bad_gs),
        ("A=serial:///dev/a?max_len=0", ConfigErrorCode.bad_max_len),
        ("A=serial:///dev/a?gap_ms=1", ConfigErrorCode.bad_gap),
        ("A=serial:///dev/a?retry_ms=x", ConfigErrorCode.bad_retry),
    ],
)
def test_bad_settings_are_refused_with_a_reason(value, code):
    with pytest.raises(DeviceConfigError) as info:
        parse_device_list(value)
    assert info.value.code is code
    assert "FLOOR_SCANNERS" in info.value.message


@given(st.text(max_size=80))
def test_any_text_parses_or_is_refused_with_a_reason(value):
    try:
        configs = parse_device_list(value)
    except DeviceConfigError as exc:
        assert exc.code in set(ConfigErrorCode)
    else:
        assert all(isinstance(c, SerialDeviceConfig) for c in configs)


def test_serve_says_at_start_up_which_serial_devices_it_opens_or_why_none():
    """`flask serve` lists the scanners and scales it opens, under the demo users (a newcomer
    who set FLOOR_SCANNERS sees it was taken), and a setting it refused with the reason."""
    from core.settings import Settings
    from web.cli import _devices_banner
    from web.device_pages import build_hub

    def banner(**settings: str) -> list[str]:
        return _devices_banner(build_hub(Settings(**settings), None, None))

    assert banner() == []
    assert banner(scanners="PACK-01=serial:///dev/ttyACM0?baud=9600", scales="PACK-02=loop://") == [
        "Serial devices (their state at /dashboard/devices):",
        "  scanner PACK-01    /dev/ttyACM0",
        "  scale   PACK-02    loop://",
    ]
    (refused,) = banner(scanners="PACK-01=nonsense")
    assert refused.startswith("Serial devices: none opened: FLOOR_SCANNERS entry 'PACK-01=non")

"""Serial device settings: parse ``FLOOR_SCANNERS`` / ``FLOOR_SCALES`` into frozen configs.

A setting is a comma-separated list of ``STATION=URL`` entries::

    FLOOR_SCANNERS=PACK-01=serial:///dev/ttyACM0?baud=9600&suffix=cr,PACK-02=serial://COM4
    FLOOR_SCALES=PACK-01=serial:///dev/serial/by-id/usb-Mettler-if00?suffix=crlf

The URL names the port: ``serial:///dev/ttyACM0`` (a device path; ``serial://COM4`` on
Windows) or ``loop://`` (pyserial's in-process loopback, for tests).  The query string
carries the line settings and the framing the scanner is programmed with:

========== ============================================ =====================
option     meaning                                      default
========== ============================================ =====================
baud       bits per second, 50 .. 4,000,000             9600
bytesize   data bits, 5 .. 8                            8
parity     N/E/O/M/S or none/even/odd/mark/space        N
stopbits   1, 1.5 or 2                                  1
suffix     frame terminator: cr, lf, crlf, tab, none    cr (scales: crlf)
prefix     literal text the scanner prepends; stripped  (none)
gs         what the scanner sends instead of the GS1    (none: it sends GS)
           group separator (byte 0x1D), e.g. ``~``,
           ``<GS>`` or ``%1D``
max_len    longest frame in bytes before the suffix     128
gap_ms     quiet time that ends a frame (suffix=none)   100
           or marks pending bytes as a partial frame
retry_ms   how often an absent port is re-opened        2000
========== ============================================ =====================

Values are percent-decoded (``%2C`` for a comma, ``%26`` for ``&``); ``+`` stays a plus
sign.  Every bad value raises :class:`DeviceConfigError` with a :class:`ConfigErrorCode`
naming what is wrong, so an admin page can show the reason next to the entry.
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import unquote

from core.errors import FloorError

GS = "\x1d"
MAX_BAUD = 4_000_000


class ConfigErrorCode(enum.StrEnum):
    missing_equals = "missing_equals"
    bad_station = "bad_station"
    duplicate_station = "duplicate_station"
    duplicate_port = "duplicate_port"
    unknown_scheme = "unknown_scheme"
    missing_port = "missing_port"
    bad_port = "bad_port"  # a control character (NUL, a line break) in the port's path
    bad_option = "bad_option"
    unknown_option = "unknown_option"
    duplicate_option = "duplicate_option"
    bad_baud = "bad_baud"
    bad_bytesize = "bad_bytesize"
    bad_parity = "bad_parity"
    bad_stopbits = "bad_stopbits"
    bad_suffix = "bad_suffix"
    bad_prefix = "bad_prefix"
    bad_gs = "bad_gs"
    bad_max_len = "bad_max_len"
    bad_gap = "bad_gap"
    bad_retry = "bad_retry"


class DeviceConfigError(FloorError, ValueError):
    """A device setting that cannot be used; ``code`` says why, ``message`` says where."""

    http_status = 422

    def __init__(self, code: ConfigErrorCode, message: str) -> None:
        super().__init__(code, message)


class Suffix(enum.StrEnum):
    """How a scanner ends a frame; ``none`` means a quiet gap ends it."""

    cr = "cr"
    lf = "lf"
    crlf = "crlf"
    tab = "tab"
    none = "none"

    @property
    def terminator(self) -> bytes:
        return _TERMINATORS[self]


_TERMINATORS = {
    Suffix.cr: b"\r",
    Suffix.lf: b"\n",
    Suffix.crlf: b"\r\n",
    Suffix.tab: b"\t",
    Suffix.none: b"",
}

_PARITY = {
    "n": "N",
    "none": "N",
    "e": "E",
    "even": "E",
    "o": "O",
    "odd": "O",
    "m": "M",
    "mark": "M",
    "s": "S",
    "space": "S",
}
_STOPBITS = {"1": 1.0, "1.5": 1.5, "2": 2.0}
_OPTIONS = frozenset(
    {
        "baud",
        "bytesize",
        "parity",
        "stopbits",
        "suffix",
        "prefix",
        "gs",
        "max_len",
        "gap_ms",
        "retry_ms",
    }
)
_STATION = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,39}")


@dataclass(frozen=True)
class SerialDeviceConfig:
    """One serial scanner or scale at a station: how to open the port and cut frames."""

    station: str
    url: str  # what pyserial's serial_for_url opens: a device path or "loop://"
    baud: int = 9600
    bytesize: int = 8
    parity: str = "N"  # pyserial's letters: N, E, O, M, S
    stopbits: float = 1.0
    suffix: Suffix = Suffix.cr
    prefix: str = ""
    gs: str | None = None  # substitute text for the GS1 group separator, None: real GS
    max_len: int = 128
    gap_s: float = 0.1
    retry_s: float = 2.0

    @property
    def port(self) -> str:
        """The port as a person reads it (the device path, or the loop URL)."""
        return self.url

    def serial_kwargs(self) -> dict[str, object]:
        """Keyword arguments for ``serial.serial_for_url`` (line settings only)."""
        return {
            "baudrate": self.baud,
            "bytesize": self.bytesize,
            "parity": self.parity,
            "stopbits": int(self.stopbits) if self.stopbits != 1.5 else 1.5,
        }


def parse_device_list(
    value: str, *, default_suffix: Suffix = Suffix.cr, setting: str = "FLOOR_SCANNERS"
) -> tuple[SerialDeviceConfig, ...]:
    """Parse a whole setting value; an empty value means no devices.

    ``setting`` only names the variable in error messages.  Empty entries (a trailing
    comma) are ignored; two entries for one station or one port are refused.
    """
    configs: list[SerialDeviceConfig] = []
    stations: set[str] = set()
    for entry in value.split(","):
        if not entry.strip():
            continue
        config = parse_device(entry, default_suffix=default_suffix, setting=setting)
        if config.station in stations:
            raise DeviceConfigError(
                ConfigErrorCode.duplicate_station,
                f"{setting}: station {config.station} is configured twice",
            )
        stations.add(config.station)
        configs.append(config)
    check_distinct_ports(configs, setting=setting)
    return tuple(configs)


def port_key(url: str) -> str:
    """The device a port URL opens: symlinks (``/dev/serial/by-id/...``, a socat link) and
    ``.``/``..`` resolved as far as they exist now, so two names of one device compare equal."""
    return url if url == "loop://" else os.path.realpath(url)


def check_distinct_ports(
    configs: Iterable[SerialDeviceConfig], *, setting: str = "FLOOR_SCANNERS"
) -> None:
    """Refuse two devices on one port (``duplicate_port``), by name or through a symlink.

    Only one reader can hold a port (it is opened exclusively): the other station's device
    would sit offline with a lock error, and after an unplug either of them might win the
    port - a scanner's scans would go to whichever station got it."""
    seen: dict[str, SerialDeviceConfig] = {}
    for config in configs:
        if config.url == "loop://":
            continue
        key = port_key(config.url)
        other = seen.get(key)
        if other is not None:
            same = "" if other.url == config.url else f" ({other.url} is {config.url})"
            raise DeviceConfigError(
                ConfigErrorCode.duplicate_port,
                f"{setting}: port {config.url} is configured for two devices "
                f"({other.station} and {config.station}){same}",
            )
        seen[key] = config


def parse_device(
    entry: str, *, default_suffix: Suffix = Suffix.cr, setting: str = "FLOOR_SCANNERS"
) -> SerialDeviceConfig:
    """Parse one ``STATION=URL`` entry."""
    entry = entry.strip()
    station, eq, url = entry.partition("=")
    station = station.strip()
    where = f"{setting} entry {entry!r}"
    if not eq:
        raise DeviceConfigError(
            ConfigErrorCode.missing_equals, f"{where}: expected STATION=serial://PORT?OPTIONS"
        )
    if not _STATION.fullmatch(station):
        raise DeviceConfigError(
            ConfigErrorCode.bad_station,
            f"{where}: station {station!r} must be 1-40 letters, digits, '-', '_' or '.'",
        )
    url = url.strip()
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("serial", "loop"):
        raise DeviceConfigError(
            ConfigErrorCode.unknown_scheme,
            f"{where}: the URL must start with serial:// or loop://",
        )
    location, _, query = rest.partition("?")
    if scheme.lower() == "loop":
        port = "loop://"
    else:
        port = unquote(location)
        if not port.strip():
            raise DeviceConfigError(
                ConfigErrorCode.missing_port, f"{where}: no port after serial://"
            )
        if not port.isprintable():  # %00, %0A once decoded: no device has such a name
            raise DeviceConfigError(
                ConfigErrorCode.bad_port, f"{where}: a control character in the port"
            )
    options = _options(query, where)
    suffix = _suffix(options.get("suffix"), default_suffix, where)
    prefix = options.get("prefix", "")
    gs = options.get("gs")
    _check_framing_text(prefix, where, ConfigErrorCode.bad_prefix, "prefix")
    if gs is not None:
        if gs == "":
            raise DeviceConfigError(ConfigErrorCode.bad_gs, f"{where}: gs= is empty")
        _check_framing_text(gs, where, ConfigErrorCode.bad_gs, "gs")
        if gs == GS:
            gs = None  # the scanner sends the real separator: nothing to substitute
    return SerialDeviceConfig(
        station=station,
        url=port,
        baud=_int(options, "baud", 9600, 50, MAX_BAUD, ConfigErrorCode.bad_baud, where),
        bytesize=_int(options, "bytesize", 8, 5, 8, ConfigErrorCode.bad_bytesize, where),
        parity=_parity(options.get("parity"), where),
        stopbits=_stopbits(options.get("stopbits"), where),
        suffix=suffix,
        prefix=prefix,
        gs=gs,
        max_len=_int(options, "max_len", 128, 1, 65536, ConfigErrorCode.bad_max_len, where),
        gap_s=_int(options, "gap_ms", 100, 10, 60_000, ConfigErrorCode.bad_gap, where) / 1000,
        retry_s=_int(options, "retry_ms", 2000, 10, 3_600_000, ConfigErrorCode.bad_retry, where)
        / 1000,
    )


def scanners_from_env(environ: Mapping[str, str]) -> tuple[SerialDeviceConfig, ...]:
    """The scanners of ``FLOOR_SCANNERS`` (frames end with CR unless told otherwise)."""
    return parse_device_list(environ.get("FLOOR_SCANNERS", ""), setting="FLOOR_SCANNERS")


def scales_from_env(environ: Mapping[str, str]) -> tuple[SerialDeviceConfig, ...]:
    """The scales of ``FLOOR_SCALES`` (frames end with CR LF unless told otherwise)."""
    return parse_device_list(
        environ.get("FLOOR_SCALES", ""), default_suffix=Suffix.crlf, setting="FLOOR_SCALES"
    )


def _options(query: str, where: str) -> dict[str, str]:
    options: dict[str, str] = {}
    if not query:
        return options
    for part in query.split("&"):
        if not part:
            continue
        key, eq, raw = part.partition("=")
        key = key.strip().lower()
        if not eq:
            raise DeviceConfigError(
                ConfigErrorCode.bad_option, f"{where}: option {part!r} has no '='"
            )
        if key not in _OPTIONS:
            raise DeviceConfigError(
                ConfigErrorCode.unknown_option,
                f"{where}: unknown option {key!r} (known: {', '.join(sorted(_OPTIONS))})",
            )
        if key in options:
            raise DeviceConfigError(
                ConfigErrorCode.duplicate_option, f"{where}: option {key!r} given twice"
            )
        options[key] = unquote(raw)
    return options


def _int(
    options: Mapping[str, str],
    key: str,
    default: int,
    low: int,
    high: int,
    code: ConfigErrorCode,
    where: str,
) -> int:
    text = options.get(key)
    if text is None:
        return default
    text = text.strip()
    if not (text.isascii() and text.isdigit()) or not low <= int(text) <= high:
        raise DeviceConfigError(
            code, f"{where}: {key}={text!r} must be a whole number from {low} to {high}"
        )
    return int(text)


def _parity(text: str | None, where: str) -> str:
    if text is None:
        return "N"
    letter = _PARITY.get(text.strip().lower())
    if letter is None:
        raise DeviceConfigError(
            ConfigErrorCode.bad_parity, f"{where}: parity={text!r} must be N, E, O, M or S"
        )
    return letter


def _stopbits(text: str | None, where: str) -> float:
    if text is None:
        return 1.0
    bits = _STOPBITS.get(text.strip())
    if bits is None:
        raise DeviceConfigError(
            ConfigErrorCode.bad_stopbits, f"{where}: stopbits={text!r} must be 1, 1.5 or 2"
        )
    return bits


def _suffix(text: str | None, default: Suffix, where: str) -> Suffix:
    if text is None:
        return default
    try:
        return Suffix(text.strip().lower())
    except ValueError:
        raise DeviceConfigError(
            ConfigErrorCode.bad_suffix,
            f"{where}: suffix={text!r} must be one of {', '.join(s.value for s in Suffix)}",
        ) from None


def _check_framing_text(text: str, where: str, code: ConfigErrorCode, name: str) -> None:
    """Prefix and GS substitute must be short and must not contain a frame terminator."""
    if len(text) > 16:
        raise DeviceConfigError(code, f"{where}: {name} is longer than 16 characters")
    if any(ch in text for ch in "\r\n\t\x00"):
        raise DeviceConfigError(
            code, f"{where}: {name} must not contain CR, LF, TAB or NUL (they end frames)"
        )

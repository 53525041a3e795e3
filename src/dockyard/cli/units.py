"""Humanised durations, sizes and timestamps, as docker's go-units library prints them."""

from __future__ import annotations

import datetime as dt
import re

# Re-exported: the CLI's formatters import it from here. The engine's API prints the same text.
from dockyard.units import human_duration as human_duration

_DECIMAL_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
_BINARY_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")


def _scaled(size: float, base: float, units: tuple[str, ...]) -> tuple[float, str]:
    index = 0
    while size >= base and index < len(units) - 1:
        size /= base
        index += 1
    return size, units[index]


def human_size(size: float, precision: int = 4) -> str:
    """go-units ``HumanSizeWithPrecision``: decimal units, ``precision`` significant digits."""
    value, unit = _scaled(float(size), 1000.0, _DECIMAL_UNITS)
    return f"{value:.{precision}g}{unit}"


def bytes_size(size: float) -> str:
    """go-units ``BytesSize``: binary units (``4.2MiB``), used by ``info``."""
    value, unit = _scaled(float(size), 1024.0, _BINARY_UNITS)
    return f"{value:.4g}{unit}"


_FRACTION_RE = re.compile(r"\.(\d+)")


def parse_timestamp(value: str | int | float | None) -> dt.datetime | None:
    """RFC 3339 (with nanoseconds) or Unix seconds → an aware datetime; ``None`` when absent/zero."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return dt.datetime.fromtimestamp(value, dt.UTC)
    if value.startswith("0001-01-01"):
        return None
    text = value.replace("Z", "+00:00")
    # Python accepts at most microseconds: cut nanoseconds.
    text = _FRACTION_RE.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), text, count=1)
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        return None


def since(value: str | int | float | None, now: dt.datetime | None = None) -> str:
    """``2 minutes ago`` for a creation time; docker's ``RunningFor`` and ``CreatedSince``."""
    when = parse_timestamp(value)
    if when is None:
        return "N/A"
    now = now or dt.datetime.now(dt.UTC)
    return human_duration(max(0.0, (now - when).total_seconds())) + " ago"


def format_local_time(value: str | int | float | None) -> str:
    """docker's ``CreatedAt`` form: ``2024-01-02 15:04:05 +0000 UTC`` in the local zone."""
    when = parse_timestamp(value)
    if when is None:
        return ""
    local = when.astimezone()
    return local.strftime("%Y-%m-%d %H:%M:%S %z ") + (local.tzname() or "")


def parse_since(value: str, now: dt.datetime | None = None) -> str:
    """``--since``/``--until``: a duration (``10m``, ``1h30m``) relative to now, or a timestamp."""
    match = re.fullmatch(r"((?:\d+(?:\.\d+)?(?:ns|us|ms|s|m|h))+)", value)
    if match:
        seconds = 0.0
        factors = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
        for number, unit in re.findall(r"(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)", value):
            seconds += float(number) * factors[unit]
        now = now or dt.datetime.now(dt.UTC)
        return f"{now.timestamp() - seconds:.9f}"
    if re.fullmatch(r"\d+(?:\.\d+)?", value):
        return value
    when = parse_timestamp(value)
    if when is None:
        try:
            when = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    if when.tzinfo is None:
        when = when.astimezone()
    return f"{when.timestamp():.9f}"

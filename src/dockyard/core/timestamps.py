"""Time as Docker writes and reads it: RFC 3339 with nanoseconds in UTC, Unix seconds, and the
``since``/``until`` filter forms (Unix time, RFC 3339, or a Go duration before now)."""

from __future__ import annotations

import datetime as dt
import re
import time

from dockyard.errors import InvalidArgument

ZERO_TIME = "0001-01-01T00:00:00Z"  # Go's zero time, as Docker shows never-set timestamps

_TIME_RE = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s)")
_SCALE = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def now_rfc3339() -> str:
    """UTC now with a nine-digit fraction, Docker's ``RFC3339NanoFixed``."""
    return format_ns(time.time_ns())


def format_ns(time_ns: int) -> str:
    seconds, nanos = divmod(time_ns, 1_000_000_000)
    base = dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{nanos:09d}Z"


def parse_ns(text: str) -> int:
    """Nanoseconds since the epoch of an RFC 3339 (nano) time with Z or an offset."""
    match = _TIME_RE.match(text)
    if not match:
        raise ValueError(f"bad timestamp {text!r}")
    base, fraction, zone = match.groups()
    stamp = dt.datetime.fromisoformat(base + ("+00:00" if zone == "Z" else zone))
    return int(stamp.timestamp()) * 1_000_000_000 + int((fraction or "0").ljust(9, "0"))


def unix_seconds(text: str) -> int:
    """Whole Unix seconds of an RFC 3339 time; 0 for an empty or unreadable one (Docker's zero)."""
    try:
        return parse_ns(text) // 1_000_000_000
    except ValueError:
        return 0


def filter_time(value: str) -> float:
    """A ``since``/``until`` filter value as Unix seconds: ``1700000000[.5]``, an RFC 3339 time,
    or a Go duration before now (``24h``, ``1h30m``, ``10s``)."""
    try:
        return float(value)
    except ValueError:
        pass
    parts = _DURATION.findall(value)
    if parts and "".join(n + u for n, u in parts) == value:
        return time.time() - sum(float(n) * _SCALE[u] for n, u in parts)
    try:
        return parse_ns(value) / 1_000_000_000
    except ValueError as exc:
        raise InvalidArgument(f"invalid time filter value {value!r}") from exc

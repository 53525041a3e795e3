"""Docker's time forms: RFC 3339 nano, Unix seconds, and since/until filter values."""

from __future__ import annotations

import time

import pytest

from dockyard.core.timestamps import filter_time, format_ns, now_rfc3339, parse_ns, unix_seconds
from dockyard.errors import InvalidArgument


@pytest.mark.parametrize(("text", "ns"), [
    ("2024-05-01T10:00:00Z", 1714557600 * 10**9),
    ("2024-05-01T10:00:00.000000001Z", 1714557600 * 10**9 + 1),
    ("2024-05-01T12:00:00.5+02:00", 1714557600 * 10**9 + 500_000_000),
])
def test_parse_ns(text: str, ns: int) -> None:
    assert parse_ns(text) == ns


def test_format_round_trips_with_nine_digits() -> None:
    stamp = now_rfc3339()
    assert len(stamp.split(".")[1]) == 10 and stamp.endswith("Z")
    assert format_ns(parse_ns(stamp)) == stamp


def test_unix_seconds_of_unreadable_is_zero() -> None:
    assert unix_seconds("2024-05-01T10:00:00.9Z") == 1714557600
    assert unix_seconds("") == 0 and unix_seconds("yesterday") == 0


@pytest.mark.parametrize(("value", "ago"), [("24h", 86400), ("1h30m", 5400), ("10s", 10), ("500ms", 0.5)])
def test_filter_time_durations_count_back_from_now(value: str, ago: float) -> None:
    assert abs(filter_time(value) - (time.time() - ago)) < 2


def test_filter_time_absolute_forms() -> None:
    assert filter_time("1714557600") == 1714557600.0
    assert filter_time("1714557600.25") == 1714557600.25
    assert filter_time("2024-05-01T10:00:00Z") == 1714557600.0
    with pytest.raises(InvalidArgument):
        filter_time("soon")

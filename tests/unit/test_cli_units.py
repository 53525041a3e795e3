"""Humanised durations and sizes as docker's go-units prints them."""

from __future__ import annotations

import datetime as dt

import pytest

from dockyard.cli.units import bytes_size, human_duration, human_size, parse_since, since

DURATIONS = [
    (0, "Less than a second"), (0.9, "Less than a second"), (1, "1 second"), (59, "59 seconds"),
    (60, "About a minute"), (119, "About a minute"), (120, "2 minutes"), (3599, "59 minutes"),
    (3600, "About an hour"), (5399, "About an hour"), (5400, "2 hours"), (47 * 3600, "47 hours"),
    (48 * 3600, "2 days"), (13 * 86400, "13 days"), (14 * 86400, "2 weeks"), (59 * 86400, "8 weeks"),
    (60 * 86400, "2 months"), (729 * 86400, "24 months"), (730 * 86400, "2 years"),
]


@pytest.mark.parametrize(("seconds", "expected"), DURATIONS)
def test_human_duration(seconds: float, expected: str) -> None:
    assert human_duration(seconds) == expected


SIZES = [
    (0, "0B"), (999, "999B"), (1000, "1kB"), (1234, "1.23kB"), (4261234, "4.26MB"),
    (12_345_678, "12.3MB"), (123_456_789, "123MB"), (1_000_000_000, "1GB"), (1_500_000_000_000, "1.5TB"),
]


@pytest.mark.parametrize(("size", "expected"), SIZES)
def test_human_size_three_digits(size: int, expected: str) -> None:
    assert human_size(size, 3) == expected


def test_human_size_default_precision_and_binary_sizes() -> None:
    assert human_size(1234567) == "1.235MB"
    assert bytes_size(2 * 1024 ** 3) == "2GiB"
    assert bytes_size(1536) == "1.5KiB"


def test_since_accepts_rfc3339_nanoseconds_and_unix_seconds() -> None:
    now = dt.datetime(2024, 1, 1, 12, 0, 0, tzinfo=dt.UTC)
    assert since("2024-01-01T11:58:00.123456789Z", now) == "About a minute ago"
    assert since(int(now.timestamp()) - 3 * 86400, now) == "3 days ago"
    assert since("0001-01-01T00:00:00Z", now) == "N/A"


def test_parse_since_relative_and_absolute() -> None:
    now = dt.datetime(2024, 1, 1, 12, 0, 0, tzinfo=dt.UTC)
    assert float(parse_since("10m", now)) == pytest.approx(now.timestamp() - 600)
    assert float(parse_since("1h30m", now)) == pytest.approx(now.timestamp() - 5400)
    assert parse_since("1700000000") == "1700000000"
    assert float(parse_since("2024-01-01T12:00:00Z")) == pytest.approx(now.timestamp())

"""k8s-file log reading: partial lines, streams, since/until, tail, timestamps, follow."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from dockyard.core.containers.logs import (
    LogEntry,
    LogOptions,
    follow_entries,
    parse_unix_ns,
    read_entries,
)
from dockyard.core.timestamps import parse_ns

T0 = "2024-05-01T10:00:00.000000001Z"
LOG = (
    f"{T0} stdout F line one\n"
    "2024-05-01T10:00:01.5+00:00 stderr F oops\n"
    "2024-05-01T10:00:02.000000000Z stdout P part-a \n"
    "2024-05-01T10:00:02.100000000Z stdout P part-b\n"
    "2024-05-01T10:00:02.200000000Z stdout F  end\n"
    "2024-05-01T12:00:03.000000000+02:00 stdout F last\n"
    "2024-05-01T10:00:04.000000000Z stdout P no newline"
)


@pytest.fixture
def log_file(tmp_path: Path) -> Path:
    path = tmp_path / "container.log"
    path.write_text(LOG)
    return path


def data(entries: list[LogEntry]) -> list[bytes]:
    return [e.data for e in entries]


def test_parse_times() -> None:
    assert parse_ns(T0) == 1714557600 * 10**9 + 1
    assert parse_ns("2024-05-01T12:00:00.5+02:00") == 1714557600 * 10**9 + 500_000_000
    assert parse_unix_ns("1714557600.000000002") == 1714557600 * 10**9 + 2
    assert parse_unix_ns("1714557600") == 1714557600 * 10**9


def test_partial_lines_are_joined_and_streams_split(log_file: Path) -> None:
    entries, _ = read_entries(log_file, LogOptions())
    assert data(entries) == [b"line one\n", b"oops\n", b"part-a part-b end\n", b"last\n", b"no newline"]
    assert [e.stream for e in entries] == [1, 2, 1, 1, 1]
    only_err, _ = read_entries(log_file, LogOptions(stdout=False))
    assert data(only_err) == [b"oops\n"]


def test_since_until_tail(log_file: Path) -> None:
    start = parse_ns(T0)
    entries, _ = read_entries(log_file, LogOptions(since_ns=start + 10**9))
    assert data(entries)[0] == b"oops\n"
    entries, _ = read_entries(log_file, LogOptions(until_ns=start + 19 * 10**8))
    assert data(entries) == [b"line one\n", b"oops\n"]
    entries, _ = read_entries(log_file, LogOptions(tail=2))
    assert data(entries) == [b"last\n", b"no newline"]
    entries, _ = read_entries(log_file, LogOptions(tail=0))
    assert entries == []


def test_timestamps_are_utc_nano(log_file: Path) -> None:
    entries, _ = read_entries(log_file, LogOptions())
    assert entries[0].timestamp == T0
    assert entries[1].timestamp == "2024-05-01T10:00:01.500000000Z"
    assert entries[3].timestamp == "2024-05-01T10:00:03.000000000Z"


@pytest.mark.asyncio
async def test_follow_sees_new_lines_until_stopped(tmp_path: Path) -> None:
    path = tmp_path / "c.log"
    path.write_text(f"{T0} stdout F first\n")
    running = True
    got: list[bytes] = []

    async def collect() -> None:
        async for entry in follow_entries(path, LogOptions(follow=True), lambda: running):
            got.append(entry.data)

    task = asyncio.create_task(collect())
    await asyncio.sleep(0.15)
    with path.open("a") as handle:
        handle.write(f"{T0} stdout F sec")
        handle.flush()
        await asyncio.sleep(0.15)
        handle.write(f"ond\n{T0} stdout F third\n")
    await asyncio.sleep(0.25)
    running = False
    await asyncio.wait_for(task, 2)
    assert got == [b"first\n", b"second\n", b"third\n"]

"""Logs: conmon's k8s-file pieces joined, json-file written and rotated, read back with Docker's
options (streams, since/until, tail from the end across rotated members, follow across rotation)."""

from __future__ import annotations

import asyncio
import gzip
import json
from pathlib import Path

import pytest

from dockyard.backends.logdrivers.jsonfile import RotatingWriter
from dockyard.core.containers.logs import LogEntry, LogOptions, LogParser, parse_unix_ns
from dockyard.core.logging.driver import LogMessage
from dockyard.core.logging.reader import read_logs, rotated_members, tail_entries
from dockyard.core.logging.shipper import Shipper
from dockyard.core.timestamps import parse_ns

T0 = "2024-05-01T10:00:00.000000001Z"
SPOOL = (
    f"{T0} stdout F line one\n"
    "2024-05-01T10:00:01.5+00:00 stderr F oops\n"
    "2024-05-01T10:00:02.000000000Z stdout P part-a \n"
    "2024-05-01T10:00:02.100000000Z stdout P part-b\n"
    "2024-05-01T10:00:02.200000000Z stdout F  end\n"
    "2024-05-01T12:00:03.000000000+02:00 stdout F last\n"
    "2024-05-01T10:00:04.000000000Z stdout P no newline\n"
)


class ListDriver:
    def __init__(self) -> None:
        self.got: list[LogMessage] = []

    def write(self, messages: list[LogMessage]) -> None:
        self.got.extend(messages)

    def close(self) -> None:
        pass


def data(entries: list[LogEntry]) -> list[bytes]:
    return [e.data for e in entries]


async def collect(path: Path, options: LogOptions) -> list[LogEntry]:
    return [e async for e in read_logs(path, options, lambda: False)]


def test_parse_times() -> None:
    assert parse_ns(T0) == 1714557600 * 10**9 + 1
    assert parse_ns("2024-05-01T12:00:00.5+02:00") == 1714557600 * 10**9 + 500_000_000
    assert parse_unix_ns("1714557600.000000002") == 1714557600 * 10**9 + 2


def test_parser_joins_pieces_and_caps_endless_lines() -> None:
    parser = LogParser()
    out = [e for e in map(parser.feed_line, SPOOL.encode().splitlines()) if e] + parser.flush()
    assert data(out) == [b"line one\n", b"oops\n", b"part-a part-b end\n", b"last\n", b"no newline"]
    endless = LogParser()
    pieces = [endless.feed_line(f"{T0} stdout P {'x' * 8000}".encode()) for _ in range(3)]
    assert pieces[0] is None and pieces[2] is not None and len(pieces[2].data) == 24000


@pytest.mark.asyncio
async def test_shipper_to_json_file_and_back(tmp_path: Path) -> None:
    spool = tmp_path / "container.log"
    spool.write_text(SPOOL)
    writer = RotatingWriter(tmp_path / "c-json.log", max_size=-1, max_file=1, compress=False, attrs={})
    from dockyard.backends.logdrivers.jsonfile import FileDriver
    await Shipper("c", spool, [FileDriver(writer)]).run(lambda: False)
    first = json.loads((tmp_path / "c-json.log").read_text().splitlines()[0])
    assert first == {"log": "line one\n", "stream": "stdout", "time": T0}
    entries = await collect(tmp_path / "c-json.log", LogOptions())
    assert data(entries) == [b"line one\n", b"oops\n", b"part-a part-b end\n", b"last\n", b"no newline"]
    assert entries[3].timestamp == "2024-05-01T10:00:03.000000000Z"
    assert data(await collect(tmp_path / "c-json.log", LogOptions(stdout=False))) == [b"oops\n"]
    start = parse_ns(T0)
    assert data(await collect(tmp_path / "c-json.log", LogOptions(until_ns=start + 19 * 10**8))) == [
        b"line one\n", b"oops\n"]
    assert data(await collect(tmp_path / "c-json.log", LogOptions(tail=2))) == [b"last\n", b"no newline"]
    assert await collect(tmp_path / "c-json.log", LogOptions(tail=0)) == []


@pytest.mark.asyncio
async def test_shipper_resumes_without_duplicates(tmp_path: Path) -> None:
    spool = tmp_path / "container.log"
    spool.write_text(f"{T0} stdout F one\n")
    first = ListDriver()
    await Shipper("c", spool, [first]).run(lambda: False)
    with spool.open("a") as handle:
        handle.write(f"{T0} stdout F two\n")
    second = ListDriver()
    await Shipper("c", spool, [second]).run(lambda: False)  # a restarted daemon
    assert [m.line for m in first.got] == [b"one"] and [m.line for m in second.got] == [b"two"]


def _fill(path: Path, count: int, max_size: int, max_file: int, compress: bool) -> None:
    writer = RotatingWriter(path, max_size=max_size, max_file=max_file, compress=compress, attrs={"a": "b"})
    for n in range(count):
        writer.add(LogMessage(f"line {n}".encode(), "stdout", 1714557600 * 10**9 + n))
    writer.close()


@pytest.mark.parametrize("compress", [False, True])
def test_rotation_is_bounded_and_tail_spans_members(tmp_path: Path, compress: bool) -> None:
    path = tmp_path / "c-json.log"
    _fill(path, 5000, 20_000, 3, compress)
    members = rotated_members(path)
    assert len(members) == 3
    assert sum(m.stat().st_size for m in members) < 3 * 20_000
    if compress:
        assert members[0].name.endswith(".1.gz") is False and members[1].name == "c-json.log.1.gz"
        assert gzip.decompress(members[1].read_bytes()).startswith(b'{"time":"2024')
    newest = path.read_bytes().count(b"\n")
    tail = tail_entries(path, LogOptions(tail=newest + 5), path.stat().st_size)
    assert data(tail)[-1] == b"line 4999\n" and len(tail) == newest + 5
    assert data(tail)[0] == f"line {4999 - newest - 4}\n".encode()


@pytest.mark.asyncio
async def test_follow_across_rotation(tmp_path: Path) -> None:
    path = tmp_path / "c-json.log"
    writer = RotatingWriter(path, max_size=200, max_file=2, compress=False, attrs={})
    running = True
    got: list[bytes] = []

    async def follow() -> None:
        async for entry in read_logs(path, LogOptions(follow=True, tail=0), lambda: running):
            got.append(entry.data)

    task = asyncio.create_task(follow())
    await asyncio.sleep(0.15)
    for n in range(12):  # about 60 bytes each: several rotations
        writer.add(LogMessage(f"n{n}".encode(), "stdout", 10**18 + n))
        writer.flush()
        await asyncio.sleep(0.12)
    running = False
    await asyncio.wait_for(task, 3)
    assert got == [f"n{n}\n".encode() for n in range(12)]


@pytest.mark.parametrize("attrs", [{}, {"k": "v\\w"}])
def test_fast_path_writes_what_the_slow_path_writes(tmp_path: Path, attrs: dict[str, str]) -> None:
    spool = (b"2026-12-03T12:24:32.594123456+00:00 stdout F hello world\n"
             b"2026-12-03T12:24:33.000000001Z stderr F oops {x}\n")
    fast = RotatingWriter(tmp_path / "a.log", max_size=-1, max_file=1, compress=False, attrs=attrs)
    assert fast.add_spool(spool)
    for odd in (b"aZ stdout F b", b'q"uote', b"caf\xc3\xa9"):  # header-like text, escapes, UTF-8
        assert not fast.add_spool(b"2026-12-03T12:24:32.594123456+00:00 stdout F " + odd + b"\n")
    assert not fast.add_spool(b"2026-12-03T12:24:32.594123456+00:00 stdout P part\n")
    assert not fast.add_spool(b"2026-12-03T12:24:32.594123456+02:00 stdout F local time\n")
    fast.close()
    slow = RotatingWriter(tmp_path / "b.log", max_size=-1, max_file=1, compress=False, attrs=attrs)
    parser = LogParser()
    for line in spool.splitlines():
        entry = parser.feed_line(line)
        assert entry is not None
        slow.add(LogMessage(entry.data[:-1], "stderr" if entry.stream == 2 else "stdout", entry.time_ns))
    slow.close()
    assert (tmp_path / "a.log").read_bytes() == (tmp_path / "b.log").read_bytes()


def test_fast_path_rotates_at_line_boundaries(tmp_path: Path) -> None:
    path = tmp_path / "c-json.log"
    writer = RotatingWriter(path, max_size=1000, max_file=3, compress=False, attrs={})
    line = b"2026-12-03T12:24:32.594123456+00:00 stdout F " + b"x" * 50 + b"\n"
    assert writer.add_spool(line * 100)
    writer.close()
    members = rotated_members(path)
    assert len(members) == 3 and all(m.stat().st_size <= 1000 for m in members)
    rows = [json.loads(row) for m in members for row in m.read_text().splitlines()]
    assert rows and all(row["log"] == "x" * 50 + "\n" for row in rows)

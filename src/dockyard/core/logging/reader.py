"""``docker logs`` over a rotated set of JSON-lines files (json-file, local, the dual-logging cache).

Bounded by what is asked, never by the file (issue 9: ``--tail 10`` of a 3 GB log read it all):
a tail is found by reading blocks backwards from the end; everything else streams forward in
chunks; follow keeps one descriptor and reopens the path when the writer rotates. Every read runs
in a thread so the event loop never waits on the disk.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import IO

from dockyard.core.containers.logs import STDERR, STDOUT, LogEntry, LogOptions
from dockyard.core.timestamps import parse_ns

_BLOCK = 64 * 1024
_CHUNK = 1024 * 1024
_POLL_SECONDS = 0.1


def rotated_members(path: Path) -> list[Path]:
    """The set oldest first: ``path.N[.gz]`` … ``path.1[.gz]``, ``path``."""
    older: list[tuple[int, Path]] = []
    for sibling in path.parent.glob(path.name + ".*"):
        suffix = sibling.name[len(path.name) + 1:].removesuffix(".gz")
        if suffix.isdigit():
            older.append((int(suffix), sibling))
    return [p for _, p in sorted(older, reverse=True)] + [path]


def decode(line: bytes) -> LogEntry | None:
    """One json-file line (``{"log": …, "stream": …, "time": …}``); None if torn or foreign."""
    try:
        raw = json.loads(line)
        return LogEntry(STDERR if raw.get("stream") == "stderr" else STDOUT, parse_ns(raw["time"]),
                        raw.get("log", "").encode("utf-8", "surrogateescape"))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def wanted(entry: LogEntry, options: LogOptions) -> bool:
    if entry.stream == STDOUT and not options.stdout:
        return False
    if entry.stream == STDERR and not options.stderr:
        return False
    if options.since_ns and entry.time_ns < options.since_ns:
        return False
    return not (options.until_ns and entry.time_ns > options.until_ns)


def _read_member(path: Path) -> bytes | None:
    """A whole compressed member (bounded by max-size), or None when plain or gone."""
    if path.suffix != ".gz":
        return None
    try:
        with gzip.open(path, "rb") as handle:
            return handle.read()
    except (OSError, EOFError):
        return b""


def _take_backwards(data: bytes, count: int, options: LogOptions, found: list[LogEntry]) -> None:
    """Append wanted entries of ``data``, newest first, until ``found`` holds ``count``."""
    for line in reversed(data.splitlines()):
        entry = decode(line)
        if entry is not None and wanted(entry, options):
            found.append(entry)
            if len(found) >= count:
                return


def _tail_of_bytes(data: bytes, count: int, options: LogOptions) -> list[LogEntry]:
    found: list[LogEntry] = []
    _take_backwards(data, count, options, found)
    found.reverse()
    return found


def _tail_of_file(path: Path, end: int, count: int, options: LogOptions) -> list[LogEntry]:
    """The last ``count`` wanted entries before ``end``, reading blocks backwards."""
    found: list[LogEntry] = []
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return []
    with handle:
        pos, carry = end, b""
        while pos > 0 and len(found) < count:
            step = min(_BLOCK, pos)
            pos -= step
            handle.seek(pos)
            block = handle.read(step) + carry
            # The first line of a block may start in the block before: keep it for later.
            head, _, body = block.partition(b"\n") if pos > 0 else (b"", b"", block)
            carry = head
            _take_backwards(body, count, options, found)
    found.reverse()
    return found


def tail_entries(path: Path, options: LogOptions, end: int) -> list[LogEntry]:
    """``--tail N`` over the set: newest member first, older ones only while N is not reached."""
    count = options.tail or 0
    if count <= 0:
        return []
    members = rotated_members(path)
    found: list[LogEntry] = []
    for member in reversed(members):
        need = count - len(found)
        if need <= 0:
            break
        data = _read_member(member)
        if data is not None:
            found[:0] = _tail_of_bytes(data, need, options)
            continue
        size = end if member == path else _size(member)
        found[:0] = _tail_of_file(member, size, need, options)
    return found


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _entries_of_chunk(data: bytes, options: LogOptions) -> list[LogEntry]:
    out = []
    for line in data.splitlines():
        entry = decode(line)
        if entry is not None and wanted(entry, options):
            out.append(entry)
    return out


def _forward_chunks(path: Path, end: int) -> Iterator[bytes]:
    """Whole lines of every member, oldest first, the current file up to ``end``."""
    for member in rotated_members(path):
        data = _read_member(member)
        if data is not None:
            yield data
            continue
        try:
            handle = member.open("rb")
        except FileNotFoundError:
            continue
        with handle:
            limit = end if member == path else os.fstat(handle.fileno()).st_size
            carry, done = b"", 0
            while done < limit:
                chunk = handle.read(min(_CHUNK, limit - done))
                if not chunk:
                    break
                done += len(chunk)
                cut = chunk.rfind(b"\n") + 1
                yield carry + chunk[:cut]
                carry = chunk[cut:]
            if carry:
                yield carry


def _next(iterator: Iterator[bytes]) -> bytes | None:
    return next(iterator, None)


class Follower:
    """Reads what the writer appends to ``path``; follows it across rotations."""

    def __init__(self, path: Path, offset: int) -> None:
        self.path, self.offset = path, offset
        self.handle: IO[bytes] | None = None
        self.carry = b""

    def read(self) -> bytes:
        """New whole lines (blocking: call in a thread)."""
        out = b""
        if self.handle is None:
            try:
                self.handle = self.path.open("rb")
            except FileNotFoundError:
                return b""
            self.handle.seek(self.offset)
        chunk = self.handle.read(_CHUNK)
        if not chunk and self._rotated():
            self.handle.close()
            self.handle, self.offset = None, 0
            return self.carry_out()
        data = self.carry + chunk
        cut = data.rfind(b"\n") + 1
        out, self.carry = data[:cut], data[cut:]
        return out

    def carry_out(self) -> bytes:
        data, self.carry = self.carry, b""
        return data

    def _rotated(self) -> bool:
        assert self.handle is not None
        try:
            return os.stat(self.path).st_ino != os.fstat(self.handle.fileno()).st_ino
        except FileNotFoundError:
            return False

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()


async def read_logs(path: Path, options: LogOptions,
                    is_running: Callable[[], bool]) -> AsyncIterator[LogEntry]:
    """What ``docker logs`` shows, then (with follow) new entries until the container stops."""
    end = await asyncio.to_thread(_size, path)
    if options.tail is not None:
        for entry in await asyncio.to_thread(tail_entries, path, options, end):
            yield entry
    else:
        chunks = _forward_chunks(path, end)
        while (data := await asyncio.to_thread(_next, chunks)) is not None:
            for entry in _entries_of_chunk(data, options):
                yield entry
    if not options.follow:
        return
    follower = Follower(path, end)
    try:
        while True:
            running = is_running()
            data = await asyncio.to_thread(follower.read)
            for entry in _entries_of_chunk(data, options):
                yield entry
            if not data and not running:
                return
            if options.until_ns and time.time_ns() > options.until_ns:
                return
            if not data:
                await asyncio.sleep(_POLL_SECONDS)
    finally:
        follower.close()

"""Reading a container's k8s-file log (conmon's format) with Docker's logs options.

Each line is ``<RFC3339Nano time> <stdout|stderr> <F|P> <text>``: ``F`` ends a line, ``P`` is a
partial piece (conmon splits long lines and lines without a newline) continued by later pieces.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

from dockyard.core.timestamps import format_ns, parse_ns

STDOUT, STDERR = 1, 2
_POLL_SECONDS = 0.1


@dataclass(frozen=True, slots=True)
class LogOptions:
    stdout: bool = True
    stderr: bool = True
    follow: bool = False
    since_ns: int = 0  # 0: from the beginning
    until_ns: int = 0  # 0: no end
    tail: int | None = None  # None: all lines
    timestamps: bool = False


@dataclass(frozen=True, slots=True)
class LogEntry:
    stream: int  # 1 stdout, 2 stderr
    time_ns: int
    data: bytes  # the line, with its newline unless the process ended without one

    @property
    def timestamp(self) -> str:
        """RFC3339 with 9 fraction digits in UTC, Docker's ``RFC3339NanoFixed``."""
        return format_ns(self.time_ns)


def parse_unix_ns(value: str) -> int:
    """Docker's since/until: ``<seconds>[.<nanoseconds>]`` (the CLI converts durations)."""
    if not value:
        return 0
    seconds, _, fraction = value.partition(".")
    return int(seconds) * 1_000_000_000 + int((fraction or "0")[:9].ljust(9, "0"))


class LogParser:
    """Turns k8s-file lines into entries, joining partial pieces per stream."""

    def __init__(self) -> None:
        self._pending: dict[int, tuple[int, bytes]] = {}

    def feed_line(self, line: bytes) -> LogEntry | None:
        parts = line.split(b" ", 3)
        if len(parts) < 3:
            return None
        try:
            time_ns = parse_ns(parts[0].decode())
        except ValueError:
            return None
        stream = STDERR if parts[1] == b"stderr" else STDOUT
        text = parts[3] if len(parts) == 4 else b""
        first_ns, before = self._pending.pop(stream, (time_ns, b""))
        if parts[2] == b"P":
            self._pending[stream] = (first_ns, before + text)
            return None
        return LogEntry(stream, first_ns, before + text + b"\n")

    def flush(self) -> list[LogEntry]:
        """Pieces never completed (the process ended mid-line): shown without a newline."""
        entries = [LogEntry(s, t, data) for s, (t, data) in self._pending.items() if data]
        self._pending.clear()
        return entries


def _wanted(entry: LogEntry, options: LogOptions) -> bool:
    if entry.stream == STDOUT and not options.stdout:
        return False
    if entry.stream == STDERR and not options.stderr:
        return False
    if options.since_ns and entry.time_ns < options.since_ns:
        return False
    return not (options.until_ns and entry.time_ns > options.until_ns)


def read_entries(
    path: Path, options: LogOptions, *, final: bool = True, parser: LogParser | None = None
) -> tuple[list[LogEntry], int]:
    """Every wanted entry of the file (blocking: run in a thread) and the offset read up to.

    With ``final`` false, an unfinished line and pending pieces stay for a later read (in
    ``parser``, which the caller keeps).
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return [], 0
    end = len(data) if final else data.rfind(b"\n") + 1
    parser = parser if parser is not None else LogParser()
    entries: list[LogEntry] = []
    for line in data[:end].splitlines():
        entry = parser.feed_line(line)
        if entry is not None and _wanted(entry, options):
            entries.append(entry)
    if final:
        entries.extend(e for e in parser.flush() if _wanted(e, options))
    if options.tail is not None:
        entries = entries[-options.tail:] if options.tail > 0 else []
    return entries, end


def _read_from(path: Path, offset: int) -> bytes:
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            return handle.read()
    except FileNotFoundError:
        return b""


async def follow_entries(
    path: Path, options: LogOptions, is_running: Callable[[], bool]
) -> AsyncIterator[LogEntry]:
    """Existing entries, then new ones as they are written, until the container stops."""
    parser = LogParser()
    entries, offset = await asyncio.to_thread(
        read_entries, path, options, final=not options.follow, parser=parser)
    for entry in entries:
        yield entry
    if not options.follow:
        return
    buffer = b""
    while True:
        running = is_running()
        chunk = await asyncio.to_thread(_read_from, path, offset)
        offset += len(chunk)
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            fresh = parser.feed_line(line)
            if fresh is None:
                continue
            if options.until_ns and fresh.time_ns > options.until_ns:
                return
            if _wanted(fresh, options):
                yield fresh
        if not running:
            for rest in parser.flush():
                if _wanted(rest, options):
                    yield rest
            return
        await asyncio.sleep(_POLL_SECONDS)

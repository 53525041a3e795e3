"""Log entries, ``docker logs`` options, and conmon's k8s-file spool format.

Each line is ``<RFC3339Nano time> <stdout|stderr> <F|P> <text>``: ``F`` ends a line, ``P`` is a
partial piece (conmon splits long lines and lines without a newline) continued by later pieces.
"""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.core.timestamps import format_ns, parse_ns

STDOUT, STDERR = 1, 2
MAX_MESSAGE = 16 * 1024


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
        self._seconds: dict[bytes, int] = {}  # "<date>T<time>|<zone>" -> epoch seconds

    def time_ns(self, stamp: bytes) -> int:
        """conmon's RFC 3339 nano time; the whole-second part is parsed once per second (a
        fast writer puts thousands of lines in each), the fraction with int()."""
        if len(stamp) >= 30 and stamp[19] == 0x2E:  # conmon's fixed "YYYY-MM-DDTHH:MM:SS.nnnnnnnnn"
            head, fraction, zone = stamp[:19], stamp[20:29], stamp[29:]
        else:
            head, dot, rest = stamp.partition(b".")
            if not dot:
                return parse_ns(stamp.decode())
            cut = next((i for i, c in enumerate(rest) if c in b"Z+-"), len(rest))
            fraction, zone = rest[:cut], rest[cut:]
        key = head + zone
        seconds = self._seconds.get(key)
        if seconds is None:
            if len(self._seconds) > 64:
                self._seconds.clear()
            seconds = self._seconds[key] = parse_ns((head + zone).decode()) // 1_000_000_000
        if not fraction.isdigit():
            raise ValueError(f"bad timestamp {stamp!r}")
        return seconds * 1_000_000_000 + int(fraction[:9].ljust(9, b"0"))

    def feed_line(self, line: bytes) -> LogEntry | None:
        parts = line.split(b" ", 3)
        if len(parts) < 3:
            return None
        try:
            time_ns = self.time_ns(parts[0])
        except ValueError:
            return None
        stream = STDERR if parts[1] == b"stderr" else STDOUT
        text = parts[3] if len(parts) == 4 else b""
        first_ns, before = self._pending.pop(stream, (time_ns, b""))
        if parts[2] == b"P":
            if len(before) + len(text) >= MAX_MESSAGE:
                # Docker's 16K cap: a line that never ends leaves as pieces, not as one huge
                # buffer in the daemon.
                return LogEntry(stream, first_ns, before + text)
            self._pending[stream] = (first_ns, before + text)
            return None
        return LogEntry(stream, first_ns, before + text + b"\n")

    def pending(self) -> bool:
        return bool(self._pending)

    def flush(self) -> list[LogEntry]:
        """Pieces never completed (the process ended mid-line): shown without a newline."""
        entries = [LogEntry(s, t, data) for s, (t, data) in self._pending.items() if data]
        self._pending.clear()
        return entries

"""Copies a container's spool (conmon's k8s-file) to its log drivers, at container speed.

conmon writes the spool whatever the daemon does, so a container never blocks on the daemon and
keeps logging while it is down. One task per container reads the spool in chunks (in a thread),
joins conmon's partial pieces, hands each batch to every driver, then records how far it got
(``inode offset`` in ``log-spool.pos``): after a restart it goes on from there, so file drivers
get every line once. conmon replaces the spool when it reaches ``--log-size-max``; the open
descriptor still reads the old file to its end before the shipper moves to the new one.

conmon only appends, so what has been shipped is given back to the filesystem by punching a hole
over it (``fallocate(PUNCH_HOLE)``): offsets stay valid for both sides and the spool's disk use
stays at the shipper's lag, with no rotation race (a rotation by conmon could skip a generation
the shipper had not reached).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from dockyard.core.containers.logs import STDERR, LogEntry, LogParser
from dockyard.core.logging.driver import LogDriver, LogMessage
from dockyard.core.logging.reader import Follower

log = logging.getLogger(__name__)

_POLL_SECONDS = 0.05
_PUNCH_EVERY = 8 * 1024 * 1024
_PIECE = re.compile(rb"^\S+ (?:stdout|stderr) P ", re.M)
_FALLOC_FL_KEEP_SIZE, _FALLOC_FL_PUNCH_HOLE = 0x01, 0x02
_libc = ctypes.CDLL(None, use_errno=True)
_libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]


def release_prefix(fd: int, upto: int) -> None:
    """Free the blocks before ``upto`` (whole pages) of the file open at ``fd``; a filesystem
    without holes keeps them. Through /proc: the same inode, opened for writing."""
    length = upto - upto % 4096
    if length <= 0:
        return
    try:
        wfd = os.open(f"/proc/self/fd/{fd}", os.O_WRONLY)
    except OSError as exc:
        log.debug("punch hole: %s", exc)
        return
    try:
        if _libc.fallocate(wfd, _FALLOC_FL_PUNCH_HOLE | _FALLOC_FL_KEEP_SIZE, 0, length) != 0:
            log.debug("punch hole: %s", os.strerror(ctypes.get_errno()))
    finally:
        os.close(wfd)


def _message(entry: LogEntry) -> LogMessage:
    partial = not entry.data.endswith(b"\n")
    return LogMessage(entry.data if partial else entry.data[:-1],
                      "stderr" if entry.stream == STDERR else "stdout", entry.time_ns, partial)


class Shipper:
    def __init__(self, container_id: str, spool: Path, drivers: Sequence[LogDriver]) -> None:
        self.container_id = container_id
        self.spool, self.drivers = spool, list(drivers)
        self._pos = spool.with_name("log-spool.pos")
        self._parser = LogParser()
        self._follower = Follower(spool, 0)
        self._failed: set[int] = set()
        self._punched = 0

    def _resume(self) -> None:
        """Where the last daemon stopped, if the spool is still the same file."""
        try:
            inode, offset = (int(v) for v in self._pos.read_text().split())
            if os.stat(self.spool).st_ino == inode:
                self._follower.offset = offset
        except (OSError, ValueError):
            pass

    def _save(self) -> None:
        handle = self._follower.handle
        if handle is None:
            return
        done = handle.tell() - len(self._follower.carry)
        tmp = self._pos.with_suffix(".tmp")
        tmp.write_text(f"{os.fstat(handle.fileno()).st_ino} {done}")
        os.replace(tmp, self._pos)
        if done - self._punched >= _PUNCH_EVERY:
            release_prefix(handle.fileno(), done)
            self._punched = done

    def pump(self, final: bool = False) -> int:
        """One batch (blocking: runs in a thread); the bytes of spool it consumed."""
        data = self._follower.read()
        # A file driver alone may take runs of whole lines as they are (SpoolWriter, driver.py).
        write_spool = getattr(self.drivers[0], "write_spool", None) if len(self.drivers) == 1 else None
        if data and write_spool is not None:
            self._pump_runs(data, write_spool)
        else:
            messages = self._messages(data)
            if final and not data:
                messages.extend(map(_message, self._parser.flush()))
            self._deliver(messages)
        if data:
            self._save()
        return len(data)

    def _pump_runs(self, data: bytes, write_spool: Callable[[bytes], bool]) -> None:
        """Runs of whole lines to ``write_spool``; conmon's pieces (a read that ended mid-line,
        about one line in eighty at full speed) and what completes them through the parser."""
        pos = 0
        while pos < len(data):
            if not self._parser.pending():
                piece = _PIECE.search(data, pos)
                end = piece.start() if piece else len(data)
                if end > pos:
                    if not write_spool(data[pos:end]):
                        self._deliver(self._messages(data[pos:end]))
                    pos = end
                    continue
            line_end = data.find(b"\n", pos) + 1 or len(data)
            self._deliver(self._messages(data[pos:line_end]))
            pos = line_end

    def _deliver(self, messages: list[LogMessage]) -> None:
        if not messages:
            return
        for index, driver in enumerate(self.drivers):
            try:
                driver.write(messages)
                self._failed.discard(index)
            except (OSError, ValueError) as exc:
                if index not in self._failed:  # one line per outage, not one per batch
                    log.warning("log driver of %s failed: %s", self.container_id[:12], exc)
                self._failed.add(index)

    def _messages(self, data: bytes) -> list[LogMessage]:
        """Whole ``F`` lines straight to messages (the common case, kept cheap); pieces through
        the parser, which joins them."""
        parser, out = self._parser, []
        for line in data.splitlines():
            parts = line.split(b" ", 3)
            if len(parts) == 4 and parts[2] == b"F" and not parser.pending():
                try:
                    when = parser.time_ns(parts[0])
                except ValueError:
                    continue
                out.append(LogMessage(parts[3], "stderr" if parts[1] == b"stderr" else "stdout", when))
                continue
            entry = parser.feed_line(line)
            if entry is not None:
                out.append(_message(entry))
        return out

    def close(self) -> None:
        self._follower.close()
        for driver in self.drivers:
            try:
                driver.close()
            except OSError as exc:
                log.debug("closing log driver of %s: %s", self.container_id[:12], exc)

    async def run(self, is_running: Callable[[], bool], wake: asyncio.Event | None = None) -> None:
        """Until the container has stopped and the spool is drained; ``wake`` (set when the
        container exits) cuts the wait between polls short."""
        await asyncio.to_thread(self._resume)
        try:
            while True:
                running = is_running()
                if await asyncio.to_thread(self.pump, not running):
                    continue
                if not running:
                    await asyncio.to_thread(self.pump, True)
                    return
                if wake is None:
                    await asyncio.sleep(_POLL_SECONDS)
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), _POLL_SECONDS)
        finally:
            await asyncio.to_thread(self.close)

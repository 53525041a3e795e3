"""Stdio streams over the three carriers a container process can have.

* :class:`PipeExec`: ``runc exec`` in the foreground with pipes; stdout and stderr stay apart and
  runc's own exit status is the process's.
* :class:`PtyExec`: a TTY exec whose pty master runc handed over on a console socket; one stream
  (everything is stdout), resized with TIOCSWINSZ on the master.
* :class:`DetachedExec`: ``docker exec -d``: no stdio, only a pid to wait for.

All of them implement :class:`dockyard.core.runtime.backend.ExecProcess`. The conmon attach socket stream
lives in :mod:`dockyard.backends.conmon_attach`.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import logging
import os
import struct
import termios

from dockyard.backends.processes import wait_child

log = logging.getLogger(__name__)

_CHUNK = 32 * 1024
STDOUT, STDERR = 1, 2


def set_winsize(fd: int, height: int, width: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


class PipeExec:
    """A foreground ``runc exec`` without a TTY."""

    def __init__(self, proc: asyncio.subprocess.Process, pid: int) -> None:
        self._proc = proc
        self._pid = pid
        self._queue: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue()
        self._open_streams = 0
        self._tasks: list[asyncio.Task[None]] = []
        for number, reader in ((STDOUT, proc.stdout), (STDERR, proc.stderr)):
            if reader is not None:
                self._open_streams += 1
                self._tasks.append(asyncio.create_task(self._pump(number, reader)))
        if not self._open_streams:
            self._queue.put_nowait(None)

    async def _pump(self, number: int, reader: asyncio.StreamReader) -> None:
        try:
            while chunk := await reader.read(_CHUNK):
                await self._queue.put((number, chunk))
        finally:
            self._open_streams -= 1
            if self._open_streams == 0:
                self._queue.put_nowait(None)

    @property
    def pid(self) -> int:
        return self._pid

    async def read(self) -> tuple[int, bytes] | None:
        item = await self._queue.get()
        if item is None:
            self._queue.put_nowait(None)  # every later read sees the end too
        return item

    async def write(self, data: bytes) -> None:
        if self._proc.stdin is None or self._proc.stdin.is_closing():
            return
        self._proc.stdin.write(data)
        with contextlib.suppress(ConnectionError):
            await self._proc.stdin.drain()

    async def close_stdin(self) -> None:
        if self._proc.stdin is not None and not self._proc.stdin.is_closing():
            self._proc.stdin.close()

    async def close(self) -> None:
        await self.close_stdin()

    async def wait(self) -> int:
        code = await self._proc.wait()
        # Let the pumps drain what the process wrote before it exited.
        await asyncio.gather(*self._tasks, return_exceptions=True)
        return 128 - code if code < 0 else code

    async def resize(self, height: int, width: int) -> None:
        """Without a TTY there is nothing to resize (Docker ignores it as well)."""


class PtyExec:
    """A TTY exec: the pty master is ours, the exec'd process an adopted orphan (see processes.py)."""

    def __init__(self, master: int, pid: int) -> None:
        os.set_blocking(master, False)
        self._master = master
        self._pid = pid
        self._eof = False
        self._closed = False  # the client detached: stop streaming, the process keeps running
        self._released = False
        self._exit: asyncio.Task[int] = asyncio.create_task(wait_child(pid))
        self._exit.add_done_callback(lambda _: self._release())

    def _release(self) -> None:
        """Close the master once nothing needs it. Closing it earlier would hang up the terminal
        and SIGHUP the process, which a detach (^P^Q) must not do; closing it before the reader
        drained it would lose the last output."""
        if self._released or not self._exit.done() or not (self._eof or self._closed):
            return
        self._released = True
        os.close(self._master)

    @property
    def pid(self) -> int:
        return self._pid

    async def _ready(self, writer: bool) -> None:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            if not fut.done():
                fut.set_result(None)

        (loop.add_writer if writer else loop.add_reader)(self._master, wake)
        try:
            await fut
        finally:
            (loop.remove_writer if writer else loop.remove_reader)(self._master)

    async def read(self) -> tuple[int, bytes] | None:
        while not self._eof and not self._closed:
            try:
                data = os.read(self._master, _CHUNK)
            except BlockingIOError:
                await self._ready(writer=False)
                continue
            except OSError as exc:
                # EIO: every slave fd is closed, i.e. the process (and its children) ended.
                if exc.errno != errno.EIO:
                    log.warning("reading exec pty %d: %s", self._pid, exc)
                data = b""
            if not data:
                self._eof = True
                self._release()
                break
            return STDOUT, data
        return None

    async def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view and not self._released:
            try:
                written = os.write(self._master, view)
            except BlockingIOError:
                await self._ready(writer=True)
                continue
            except OSError:
                return  # the process has gone; Docker drops input then too
            view = view[written:]

    async def close_stdin(self) -> None:
        """A terminal has no half-close; the process sees EOF when the user types it (^D)."""

    async def close(self) -> None:
        self._closed = True
        self._release()

    async def wait(self) -> int:
        return await asyncio.shield(self._exit)

    async def resize(self, height: int, width: int) -> None:
        if not self._released:
            set_winsize(self._master, height, width)


class DetachedExec:
    """``docker exec -d``: the process runs on its own; only its exit status can be collected."""

    def __init__(self, pid: int) -> None:
        self._pid = pid
        self._exit: asyncio.Task[int] = asyncio.create_task(wait_child(pid))

    @property
    def pid(self) -> int:
        return self._pid

    async def read(self) -> tuple[int, bytes] | None:
        return None

    async def write(self, data: bytes) -> None:
        return None

    async def close_stdin(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def wait(self) -> int:
        return await asyncio.shield(self._exit)

    async def resize(self, height: int, width: int) -> None:
        return None

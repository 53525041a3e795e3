"""``runc start`` without the exec: release a created container through its exec fifo.

After ``runc create`` the container's init waits in ``open(<root>/<id>/exec.fifo, O_WRONLY)``;
``runc start`` (libcontainer's ``exec()``) only opens the fifo for reading, reads the byte init
writes, and removes the fifo, which is what makes ``runc state`` say "running" rather than
"created". Doing the same here saves a Go process start (about 5 ms of every ``docker run``).
Anything unexpected — no fifo, no byte within a moment — leaves the fifo alone and reports
``False``, so the caller runs ``runc start`` itself and gets runc's own error.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

FIFO = "exec.fifo"
WAIT = 0.1  # seconds: init is already blocked in its open, so the byte comes at once
# Opening our end has released init's open whatever happens next: an init whose byte is late (a
# loaded host) must be waited for, or it would run and then `runc start` refuse a container
# that has already stopped (tests/reliability/test_load.py saw it once in 100 lifecycles).
LATE = 2.0


def _settle(readable: asyncio.Future[None]) -> None:
    if not readable.done():
        readable.set_result(None)


async def release(state_dir: Path) -> bool:
    """Let the created container of ``state_dir`` run; ``False`` if it could not be done here."""
    path = state_dir / FIFO
    try:
        # Non-blocking: an init that died never opens its end, and the open must not hang.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    loop = asyncio.get_running_loop()
    try:
        waited = 0.0
        while True:
            readable: asyncio.Future[None] = loop.create_future()
            loop.add_reader(fd, _settle, readable)
            try:
                await asyncio.wait_for(readable, WAIT)
            except TimeoutError:
                pass
            finally:
                loop.remove_reader(fd)
            try:
                data = os.read(fd, 1)
                break
            except BlockingIOError:
                # A writer holds the fifo (init is past its open) but its byte is not in yet.
                waited += WAIT
                if waited >= LATE:
                    return False
        if data != b"0":
            return False
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return True
    finally:
        os.close(fd)

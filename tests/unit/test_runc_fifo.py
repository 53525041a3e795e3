"""The exec-fifo release that stands in for ``runc start``: it lets a waiting init go exactly as
runc does (reads its byte, removes the fifo), and in every other case leaves things alone and says
so, for the caller to run ``runc start`` and get runc's own error."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from dockyard.backends import runc_fifo


def _init_waiting(fifo: Path, byte: bytes = b"0", late: float = 0.0) -> threading.Thread:
    """What runc's init does after ``runc create``: block in the open for writing, write one byte
    (``late`` seconds after the open returned: a loaded host)."""
    def init() -> None:
        fd = os.open(fifo, os.O_WRONLY)  # blocks until the reader opens
        try:
            time.sleep(late)
            os.write(fd, byte)
        finally:
            os.close(fd)

    thread = threading.Thread(target=init, daemon=True)
    thread.start()
    return thread


async def test_a_waiting_init_is_released_and_the_fifo_removed(tmp_path: Path) -> None:
    fifo = tmp_path / runc_fifo.FIFO
    os.mkfifo(fifo)
    init = _init_waiting(fifo)
    assert await runc_fifo.release(tmp_path) is True
    init.join(2)
    assert not init.is_alive()
    assert not fifo.exists()  # what makes `runc state` say "running"


async def test_a_late_byte_is_waited_for_once_init_is_past_its_open(tmp_path: Path) -> None:
    """Our open released init: giving up now would let it run and `runc start` then refuse it."""
    fifo = tmp_path / runc_fifo.FIFO
    os.mkfifo(fifo)
    init = _init_waiting(fifo, late=3 * runc_fifo.WAIT)
    assert await runc_fifo.release(tmp_path) is True
    init.join(2)
    assert not fifo.exists()


async def test_no_fifo_means_runc_start_must_answer(tmp_path: Path) -> None:
    assert await runc_fifo.release(tmp_path) is False  # already started, or never created


async def test_an_init_that_never_opens_leaves_the_fifo_in_place(tmp_path: Path) -> None:
    fifo = tmp_path / runc_fifo.FIFO
    os.mkfifo(fifo)
    began = time.monotonic()
    assert await runc_fifo.release(tmp_path) is False
    assert time.monotonic() - began < 1
    assert fifo.exists()


async def test_an_unexpected_byte_is_not_taken_for_a_start(tmp_path: Path) -> None:
    fifo = tmp_path / runc_fifo.FIFO
    os.mkfifo(fifo)
    init = _init_waiting(fifo, b"x")
    assert await runc_fifo.release(tmp_path) is False
    init.join(2)
    assert fifo.exists()

"""mode=non-blocking (core/logging/ring.py): a stalled driver never holds the shipper back, the
oldest messages are dropped past max-buffer-size and counted; without the mode nothing is wrapped."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

import pytest

from dockyard.core.logging.driver import LogMessage
from dockyard.core.logging.ring import DEFAULT_MAX_BUFFER, RingDriver, buffered


class Stalled:
    def __init__(self) -> None:
        self.release = threading.Event()
        self.got: list[bytes] = []
        self.closed = False

    def write(self, messages: Sequence[LogMessage]) -> None:
        self.release.wait(10)
        self.got.extend(m.line for m in messages)

    def close(self) -> None:
        self.closed = True


def _messages(start: int, count: int) -> list[LogMessage]:
    return [LogMessage(b"%09d" % n, "stdout", n) for n in range(start, start + count)]


def test_a_stalled_driver_drops_the_oldest_and_counts(caplog: pytest.LogCaptureFixture) -> None:
    inner = Stalled()
    ring = RingDriver(inner, max_bytes=1000, container_id="c" * 64)
    started = time.monotonic()
    ring.write(_messages(0, 1))  # the sender takes this one and stalls in the driver
    time.sleep(0.2)
    for batch in range(50):
        ring.write(_messages(1 + batch * 100, 100))
    assert time.monotonic() - started < 2  # the writer never waited for the driver
    inner.release.set()
    with caplog.at_level(logging.WARNING, logger="dockyard.core.logging.ring"):
        ring.close()
    assert inner.closed
    # 9-byte lines, 1000 bytes: the newest 111 of the 5000 queued survive, in order.
    assert inner.got[0] == b"000000000"
    assert inner.got[1:] == [b"%09d" % n for n in range(5001 - 111, 5001)]
    assert ring.dropped == 5000 - 111
    assert f"dropped {5000 - 111} log messages of cccccccccccc" in caplog.text


def test_only_non_blocking_is_buffered() -> None:
    inner = Stalled()
    assert buffered(inner, {}, "x") is inner
    assert buffered(inner, {"mode": "blocking"}, "x") is inner
    ring = buffered(inner, {"mode": "non-blocking"}, "x")
    assert isinstance(ring, RingDriver) and ring.max_bytes == DEFAULT_MAX_BUFFER
    assert not hasattr(ring, "write_spool")
    inner.release.set()
    ring.close()
    sized = buffered(inner, {"mode": "non-blocking", "max-buffer-size": "4k"}, "x")
    assert isinstance(sized, RingDriver) and sized.max_bytes == 4096
    sized.close()

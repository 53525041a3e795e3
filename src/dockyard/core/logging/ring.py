"""``--log-opt mode=non-blocking``: a bounded buffer in front of a driver that drops the oldest
messages when full, as moby's ``logger.NewRingLogger``.

What blocks here is not the container (conmon writes its spool whatever the daemon does) but the
delivery from the spool to a driver. In the default ``blocking`` mode the shipper waits for a slow
driver and the spool grows meanwhile (bounded by disk): nothing is dropped. In ``non-blocking``
mode the shipper hands messages to this buffer and goes on; one thread per driver sends them,
and when the driver cannot keep up the buffer drops its oldest messages past ``max-buffer-size``
(default 1 MB, moby's ``defaultRingMaxSize``). Drops are counted and logged.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Mapping, Sequence

from dockyard.core.logging.driver import LogDriver, LogMessage, parse_size

log = logging.getLogger(__name__)

DEFAULT_MAX_BUFFER = 1_000_000
_BATCH = 256
_DRAIN_SECONDS = 5.0  # how long close() lets the sender empty the buffer


class RingDriver:
    """A :class:`LogDriver` that queues for ``inner`` and never waits for it."""

    def __init__(self, inner: LogDriver, max_bytes: int, container_id: str) -> None:
        self.inner = inner
        self.max_bytes = max_bytes
        self.container_id = container_id
        self.dropped = 0
        self._queue: collections.deque[LogMessage] = collections.deque()
        self._size = 0
        self._closing = False
        self._cond = threading.Condition()
        self._sender = threading.Thread(target=self._send, name=f"log-ring-{container_id[:12]}",
                                        daemon=True)
        self._sender.start()

    def write(self, messages: Sequence[LogMessage]) -> None:
        with self._cond:
            for message in messages:
                self._queue.append(message)
                self._size += len(message.line)
            while self._size > self.max_bytes and self._queue:
                self._size -= len(self._queue.popleft().line)
                if self.dropped == 0:
                    log.warning("log buffer of %s full (max-buffer-size %d): dropping the oldest "
                                "messages", self.container_id[:12], self.max_bytes)
                self.dropped += 1
            self._cond.notify()

    def _take(self) -> list[LogMessage] | None:
        with self._cond:
            while not self._queue and not self._closing:
                self._cond.wait()
            if not self._queue:
                return None
            batch = [self._queue.popleft() for _ in range(min(_BATCH, len(self._queue)))]
            self._size -= sum(len(m.line) for m in batch)
            return batch

    def _send(self) -> None:
        failing = False
        while (batch := self._take()) is not None:
            try:
                self.inner.write(batch)
                failing = False
            except (OSError, ValueError) as exc:
                if not failing:  # one line per outage
                    log.warning("log driver of %s failed: %s", self.container_id[:12], exc)
                failing = True

    def close(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._sender.join(_DRAIN_SECONDS)
        with self._cond:
            left = len(self._queue)
            self._queue.clear()
        self.dropped += left
        if self.dropped:
            log.warning("dropped %d log messages of %s (mode=non-blocking, max-buffer-size %d)",
                        self.dropped, self.container_id[:12], self.max_bytes)
        self.inner.close()


def buffered(driver: LogDriver, options: Mapping[str, str], container_id: str) -> LogDriver:
    """``driver`` behind a ring buffer when its options ask for ``mode=non-blocking``. The buffer
    offers no ``write_spool``: the shipper's fast path for file drivers would go around it."""
    if options.get("mode") != "non-blocking":
        return driver
    size = options.get("max-buffer-size")
    max_bytes = parse_size(size, "max-buffer-size") if size else DEFAULT_MAX_BUFFER
    return RingDriver(driver, max_bytes, container_id)

"""Timed spans of the container start path, for the per-step breakdown in ``bench/README.md``.

A span is one step (``start.mount``, ``net.veth``, ``runtime.start`` …) of one container, timed
with ``time.perf_counter_ns``. Spans go to the ``dockyard.trace`` logger at DEBUG, one JSON object
per record: ``{"step", "id", "start_ns", "ns"}``. ``dockyardd --log-level debug`` shows them in its
log; ``DOCKYARD_TRACE=<file>`` in the daemon's environment writes them (and only them) to that file
whatever the log level (``daemon.py``), which is what ``bench/run_latency.py`` reads.

When the logger is not enabled for DEBUG a span costs one level check, so the spans stay in the
code for good: the breakdown can be taken again on any machine without a special build.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger("dockyard.trace")

TRACE_ENV = "DOCKYARD_TRACE"


def enabled() -> bool:
    return log.isEnabledFor(logging.DEBUG)


def record(step: str, container_id: str, start_ns: int, end_ns: int | None = None) -> None:
    """Log a span that began at ``start_ns`` (``time.perf_counter_ns``) and ends now or at ``end_ns``."""
    if not enabled():
        return
    end = time.perf_counter_ns() if end_ns is None else end_ns
    log.debug("%s", json.dumps({"step": step, "id": container_id[:12], "start_ns": start_ns,
                                "ns": end - start_ns}))


@contextmanager
def span(step: str, container_id: str) -> Iterator[None]:
    """Time the body as ``step`` of ``container_id`` (recorded whether it succeeds or fails)."""
    if not enabled():
        yield
        return
    start = time.perf_counter_ns()
    try:
        yield
    finally:
        record(step, container_id, start)

"""Progress events of pull and push, in the shape of Docker's JSON progress messages.

The API streams them as ``{"status", "id", "progressDetail", "progress"}`` lines; the stock CLI
draws one line per ``id`` (a layer's 12-character short digest). Events may come from worker
threads, so :class:`ProgressSink` hops to the event loop before calling the consumer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dockyard.core.ids import hex_of


@dataclass(frozen=True, slots=True)
class ProgressEvent:
    status: str
    id: str = ""
    current: int | None = None
    total: int | None = None
    aux: dict[str, Any] = field(default_factory=dict)


def short_id(digest: str) -> str:
    return hex_of(digest)[:12]


Consumer = Callable[[ProgressEvent], None]


class ProgressSink:
    """Thread-safe front of a consumer that lives on the event loop."""

    def __init__(self, consumer: Consumer | None = None) -> None:
        self._consumer = consumer
        self._loop = asyncio.get_running_loop() if consumer is not None else None

    def __call__(self, event: ProgressEvent) -> None:
        if self._consumer is None or self._loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._consumer(event)
        else:
            self._loop.call_soon_threadsafe(self._consumer, event)

    def status(self, status: str, id: str = "") -> None:
        self(ProgressEvent(status, id))

"""Stage output in Dockerfile order: independent stages build concurrently, but the classic
builder's stream shows them one after another, numbered as they stand in the file."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from dockyard.core.builder.model import Emit


class OrderedOutput:
    """Passes the first unfinished stage's text straight through and holds the others' text
    until every stage before them has finished."""

    def __init__(self, emit: Emit, order: Sequence[int]) -> None:
        self._emit = emit
        self._order = list(order)
        self._head = 0
        self._held: dict[int, list[str]] = {i: [] for i in self._order}
        self._finished: set[int] = set()
        self._lock = asyncio.Lock()  # a flush completes before the next stage writes directly

    def emitter(self, index: int) -> Emit:
        async def emit(text: str) -> None:
            async with self._lock:
                if self._head < len(self._order) and self._order[self._head] == index:
                    await self._emit(text)
                else:
                    self._held[index].append(text)
        return emit

    async def finish(self, index: int) -> None:
        async with self._lock:
            self._finished.add(index)
            while self._head < len(self._order) and self._order[self._head] in self._finished:
                self._head += 1
                if self._head < len(self._order):
                    await self._flush(self._order[self._head])

    async def flush_all(self) -> None:
        """On failure: whatever is held, in order, so the error follows the lines that led to it."""
        async with self._lock:
            for index in self._order[self._head:]:
                await self._flush(index)
            self._head = len(self._order)

    async def _flush(self, index: int) -> None:
        held, self._held[index] = self._held[index], []
        for text in held:
            await self._emit(text)


def step_offsets(counts: dict[int, int]) -> dict[int, int]:
    """The first step number of each stage (``counts``: steps per stage, in file order)."""
    offsets, next_number = {}, 1
    for index in sorted(counts):
        offsets[index] = next_number
        next_number += counts[index]
    return offsets

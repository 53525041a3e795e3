"""Who may move processes into cgroups at once: container starts together, a runc exec alone.

runc 1.1's exec sets its process's limits right only where the kernel's cgroup migration lock is
cold (backends/cgroup_warmup.py). Any other move in the host warms it: a start's ``runc create``
moving its init, or another exec moving its process. So an exec waits until the starts and execs
before it are done, and the starts and execs after it wait for it: a first-come, first-served gate
where starts share and execs take it alone, so that neither a stream of starts nor one of execs
keeps the other out.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class MigrationGate:
    def __init__(self) -> None:
        self._tickets = itertools.count()
        self._starts: set[int] = set()  # tickets of starts waiting or inside
        self._execs: list[int] = []  # tickets of execs waiting or inside, oldest first
        self._changed = asyncio.Condition()

    @asynccontextmanager
    async def shared(self) -> AsyncIterator[None]:
        """A start: inside with other starts, once the execs that came before it are done."""
        ticket = next(self._tickets)
        self._starts.add(ticket)
        try:
            async with self._changed:
                await self._changed.wait_for(lambda: not self._execs or self._execs[0] > ticket)
            yield
        finally:
            self._starts.discard(ticket)
            await self._notify()

    @asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        """An exec: inside alone, once every start and exec that came before it is done."""
        ticket = next(self._tickets)
        self._execs.append(ticket)
        try:
            async with self._changed:
                await self._changed.wait_for(
                    lambda: self._execs[0] == ticket and not any(s < ticket for s in self._starts))
            yield
        finally:
            self._execs.remove(ticket)
            await self._notify()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

"""What a connection taken from HTTP (a hijack, a websocket) has in common."""

from __future__ import annotations

import asyncio


class Upgraded(asyncio.Protocol):
    """The client's bytes (or messages) queued in ``incoming``, None at their end; ``closed`` once
    the connection is gone; ``drain`` waits while the transport's write buffer is full."""

    def __init__(self) -> None:
        self.incoming: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.closed = asyncio.Event()
        self._can_write = asyncio.Event()
        self._can_write.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.incoming.put_nowait(None)
        self.closed.set()
        self._can_write.set()

    def pause_writing(self) -> None:
        self._can_write.clear()

    def resume_writing(self) -> None:
        self._can_write.set()

    async def drain(self) -> None:
        await self._can_write.wait()

"""``GET /containers/{id}/attach/ws``: a container's stdio over a websocket, as moby's wsAttach.

The client's messages (binary or text) go to the container's stdin; its output comes back as
binary messages of bare bytes (no stream multiplexing, TTY or not).
"""

from __future__ import annotations

import asyncio

from dockyard.api import web
from dockyard.api.web.websocket import accept


class WebSocketDuplex:
    """A :class:`~dockyard.api.hijack.Duplex` over a websocket."""

    def __init__(self, request: web.Request) -> None:
        self._ws = accept(request)

    @property
    def closed(self) -> asyncio.Event:
        return self._ws.closed

    async def read(self) -> bytes | None:
        return await self._ws.incoming.get()

    async def write(self, data: bytes) -> None:
        if self._ws.closed.is_set():
            raise ConnectionResetError("client went away")
        await self._ws.send_bytes(data)

    def close(self) -> None:
        self._ws.close()

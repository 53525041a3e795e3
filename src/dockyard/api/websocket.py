"""``GET /containers/{id}/attach/ws``: a container's stdio over a websocket, as moby's wsAttach.

The client's messages (binary or text) go to the container's stdin; its output comes back as
binary messages of bare bytes (no stream multiplexing, TTY or not).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import web
from aiohttp.http import WSMsgType

log = logging.getLogger(__name__)


class WebSocketDuplex:
    """A :class:`~dockyard.api.hijack.Duplex` over an aiohttp websocket."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self._ws = ws
        self._incoming: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._closed = asyncio.Event()
        # Read all the time, so a client that closes is noticed even when stdin is not attached.
        self._reader = asyncio.ensure_future(self._read_all())

    @property
    def closed(self) -> asyncio.Event:
        return self._closed

    async def _read_all(self) -> None:
        try:
            async for msg in self._ws:
                if msg.type == WSMsgType.BINARY:
                    await self._incoming.put(bytes(msg.data))
                elif msg.type == WSMsgType.TEXT:
                    await self._incoming.put(str(msg.data).encode())
                elif msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                    break
        finally:
            await self._incoming.put(None)
            self._closed.set()

    async def read(self) -> bytes | None:
        return await self._incoming.get()

    async def write(self, data: bytes) -> None:
        if self._ws.closed:
            raise ConnectionResetError("client went away")
        await self._ws.send_bytes(data)

    def close(self) -> None:
        self._reader.cancel()
        if not self._ws.closed:
            with contextlib.suppress(Exception):
                asyncio.ensure_future(self._ws.close())

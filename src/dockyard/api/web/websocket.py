"""The server side of a websocket (RFC 6455) on a connection taken from HTTP; wsproto frames it."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from typing import TYPE_CHECKING

from dockyard.api.web.exceptions import HTTPBadRequest
from dockyard.api.web.messages import Request
from dockyard.api.web.upgraded import Upgraded

if TYPE_CHECKING:
    from wsproto.connection import Connection

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class WebSocket(Upgraded):
    """Messages in (binary and text, as bytes), binary messages out."""

    def __init__(self, transport: asyncio.Transport, tail: bytes) -> None:
        from wsproto.connection import Connection, ConnectionType  # on first use: few take it

        super().__init__()
        self._transport = transport
        self._ws: Connection = Connection(ConnectionType.SERVER)
        self._partial = bytearray()
        transport.set_protocol(self)
        if tail:
            self.data_received(tail)
        transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage

        self._ws.receive_data(data)
        for event in self._ws.events():
            if isinstance(event, BytesMessage | TextMessage):
                payload = event.data.encode() if isinstance(event.data, str) else event.data
                self._partial += payload
                if event.message_finished:
                    self.incoming.put_nowait(bytes(self._partial))
                    self._partial.clear()
            elif isinstance(event, Ping):
                self._send(self._ws.send(event.response()))
            elif isinstance(event, CloseConnection):
                self._send(self._ws.send(event.response()))
                self._finish()

    def eof_received(self) -> bool:
        self._finish()
        return False

    async def send_bytes(self, data: bytes) -> None:
        from wsproto.events import Message

        if self._transport.is_closing():
            raise ConnectionResetError("client went away")
        self._send(self._ws.send(Message(data=data)))
        await self.drain()

    def close(self) -> None:
        from wsproto.connection import ConnectionState
        from wsproto.events import CloseConnection

        if self._ws.state is ConnectionState.OPEN and not self._transport.is_closing():
            self._send(self._ws.send(CloseConnection(code=1000)))
        self._finish()

    def _send(self, data: bytes) -> None:
        if data and not self._transport.is_closing():
            self._transport.write(data)

    def _finish(self) -> None:
        if not self._transport.is_closing():
            self._transport.close()
        self.incoming.put_nowait(None)
        self.closed.set()


def accept(request: Request) -> WebSocket:
    """Answer the handshake (101) and take the connection; a request that is not one is a 400."""
    key = request.headers.get("Sec-WebSocket-Key", "")
    if request.headers.get("Upgrade", "").lower() != "websocket" or not key:
        raise HTTPBadRequest(text="not a websocket request: no Upgrade: websocket or no Sec-WebSocket-Key")
    transport = request.transport
    if transport is None or transport.is_closing():
        raise ConnectionResetError("client went away")
    tail = request.hand_over()
    digest = base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()  # noqa: S324 - RFC 6455
    transport.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     f"Sec-WebSocket-Accept: {digest}\r\n\r\n").encode())
    return WebSocket(transport, tail)

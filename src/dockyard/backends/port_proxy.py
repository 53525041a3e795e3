"""A userland TCP relay for published ports that NAT cannot serve: those on ``[::1]``.

The kernel never routes a packet whose source is ``::1`` out of the loopback device, and IPv6 has
no ``route_localnet``, so DNAT of a connection to ``[::1]:port`` into a container goes nowhere.
Docker answers those ports with ``docker-proxy``; we relay them from the daemon's event loop
(no process per port), on the very socket that reserves the host port.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket

log = logging.getLogger(__name__)

_CHUNK = 65536
_CONNECT_TIMEOUT = 5.0


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until end of stream, then half-close: the other direction may still be talking."""
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.close()


async def relay(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter,
                target: tuple[str, int]) -> None:
    """Connect to ``target`` and copy both ways until both sides are done."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(*target), _CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        log.debug("proxy to %s: %s", target, exc)
        client_writer.close()
        return
    try:
        await asyncio.gather(_pump(client_reader, writer), _pump(reader, client_writer))
    finally:
        for stream in (writer, client_writer):
            stream.close()
            with contextlib.suppress(ConnectionError, OSError):
                await stream.wait_closed()


class PortProxy:
    """Listening relays keyed by the endpoint they serve."""

    def __init__(self) -> None:
        self._servers: dict[str, list[asyncio.Server]] = {}

    async def start(self, key: str, sock: socket.socket, target: tuple[str, int]) -> None:
        """Listen on ``sock`` (bound already) and relay each connection to ``target``."""

        async def serve(client_reader: asyncio.StreamReader,
                        client_writer: asyncio.StreamWriter) -> None:
            await relay(client_reader, client_writer, target)

        sock.listen(128)
        sock.setblocking(False)
        server = await asyncio.start_server(serve, sock=sock)
        self._servers.setdefault(key, []).append(server)

    async def stop(self, key: str) -> None:
        for server in self._servers.pop(key, []):
            server.close()

    async def close(self) -> None:
        for key in list(self._servers):
            await self.stop(key)

"""Ingress-mode published ports of swarm services: one listener per port on the host, each
connection relayed to the next running task in turn (round robin).

This kernel has no IPVS, which is how dockerd's ingress balances; the relay runs on the daemon's
event loop and asks the orchestrator for the current backends on every connection, so a task
that is shutting down gets no new connection from the moment it leaves the set.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket

from dockyard.backends.port_proxy import _pump
from dockyard.core.swarm.networking import Backends
from dockyard.errors import Conflict

log = logging.getLogger(__name__)

_CONNECT_TIMEOUT = 5.0


class RoundRobinIngress:
    def __init__(self) -> None:
        self._servers: dict[str, asyncio.Server] = {}
        self._next: dict[str, int] = {}

    async def publish(self, key: str, port: int, backends: Backends) -> None:
        async def relay(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
            choices = backends()
            if not choices:
                client_writer.close()
                return
            turn = self._next.get(key, 0)
            self._next[key] = turn + 1
            target = choices[turn % len(choices)]
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(*target), _CONNECT_TIMEOUT)
            except (OSError, TimeoutError) as exc:
                log.debug("ingress %d to %s: %s", port, target, exc)
                client_writer.close()
                return
            try:
                await asyncio.gather(_pump(client_reader, writer), _pump(reader, client_writer))
            finally:
                for stream in (writer, client_writer):
                    stream.close()
                    with contextlib.suppress(ConnectionError, OSError):
                        await stream.wait_closed()

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError as exc:
            sock.close()
            raise Conflict(f"cannot publish port {port}: {exc.strerror}") from exc
        sock.listen(128)
        sock.setblocking(False)
        self._servers[key] = await asyncio.start_server(relay, sock=sock)

    async def unpublish(self, key: str) -> None:
        server = self._servers.pop(key, None)
        self._next.pop(key, None)
        if server is not None:
            server.close()  # open relays finish on their own

    async def close(self) -> None:
        for key in list(self._servers):
            await self.unpublish(key)

"""Ingress-mode published ports of swarm services: one listener per port on the host, each
connection relayed to the next running task in turn (round robin).

This kernel has no IPVS, which is how dockerd's ingress balances; the relay runs on the daemon's
event loop and asks the orchestrator for the current backends on every connection, so a task
that is shutting down gets no new connection from the moment it leaves the set.
"""

from __future__ import annotations

import asyncio
import logging
import socket

from dockyard.backends.port_proxy import relay
from dockyard.core.swarm.networking import Backends
from dockyard.errors import Conflict

log = logging.getLogger(__name__)


class RoundRobinIngress:
    def __init__(self) -> None:
        self._servers: dict[str, asyncio.Server] = {}
        self._next: dict[str, int] = {}

    async def publish(self, key: str, port: int, backends: Backends) -> None:
        async def serve(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
            choices = backends()
            if not choices:
                client_writer.close()
                return
            turn = self._next.get(key, 0)
            self._next[key] = turn + 1
            await relay(client_reader, client_writer, choices[turn % len(choices)])

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError as exc:
            sock.close()
            raise Conflict(f"cannot publish port {port}: {exc.strerror}") from exc
        sock.listen(128)
        sock.setblocking(False)
        self._servers[key] = await asyncio.start_server(serve, sock=sock)

    async def unpublish(self, key: str) -> None:
        server = self._servers.pop(key, None)
        self._next.pop(key, None)
        if server is not None:
            server.close()  # open relays finish on their own

    async def close(self) -> None:
        for key in list(self._servers):
            await self.unpublish(key)

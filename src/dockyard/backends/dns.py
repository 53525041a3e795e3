"""The embedded resolver at 127.0.0.11 inside each sandbox on a user-defined network (dnslib).

As Docker's: the socket is opened inside the container's network namespace (in a short thread that
enters it) and served from the daemon's event loop, so one daemon serves every container without a
process or thread each. Names the network service knows are answered here; others are forwarded to
the host's resolvers from the daemon's own namespace, or refused when the container has no way out.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
from typing import Any, cast

from dnslib import QTYPE, RCODE, RR, A, DNSError, DNSRecord

from dockyard.backends.netlink import in_netns
from dockyard.core.networks.backend import NameLookup
from dockyard.errors import Unavailable

log = logging.getLogger(__name__)

RESOLVER_ADDRESS = "127.0.0.11"
FORWARD_TIMEOUT = 3.0
TTL = 600


def _bind() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((RESOLVER_ADDRESS, 53))
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def answer_query(data: bytes, key: str, lookup: NameLookup) -> tuple[bytes | None, tuple[str, ...]]:
    """The reply to a query, or (None, upstreams) when it must be forwarded."""
    request = DNSRecord.parse(data)
    reply = request.reply()
    question = request.q
    name = str(question.qname)
    answer = lookup(key, name)
    if answer.addresses:
        if question.qtype in (QTYPE.A, QTYPE.ANY):
            for address in answer.addresses:
                reply.add_answer(RR(question.qname, QTYPE.A, rdata=A(address), ttl=TTL))
        # Other types of a name we own: an empty NOERROR, so clients use the A records.
        return reply.pack(), ()
    if answer.forward:
        return None, answer.forward
    reply.header.rcode = RCODE.REFUSED
    return reply.pack(), ()


class _Client(asyncio.DatagramProtocol):
    """One forwarded query's socket: the first reply (or error) settles ``future``."""

    def __init__(self, future: asyncio.Future[bytes]) -> None:
        self._future = future

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if not self._future.done():
            self._future.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self._future.done():
            self._future.set_exception(exc)


async def forward(data: bytes, servers: tuple[str, ...]) -> bytes | None:
    """Ask each upstream in turn (from the daemon's namespace); None when none answers."""
    loop = asyncio.get_running_loop()
    for server in servers:
        future: asyncio.Future[bytes] = loop.create_future()
        try:
            transport, _ = await loop.create_datagram_endpoint(
                functools.partial(_Client, future), remote_addr=(server, 53))
        except OSError as exc:
            log.debug("forward to %s: %s", server, exc)
            continue
        try:
            transport.sendto(data)
            return await asyncio.wait_for(future, FORWARD_TIMEOUT)
        except (TimeoutError, OSError) as exc:
            log.debug("forward to %s: %s", server, exc)
        finally:
            transport.close()
    return None


def _servfail(data: bytes) -> bytes | None:
    try:
        reply = DNSRecord.parse(data).reply()
    except DNSError:
        return None
    reply.header.rcode = RCODE.SERVFAIL
    packed: bytes = reply.pack()
    return packed


class _Server(asyncio.DatagramProtocol):
    def __init__(self, key: str, lookup: NameLookup) -> None:
        self._key = key
        self._lookup = lookup
        self._transport: asyncio.DatagramTransport | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        try:
            reply, upstreams = answer_query(data, self._key, self._lookup)
        except DNSError:
            return  # not DNS: drop it, as a resolver does
        if reply is not None:
            self._send(reply, addr)
            return
        task = asyncio.get_running_loop().create_task(self._forward(data, upstreams, addr))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _forward(self, data: bytes, upstreams: tuple[str, ...], addr: Any) -> None:
        reply = await forward(data, upstreams)
        self._send(reply if reply is not None else _servfail(data), addr)

    def _send(self, reply: bytes | None, addr: Any) -> None:
        if reply is not None and self._transport is not None and not self._transport.is_closing():
            self._transport.sendto(reply, addr)


class EmbeddedDns:
    """One UDP server per sandbox, keyed by the container's ID."""

    def __init__(self) -> None:
        self._servers: dict[str, asyncio.DatagramTransport] = {}

    async def serve(self, key: str, sandbox: str, lookup: NameLookup) -> None:
        if key in self._servers:
            return
        try:
            sock = await asyncio.to_thread(in_netns, sandbox, _bind)
        except OSError as exc:
            raise Unavailable(f"embedded DNS in {sandbox}: {exc}") from exc
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: _Server(key, lookup), sock=sock)
        self._servers[key] = transport

    async def stop(self, key: str) -> None:
        transport = self._servers.pop(key, None)
        if transport is not None:
            transport.close()

    async def close(self) -> None:
        for key in list(self._servers):
            await self.stop(key)

    def serving(self) -> list[str]:
        return list(self._servers)

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
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast

from dockyard.backends.netlink import in_netns
from dockyard.core.networks.backend import NameLookup
from dockyard.core.trace import span
from dockyard.errors import Unavailable

if TYPE_CHECKING:
    import dnslib
else:
    from dockyard.imports import lazy

    dnslib = lazy("dnslib")  # on the first query: an idle daemon need not hold it (imports.py)

log = logging.getLogger(__name__)

RESOLVER_ADDRESS = "127.0.0.11"
FORWARD_TIMEOUT = 3.0
TCP_IDLE_TIMEOUT = 10.0
TTL = 600


def _bind() -> tuple[socket.socket, socket.socket]:
    """The resolver's UDP socket and its TCP listener (clients retry over TCP when an answer is
    truncated, and some ask over TCP first), both on 127.0.0.11:53 of the calling thread's netns."""
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        udp.bind((RESOLVER_ADDRESS, 53))
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        tcp.bind((RESOLVER_ADDRESS, 53))
        tcp.listen(64)
    except OSError:
        udp.close()
        tcp.close()
        raise
    udp.setblocking(False)
    tcp.setblocking(False)
    return udp, tcp


def answer_query(data: bytes, key: str, lookup: NameLookup) -> tuple[bytes | None, tuple[str, ...]]:
    """The reply to a query, or (None, upstreams) when it must be forwarded."""
    request = dnslib.DNSRecord.parse(data)
    reply = request.reply()
    question = request.q
    name = str(question.qname)
    answer = lookup(key, name)
    if answer.addresses:
        for address in answer.addresses:
            if ":" in address and question.qtype in (dnslib.QTYPE.AAAA, dnslib.QTYPE.ANY):
                reply.add_answer(dnslib.RR(question.qname, dnslib.QTYPE.AAAA,
                                           rdata=dnslib.AAAA(address), ttl=TTL))
            elif ":" not in address and question.qtype in (dnslib.QTYPE.A, dnslib.QTYPE.ANY):
                reply.add_answer(dnslib.RR(question.qname, dnslib.QTYPE.A, rdata=dnslib.A(address),
                                           ttl=TTL))
        # Other types of a name we own: an empty NOERROR, so clients use the A/AAAA records.
        return reply.pack(), ()
    if answer.forward:
        return None, answer.forward
    reply.header.rcode = dnslib.RCODE.REFUSED
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


async def forward_tcp(data: bytes, servers: tuple[str, ...]) -> bytes | None:
    """A TCP query forwarded over TCP (its answer may be too large for UDP)."""
    for server in servers:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(server, 53),
                                                    FORWARD_TIMEOUT)
        except (TimeoutError, OSError) as exc:
            log.debug("forward to %s over TCP: %s", server, exc)
            continue
        try:
            writer.write(len(data).to_bytes(2, "big") + data)
            return await asyncio.wait_for(_read_message(reader), FORWARD_TIMEOUT)
        except (TimeoutError, OSError, asyncio.IncompleteReadError) as exc:
            log.debug("forward to %s over TCP: %s", server, exc)
        finally:
            writer.close()
    return None


async def _read_message(reader: asyncio.StreamReader) -> bytes:
    """One DNS message of a TCP stream: a two-byte length, then that many bytes (RFC 1035 4.2.2)."""
    size = int.from_bytes(await reader.readexactly(2), "big")
    return await reader.readexactly(size)


def _tcp_handler(key: str, lookup: NameLookup) -> Callable[
        [asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:  # a client may send several queries on one connection
                data = await asyncio.wait_for(_read_message(reader), TCP_IDLE_TIMEOUT)
                reply, upstreams = answer_query(data, key, lookup)
                if reply is None:
                    reply = await forward_tcp(data, upstreams) or _servfail(data)
                if reply is None:
                    return
                writer.write(len(reply).to_bytes(2, "big") + reply)
                await writer.drain()
        except (TimeoutError, OSError, asyncio.IncompleteReadError, dnslib.DNSError):
            return  # the client left, idled or sent something that is not DNS
        finally:
            writer.close()

    return handle


def _servfail(data: bytes) -> bytes | None:
    try:
        reply = dnslib.DNSRecord.parse(data).reply()
    except dnslib.DNSError:
        return None
    reply.header.rcode = dnslib.RCODE.SERVFAIL
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
        except dnslib.DNSError:
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
    """One UDP server and one TCP listener per sandbox, keyed by the container's ID."""

    def __init__(self) -> None:
        self._servers: dict[str, tuple[asyncio.DatagramTransport, asyncio.Server]] = {}

    async def serve(self, key: str, sandbox: str, lookup: NameLookup) -> None:
        if key in self._servers:
            return
        try:
            with span("net.dns", key):
                udp, tcp = await asyncio.to_thread(in_netns, sandbox, _bind)
        except OSError as exc:
            raise Unavailable(f"embedded DNS in {sandbox}: {exc}") from exc
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.create_datagram_endpoint(lambda: _Server(key, lookup), sock=udp)
        except BaseException:
            udp.close()
            tcp.close()
            raise
        try:
            server = await asyncio.start_server(_tcp_handler(key, lookup), sock=tcp)
        except BaseException:
            transport.close()
            tcp.close()
            raise
        self._servers[key] = (transport, server)

    async def stop(self, key: str) -> None:
        found = self._servers.pop(key, None)
        if found is not None:
            found[0].close()
            found[1].close()

    async def close(self) -> None:
        for key in list(self._servers):
            await self.stop(key)

    def serving(self) -> list[str]:
        return list(self._servers)

"""Hijacked connections for attach and exec: ``101 UPGRADED``, then raw bytes both ways.

Docker's clients send ``Upgrade: tcp`` and expect ``HTTP/1.1 101 UPGRADED``; stdin's end arrives
as a TCP half-close while output keeps flowing. The connection is taken from HTTP
(``Request.hand_over``) by a raw protocol (whose ``eof_received`` keeps the write side open), the
101 head is written by hand, and the handler returns a response that writes nothing. Clients
without ``Upgrade`` (old docker-py) get ``200 OK`` and the same stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from dockyard import API_VERSION
from dockyard.api import web
from dockyard.api.routing import version_at_least
from dockyard.api.web.upgraded import Upgraded
from dockyard.core.runtime.backend import StdioStream
from dockyard.errors import InvalidArgument

log = logging.getLogger(__name__)

RAW_STREAM = "application/vnd.docker.raw-stream"
MULTIPLEXED_STREAM = "application/vnd.docker.multiplexed-stream"


def frame(stream: int, data: bytes) -> bytes:
    """Docker's stdcopy frame: [stream, 0, 0, 0, big-endian uint32 length] + data."""
    return struct.pack(">BxxxI", stream, len(data)) + data


def stream_content_type(tty: bool, api_version: str) -> str:
    # moby sends the multiplexed media type from API 1.42 on, and raw for TTYs.
    if tty:
        return RAW_STREAM
    return MULTIPLEXED_STREAM if version_at_least(api_version, "1.42") else RAW_STREAM


DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"
_CTRL_SYMBOLS = {"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}


def parse_detach_keys(spec: str) -> bytes:
    """Docker's ``--detach-keys``: comma-separated ``ctrl-<x>`` or single characters."""
    keys = bytearray()
    for part in (spec or DEFAULT_DETACH_KEYS).split(","):
        part = part.strip()
        if part.lower().startswith("ctrl-") and len(part) == 6:
            char = part[5].lower()
            if "a" <= char <= "z":
                keys.append(ord(char) - ord("a") + 1)
            elif char in _CTRL_SYMBOLS:
                keys.append(_CTRL_SYMBOLS[char])
            else:
                raise InvalidArgument(f"Unknown character: '{part}'")
        elif len(part) == 1:
            keys.append(ord(part))
        else:
            raise InvalidArgument(f"Unknown character: '{part}'")
    return bytes(keys)


class DetachScanner:
    """Finds the detach sequence in stdin; bytes of a partial match are held back."""

    def __init__(self, keys: bytes) -> None:
        self._keys = keys
        self._held = b""

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """(bytes to pass on, True when the client asked to detach)."""
        out = bytearray()
        for byte in data:
            candidate = self._held + bytes([byte])
            if self._keys.startswith(candidate):
                self._held = candidate
                if candidate == self._keys:
                    return bytes(out), True
                continue
            out += candidate
            self._held = b""
        return bytes(out), False


class _RawProtocol(Upgraded):
    def __init__(self, *, tls: bool = False) -> None:
        super().__init__()
        # Over TLS asyncio ignores eof_received's answer (and warns about a True one): the
        # half-open connection is kept by _keep_tls_half_open instead.
        self._keep_open = not tls

    def data_received(self, data: bytes) -> None:
        self.incoming.put_nowait(data)

    def eof_received(self) -> bool:
        self.incoming.put_nowait(None)
        return self._keep_open  # half-close: keep our side open so output keeps flowing


class Duplex(Protocol):
    """A connection that ``pump`` copies over: a hijacked socket, or a websocket."""

    @property
    def closed(self) -> asyncio.Event: ...

    async def read(self) -> bytes | None: ...

    async def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...
def _keep_tls_half_open(transport: asyncio.Transport) -> Callable[[], None]:
    """Let a TLS client's half-close (docker's ``CloseWrite``: a close_notify alert) end only its
    input, as a TCP half-close does; returns the undo, to be called before closing.

    asyncio answers a close_notify with its own shutdown, ignoring ``eof_received``'s True (it
    logs "has no effect when using ssl"), which would cut the output of ``exec -i`` after stdin's
    end. TLS allows writing after the peer's close_notify, so the shutdown is held back until we
    close. This reaches into asyncio's SSL protocol (no public hook exists); without it, the
    connection degrades to asyncio's behaviour.
    """
    ssl_protocol = getattr(transport, "_ssl_protocol", None)
    original = getattr(ssl_protocol, "_start_shutdown", None)
    if ssl_protocol is None or original is None:
        return lambda: None

    def held() -> None:
        return None

    ssl_protocol._start_shutdown = held

    def restore() -> None:
        ssl_protocol._start_shutdown = original

    return restore


class Hijacked:
    """The raw connection after the 101: read the client's bytes, write ours, close."""

    def __init__(self, transport: asyncio.Transport, protocol: _RawProtocol) -> None:
        self._transport = transport
        self._protocol = protocol
        is_tls = transport.get_extra_info("sslcontext") is not None
        self._restore = _keep_tls_half_open(transport) if is_tls else (lambda: None)

    @property
    def closed(self) -> asyncio.Event:
        return self._protocol.closed

    async def read(self) -> bytes | None:
        """The client's next bytes; None at its half-close or disconnect."""
        return await self._protocol.incoming.get()

    async def write(self, data: bytes) -> None:
        if self._transport.is_closing():
            raise ConnectionResetError("client went away")
        self._transport.write(data)
        await self._protocol.drain()

    def close(self) -> None:
        self._restore()
        if not self._transport.is_closing():
            self._transport.close()


class HijackedResponse(web.StreamResponse):
    """What the handler returns after hijacking: the server writes nothing to the connection."""

    async def prepare(self, request: web.Request) -> None:
        return None

    async def write_eof(self, data: bytes = b"") -> None:
        return None


def hijack(request: web.Request, content_type: str) -> Hijacked:
    """Take the connection over and answer 101 UPGRADED (or 200 without an Upgrade header)."""
    transport = request.transport
    if not isinstance(transport, asyncio.Transport):
        raise ConnectionResetError("client went away")
    raw = _RawProtocol(tls=transport.get_extra_info("sslcontext") is not None)
    tail = request.hand_over()  # bytes the client sent right after the request head
    transport.set_protocol(raw)
    if tail:
        raw.data_received(tail)
    upgrade = "upgrade" in request.headers.get("Connection", "").lower() or "Upgrade" in request.headers
    if upgrade:
        head = ("HTTP/1.1 101 UPGRADED\r\n"
                f"Content-Type: {content_type}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n")
    else:
        head = f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nConnection: close\r\n"
    head += f"Api-Version: {API_VERSION}\r\nOstype: linux\r\nServer: Dockyard (linux)\r\n\r\n"
    transport.write(head.encode())
    transport.resume_reading()
    return Hijacked(transport, raw)


async def pump(conn: Duplex, stream: StdioStream, *, tty: bool, stdin: bool,
               stdout: bool = True, stderr: bool = True,
               before_close: Callable[[], Awaitable[object]] | None = None,
               detach_keys: bytes = b"", raw: bool = False) -> None:
    """Copy the process's output to the client and the client's input to the process until the
    output ends (the process exited) or the client goes away; then close the connection. Output
    is framed without a TTY unless ``raw`` (websocket attach sends bare bytes, as moby)."""

    async def copy_out() -> None:
        while (item := await stream.read()) is not None:
            fd, data = item
            if (fd == 1 and not stdout) or (fd == 2 and not stderr):
                continue
            await conn.write(data if tty or raw else frame(fd, data))

    async def copy_in() -> bool:
        """True when the client detached with its keys (the process keeps its stdin)."""
        scanner = DetachScanner(detach_keys) if detach_keys else None
        while (data := await conn.read()) is not None:
            detached = False
            if scanner is not None:
                data, detached = scanner.feed(data)
            if data:
                await stream.write(data)
            if detached:
                return True
        if not tty:
            # As moby: the end of a client's input closes the process's stdin only without a TTY.
            # A terminal session that ends (the CLI detached with its keys, or went away) leaves
            # the shell in the container running, ready for the next attach.
            await stream.close_stdin()
        return False

    out_task = asyncio.ensure_future(copy_out())
    in_task = asyncio.ensure_future(copy_in()) if stdin else None
    gone = asyncio.ensure_future(conn.closed.wait())
    waiting: set[asyncio.Future[Any]] = {out_task, gone}
    if in_task is not None:
        waiting.add(in_task)
    try:
        while True:
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if out_task.done() or gone.done():
                break
            if in_task is not None and in_task.done():
                waiting.discard(in_task)
                if not in_task.cancelled() and in_task.exception() is None and in_task.result():
                    break  # detached: stop streaming, leave the process running
        if out_task.done() and not out_task.cancelled() and out_task.exception():
            log.debug("attach output ended: %s", out_task.exception())
    finally:
        for task in (out_task, in_task, gone):
            if task is not None and not task.done():
                task.cancel()
        with contextlib.suppress(Exception):
            await stream.close()
        if before_close is not None:
            with contextlib.suppress(Exception):
                await before_close()
        conn.close()

"""One client connection: llhttp (through httptools) parses request heads and bodies, one task
answers them in order, and an upgrade or a hijack takes the connection away from HTTP."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from typing import TYPE_CHECKING

import httptools

from dockyard.api.web.exceptions import HTTPException, reason_of
from dockyard.api.web.headers import Headers
from dockyard.api.web.messages import BodyReader, Request, Response, StreamResponse

if TYPE_CHECKING:
    from dockyard.api.web.server import Server

log = logging.getLogger(__name__)

MAX_HEAD = 1 << 20  # the request line and header fields together, as Go's http.DefaultMaxHeaderBytes
KEEPALIVE_TIMEOUT = 75.0  # an idle connection's life
LINGER = 10.0  # how long an answered request's unread body may still take to arrive


class _Refused(Exception):  # noqa: N818 - not an error of ours: the client's head is refused
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class HttpProtocol(asyncio.Protocol):
    def __init__(self, server: Server) -> None:
        self._server = server
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpRequestParser(self)
        self._pending: deque[Request] = deque()
        self._parsing: Request | None = None
        self._task: asyncio.Task[None] | None = None
        self._url = bytearray()
        self._fields: list[tuple[str, str]] = []
        self._head_size = 0
        self._upgraded = False
        self._handed_over = False
        self._tail = bytearray()
        # An upgrade request's own body (exec start's JSON): llhttp hands it over with the
        # upgraded bytes, so it is cut from them here; (request, bytes still to come).
        self._upgrade_body: tuple[Request, int] | None = None
        self._can_write = asyncio.Event()
        self._can_write.set()
        self._idle: asyncio.TimerHandle | None = None
        self._reading_paused = False
        self.keep_alive = True

    @property
    def transport(self) -> asyncio.Transport | None:
        return self._transport

    @property
    def busy(self) -> bool:
        return self._task is not None

    # asyncio's side

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._server.connections.add(self)
        self._arm_idle()

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._server.connections.discard(self)
        self._disarm_idle()
        self._can_write.set()
        for request in self._pending:
            request.content.feed_eof(ConnectionResetError("Connection lost"))

    def pause_writing(self) -> None:
        self._can_write.clear()

    def resume_writing(self) -> None:
        self._can_write.set()

    def data_received(self, data: bytes) -> None:
        if self._upgraded:
            self._upgraded_data(data)
            return
        self._disarm_idle()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            self._upgraded = True
            self._upgraded_data(data[upgrade.args[0]:])
        except httptools.HttpParserError as exc:  # a callback's _Refused comes wrapped in one
            refused = exc.__context__ if isinstance(exc.__context__, _Refused) else None
            if refused is not None:
                self._refuse(refused.status, str(refused))
            else:
                self._refuse(400, f"bad request: {exc}")

    # llhttp's callbacks

    def on_message_begin(self) -> None:
        self._url.clear()
        self._fields = []
        self._head_size = 0

    def on_url(self, url: bytes) -> None:
        self._grow(len(url))
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._grow(len(name) + len(value) + 4)
        self._fields.append((name.decode("utf-8", "surrogateescape"),
                             value.decode("utf-8", "surrogateescape")))

    def _grow(self, size: int) -> None:
        self._head_size += size
        if self._head_size > MAX_HEAD:
            raise _Refused(431, f"request head larger than {MAX_HEAD} bytes")

    def on_headers_complete(self) -> None:
        parser = self._parser
        headers = Headers(self._fields)
        major, _, minor = parser.get_http_version().partition(".")
        chunked = "chunked" in headers.get("Transfer-Encoding", "").lower()
        length = headers.get("Content-Length", "").strip()
        content = BodyReader(self, expected=chunked or (length not in ("", "0")),
                             encoding=headers.get("Content-Encoding", "").strip().lower())
        request = Request(self, self._server.app, parser.get_method().decode("ascii", "replace"),
                          self._url.decode("utf-8", "surrogateescape"), (int(major), int(minor or 0)),
                          headers, parser.should_keep_alive() and not parser.should_upgrade(), content)
        self._parsing = request
        self._pending.append(request)
        if self._task is None:
            self._task = self._loop.create_task(self._serve())

    def on_body(self, body: bytes) -> None:
        if self._parsing is not None:
            self._parsing.content.feed(body)

    def on_message_complete(self) -> None:
        request, self._parsing = self._parsing, None
        if request is None:
            return
        length = request.content_length or 0
        if self._parser.should_upgrade() and length > 0:
            self._upgrade_body = (request, length)
        else:
            request.content.feed_eof()

    def _upgraded_data(self, data: bytes) -> None:
        if self._upgrade_body is not None:
            request, left = self._upgrade_body
            body, data = data[:left], data[left:]
            if body:
                request.content.feed(body)
            left -= len(body)
            self._upgrade_body = (request, left) if left else None
            if not left:
                request.content.feed_eof()
        self._tail += data

    # what requests and responses use

    def write(self, data: bytes, *more: bytes) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("Cannot write to closing transport")
        if more:
            transport.writelines((data, *more))
        else:
            transport.write(data)

    async def drain(self) -> None:
        if not self._can_write.is_set():
            await self._can_write.wait()
        if self._transport is None:
            raise ConnectionResetError("Connection lost")

    def pause_reading(self) -> None:
        if self._transport is not None and not self._reading_paused:
            self._reading_paused = True
            self._transport.pause_reading()

    def resume_reading(self) -> None:
        if self._transport is not None and self._reading_paused:
            self._reading_paused = False
            self._transport.resume_reading()

    def hand_over(self) -> bytes:
        self._handed_over = True
        self._upgraded = True
        self._disarm_idle()
        self._server.connections.discard(self)
        tail = bytes(self._tail)
        self._tail.clear()
        return tail

    def close(self) -> None:
        if self._transport is not None and not self._handed_over:
            self._transport.close()

    def abort(self) -> None:
        """Stop the request in progress (the daemon is stopping) and close."""
        if self._task is not None:
            self._task.cancel()
        self.close()

    # answering

    async def _serve(self) -> None:
        try:
            while self._pending:
                request = self._pending[0]
                await self._answer(request)
                self._pending.popleft()
                if self._handed_over or self._transport is None:
                    return
                # Drained first even when closing: a client still writing its body would meet a
                # reset before reading the answer (docker load onto a full disk).
                if self._upgraded or not await self._body_done(request) or not self.keep_alive:
                    self.close()
                    return
        finally:
            self._task = None
            if not self._handed_over:
                self._arm_idle()

    async def _answer(self, request: Request) -> None:
        try:
            await self._respond(request)
        finally:
            self._server.answered += 1

    async def _respond(self, request: Request) -> None:
        if request.version >= (1, 1) and request.headers.get("Expect", "").lower() == "100-continue":
            self._transport_write(b"HTTP/1.1 100 Continue\r\n\r\n")
        try:
            response = await self._server.app.handle(request)
        except HTTPException as exc:
            response = _from_exception(exc)
        except Exception:  # noqa: BLE001 - whatever escapes the middlewares still gets an answer
            log.exception("%s %s: unhandled error", request.method, request.path)
            response = Response(status=500, text="500 Internal Server Error")
        if self._handed_over or self._transport is None:
            return
        prepared = request.response
        if prepared is not None and prepared is not response:
            # The handler's own stream went out before it failed: end that one, drop the other.
            log.debug("%s %s: a response after the stream started was dropped", request.method, request.path)
            response = prepared
        try:
            if not response.prepared:
                if not request.content.ended:
                    response.force_close()  # the client may still be sending what was not read
                await response.prepare(request)
            await response.write_eof()
        except ConnectionError:
            self.keep_alive = False

    async def _body_done(self, request: Request) -> bool:
        """Whether the connection can take the next request: the client's body ended (unread
        parts are dropped), within LINGER seconds."""
        content = request.content
        content.discard()
        return content.ended or await content.wait_end(LINGER)

    def _transport_write(self, data: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def _refuse(self, status: int, message: str) -> None:
        """A head llhttp or our limits refused: answer it unless a response is under way, and close."""
        self._upgraded = True  # read nothing more as HTTP
        if self._task is None and self._transport is not None and not self._transport.is_closing():
            body = json.dumps({"message": message}).encode() + b"\n"
            self._transport.write(
                f"HTTP/1.1 {status} {reason_of(status)}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
        for request in self._pending:
            request.content.feed_eof(ConnectionResetError("bad request"))
        if self._task is None:
            self.close()
        else:
            self.keep_alive = False

    def _arm_idle(self) -> None:
        self._disarm_idle()
        if self._transport is not None and not self._pending:
            self._idle = self._loop.call_later(KEEPALIVE_TIMEOUT, self._close_idle)

    def _disarm_idle(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None

    def _close_idle(self) -> None:
        self._idle = None
        if self._task is None and not self._pending:
            self.close()


def _from_exception(exc: HTTPException) -> StreamResponse:
    headers = Headers(exc.headers.items())
    content_type = None if "Content-Type" in headers else exc.content_type
    return Response(status=exc.status, reason=exc.reason, text=exc.text, headers=headers,
                    content_type=content_type)

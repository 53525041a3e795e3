"""A request as the handlers see it, its body as a stream, and the responses they return."""

from __future__ import annotations

import asyncio
import json
import time
import zlib
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, overload
from urllib.parse import parse_qsl, unquote

from dockyard.api.web.exceptions import HTTPBadRequest, reason_of
from dockyard.api.web.headers import Headers, MultiDict

if TYPE_CHECKING:
    from dockyard.api.web.app import Application, MatchInfo

_T = TypeVar("_T")

# A body's bytes held before the connection stops reading from the client, and the level that
# starts it again: one handler's chunk (1 MiB) plus what the socket delivers meanwhile.
HIGH_WATER = 2 << 20
LOW_WATER = 1 << 20
_NO_BODY = frozenset({204, 304})


class Connection(Protocol):
    """What requests and responses need of the connection they came on (web/protocol.py)."""

    @property
    def transport(self) -> asyncio.Transport | None: ...

    @property
    def keep_alive(self) -> bool: ...

    @keep_alive.setter
    def keep_alive(self, value: bool) -> None: ...

    def write(self, data: bytes, *more: bytes) -> None: ...

    async def drain(self) -> None: ...

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def hand_over(self) -> bytes: ...


class RequestKey(Generic[_T]):
    """A typed key of ``request[...]`` (or of ``app[...]``: AppKey is the same)."""

    __slots__ = ("name", "type")

    def __init__(self, name: str, kind: type[_T]) -> None:
        self.name = name
        self.type = kind

    def __repr__(self) -> str:
        return f"<Key {self.name}>"


class BodyReader:
    """The request body as the client sends it: ``read`` waits for bytes, ``b""`` is its end.
    Reading from the client stops while more than HIGH_WATER is unread. A gzip or deflate
    ``Content-Encoding`` (docker-py's ``gzip=True``) is undone on the way."""

    def __init__(self, conn: Connection, *, expected: bool, encoding: str = "") -> None:
        self._conn = conn
        self._encoding = encoding
        self._inflate = _inflater(encoding)
        self._chunks: deque[bytes] = deque()
        self._size = 0
        self._eof = not expected
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False
        self._discarding = False
        self._ended = asyncio.Event()
        if self._eof:
            self._ended.set()

    def feed(self, data: bytes) -> None:
        if self._discarding or self._eof:
            return
        if self._inflate is not None:
            try:
                data = self._inflate.decompress(data)
            except zlib.error:
                self.feed_eof(HTTPBadRequest(text=f"cannot decode Content-Encoding {self._encoding}"))
                return
            if not data:
                return
        self._chunks.append(data)
        self._size += len(data)
        if self._size > HIGH_WATER and not self._paused:
            self._paused = True
            self._conn.pause_reading()
        self._wake()

    def feed_eof(self, error: BaseException | None = None) -> None:
        if self._eof:
            return
        if self._inflate is not None and error is None:
            rest, self._inflate = self._inflate.flush(), None
            if rest:
                self.feed(rest)
        self._eof = True
        self._error = error
        self._ended.set()
        self._wake()

    def replace(self, body: bytes) -> None:
        """Put ``body`` back as the whole body (an authorization plugin read it first)."""
        self._chunks = deque([body] if body else [])
        self._size = len(body)
        self._eof = True
        self._error = None
        self._ended.set()

    def discard(self) -> None:
        """Drop what is unread and whatever still comes (the handler answered without it)."""
        self._discarding = True
        self._chunks.clear()
        self._size = 0
        self._unpause()

    async def wait_end(self, timeout: float) -> bool:
        """Whether the client's body ended within ``timeout`` seconds."""
        try:
            await asyncio.wait_for(self._ended.wait(), timeout)
        except TimeoutError:
            return False
        return True

    @property
    def ended(self) -> bool:
        """Whether the client sent the body's last byte (read or not)."""
        return self._eof

    def at_eof(self) -> bool:
        return self._eof and not self._chunks

    async def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes (all of the body when ``n`` < 0) once some are there; ``b""`` at the end."""
        if n < 0:
            parts = []
            while chunk := await self.read(HIGH_WATER):
                parts.append(chunk)
            return b"".join(parts)
        while not self._chunks:
            if self._eof:
                if self._error is not None:
                    raise self._error
                return b""
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        out = self._take(n)
        if self._paused and self._size < LOW_WATER:
            self._unpause()
        return out

    async def readany(self) -> bytes:
        return await self.read(HIGH_WATER)

    async def iter_chunked(self, n: int) -> AsyncIterator[bytes]:
        while chunk := await self.read(n):
            yield chunk

    def _take(self, n: int) -> bytes:
        first = self._chunks[0]
        if len(first) > n:
            self._chunks[0] = first[n:]
            self._size -= n
            return first[:n]
        parts = [self._chunks.popleft()]
        taken = len(first)
        while self._chunks and taken + len(self._chunks[0]) <= n:
            chunk = self._chunks.popleft()
            parts.append(chunk)
            taken += len(chunk)
        self._size -= taken
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _unpause(self) -> None:
        if self._paused:
            self._paused = False
            self._conn.resume_reading()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


def _inflater(encoding: str) -> zlib._Decompress | None:
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompressobj()
    return None  # none, or one we do not undo: the body as sent


class Request:
    """One HTTP request: its head, its body as ``content``, and the route that matched it."""

    def __init__(self, conn: Connection, app: Application, method: str, target: str,
                 version: tuple[int, int], headers: Headers, keep_alive: bool,
                 content: BodyReader) -> None:
        self.protocol = conn
        self.app = app
        self.method = method
        self.raw_path = target
        path, _, self.query_string = target.partition("?")
        self.path = unquote(path) if "%" in path else path
        self.version = version
        self.headers = headers
        self.keep_alive = keep_alive
        self.content = content
        self.match_info: MatchInfo = _NO_MATCH
        self.response: StreamResponse | None = None  # the one prepared for this request
        self._state: dict[object, Any] = {}

    @property
    def transport(self) -> asyncio.Transport | None:
        return self.protocol.transport

    @cached_property
    def query(self) -> MultiDict:
        return MultiDict(parse_qsl(self.query_string, keep_blank_values=True))

    @property
    def content_length(self) -> int | None:
        raw = self.headers.get("Content-Length")
        if raw is None:
            return None
        try:
            return int(raw)
        except ValueError:
            return None

    @property
    def content_type(self) -> str:
        raw = self.headers.get("Content-Type", "")
        return raw.split(";", 1)[0].strip().lower() or "application/octet-stream"

    @property
    def body_exists(self) -> bool:
        return "chunked" in self.headers.get("Transfer-Encoding", "").lower() or bool(self.content_length)

    @property
    def host(self) -> str:
        return self.headers.get("Host", "")

    @property
    def secure(self) -> bool:
        transport = self.transport
        return transport is not None and transport.get_extra_info("sslcontext") is not None

    @property
    def remote(self) -> str:
        transport = self.transport
        peer = transport.get_extra_info("peername") if transport is not None else None
        return str(peer[0]) if isinstance(peer, tuple) and peer else ""

    async def read(self) -> bytes:
        return await self.content.read()

    async def text(self) -> str:
        return (await self.read()).decode("utf-8")

    async def json(self) -> Any:
        return json.loads(await self.read())

    def replace_body(self, body: bytes) -> None:
        self.content.replace(body)

    def hand_over(self) -> bytes:
        """Take the connection from HTTP (an upgrade or a hijack): the bytes that came after this
        request's head; the server writes nothing more to it and leaves its closing to the caller."""
        return self.protocol.hand_over()

    @overload
    def __getitem__(self, key: RequestKey[_T]) -> _T: ...

    @overload
    def __getitem__(self, key: str) -> Any: ...

    def __getitem__(self, key: object) -> Any:
        return self._state[key]

    def __setitem__(self, key: object, value: Any) -> None:
        self._state[key] = value

    def get(self, key: object, default: Any = None) -> Any:
        return self._state.get(key, default)


class StreamResponse:
    """A response written as it goes: ``prepare`` sends the head, ``write`` the body's bytes
    (chunked unless a Content-Length was set), ``write_eof`` its end."""

    def __init__(self, *, status: int = 200, reason: str | None = None,
                 headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None) -> None:
        self.status = status
        self.reason = reason or reason_of(status)
        self.headers = Headers(headers)
        self._request: Request | None = None
        self._chunked = False
        self._keep_alive: bool | None = None
        self._bodyless = False
        self._eof = False

    def set_status(self, status: int, reason: str | None = None) -> None:
        if self.prepared:
            raise RuntimeError("cannot change the status after the head was sent")
        self.status = status
        self.reason = reason or reason_of(status)

    @property
    def prepared(self) -> bool:
        return self._request is not None

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "application/octet-stream").split(";", 1)[0].strip()

    @content_type.setter
    def content_type(self, value: str) -> None:
        self.headers["Content-Type"] = value

    @property
    def content_length(self) -> int | None:
        raw = self.headers.get("Content-Length")
        return int(raw) if raw is not None and raw.isdigit() else None

    @content_length.setter
    def content_length(self, value: int | None) -> None:
        if value is None:
            self.headers.pop("Content-Length")
        else:
            self.headers["Content-Length"] = str(value)

    @property
    def keep_alive(self) -> bool | None:
        return self._keep_alive

    def force_close(self) -> None:
        self._keep_alive = False

    def enable_chunked_encoding(self) -> None:
        self._chunked = True

    async def prepare(self, request: Request) -> None:
        if self._request is not None:
            return
        self._request = request
        request.response = self
        for hook in request.app.on_response_prepare:
            await hook(request, self)
        request.protocol.write(self._head(request))

    def _head(self, request: Request) -> bytes:
        headers = self.headers
        keep_alive = request.keep_alive and self._keep_alive is not False
        self._bodyless = request.method == "HEAD" or self.status in _NO_BODY or self.status < 200
        if self.status in _NO_BODY or self.status < 200:
            headers.pop("Content-Length")
            headers.pop("Transfer-Encoding")
        elif "Content-Length" in headers and not self._chunked:
            headers.pop("Transfer-Encoding")
        elif request.version >= (1, 1):
            self._chunked = True
            headers.pop("Content-Length")
            headers["Transfer-Encoding"] = "chunked"
        else:
            keep_alive = False  # an HTTP/1.0 body of unknown length ends with the connection
        if self.status not in _NO_BODY and self.status >= 200:
            headers.setdefault("Content-Type", "application/octet-stream")
        headers.setdefault("Date", http_date())
        if not keep_alive:
            headers["Connection"] = "close"
        elif request.version < (1, 1):
            headers["Connection"] = "keep-alive"
        self._keep_alive = keep_alive
        request.protocol.keep_alive = keep_alive
        lines = [f"HTTP/{request.version[0]}.{request.version[1]} {self.status} {self.reason}"]
        lines.extend(f"{name}: {value}" for name, value in headers.items())
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape")

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        request = self._request
        if request is None:
            raise RuntimeError("write() before prepare()")
        if self._eof:
            raise RuntimeError("write() after write_eof()")
        if not data or self._bodyless:
            return
        if self._chunked:
            request.protocol.write(b"%x\r\n" % len(data), bytes(data), b"\r\n")
        else:
            request.protocol.write(bytes(data))
        await request.protocol.drain()

    async def drain(self) -> None:
        if self._request is not None:
            await self._request.protocol.drain()

    async def write_eof(self, data: bytes = b"") -> None:
        if self._eof:
            return
        if data:
            await self.write(data)
        self._eof = True
        request = self._request
        if request is not None and self._chunked and not self._bodyless:
            request.protocol.write(b"0\r\n\r\n")
            await request.protocol.drain()


class Response(StreamResponse):
    """A response whose whole body is known when the handler returns it."""

    def __init__(self, *, body: bytes | bytearray | None = None, status: int = 200,
                 reason: str | None = None, text: str | None = None,
                 headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
                 content_type: str | None = None, charset: str | None = None) -> None:
        super().__init__(status=status, reason=reason, headers=headers)
        if text is not None:
            if body is not None:
                raise ValueError("body and text are not allowed together")
            charset = charset or "utf-8"
            body = text.encode(charset)
            content_type = content_type or "text/plain"
        if content_type is not None:
            if "Content-Type" in self.headers:
                raise ValueError("content_type and a Content-Type header are not allowed together")
            self.headers["Content-Type"] = f"{content_type}; charset={charset}" if charset else content_type
        self.body = bytes(body) if body is not None else None

    @property
    def text(self) -> str | None:
        return None if self.body is None else self.body.decode("utf-8", "replace")

    async def prepare(self, request: Request) -> None:
        if not self.prepared and self.status not in _NO_BODY and self.status >= 200:
            self.headers["Content-Length"] = str(len(self.body or b""))
        await super().prepare(request)

    async def write_eof(self, data: bytes = b"") -> None:
        if self.body and not self._eof:
            await self.write(self.body)
        await super().write_eof(data)


def json_response(data: Any, *, status: int = 200, reason: str | None = None,
                  headers: Mapping[str, str] | None = None, content_type: str = "application/json",
                  dumps: Callable[[Any], str] = json.dumps) -> Response:
    return Response(text=dumps(data), status=status, reason=reason, headers=headers,
                    content_type=content_type)


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_date_cache: tuple[int, str] = (0, "")


def http_date() -> str:
    """The Date header's text (RFC 9110's IMF-fixdate), made once a second."""
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        t = time.gmtime(now)
        _date_cache = (now, f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year} "
                            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT")
    return _date_cache[1]


class _Unmatched(dict[str, str]):
    template: str | None = None


_NO_MATCH: Any = _Unmatched()

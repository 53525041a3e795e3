"""HTTP/1.1 to an engine over any endpoint stream, in a few lines of our own.

Issue 10 gives a command 0.1 s to start. httpx cost about 0.1 s of imports, and even the standard
library's ``http.client`` costs a quarter of the budget (it imports ``email`` to parse headers and
``ssl`` for HTTPS). The CLI needs little: one request at a time per connection, keep-alive, bodies of
known length or chunked both ways, streamed as they arrive. The stream comes from
:func:`~dockyard.cli.endpoint.open_socket` (unix, tcp, TLS or ssh alike).
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from dockyard.cli.endpoint import Endpoint, Stream, open_socket

_CHUNK = 65536
_MAX_HEAD = 1 << 20
_NO_BODY = (204, 304)


class ProtocolError(OSError):
    """The daemon's reply is not HTTP/1.1 as we read it."""


class Disconnected(ConnectionResetError):
    """The connection closed before a response head: an idle keep-alive connection the daemon
    dropped, for a reused connection."""


class Headers(dict[str, str]):
    """Header names folded to lower case; :meth:`get` takes any case."""

    def get(self, name: str, default: Any = None) -> Any:
        return super().get(name.lower(), default)

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(name.lower())


class Connection:
    """One stream to the engine, with the bytes read past what the current parse needed."""

    def __init__(self, endpoint: Endpoint, timeout: float | None) -> None:
        self.stream: Stream = open_socket(endpoint, timeout)
        self._buffer = bytearray()
        self.closed = False

    def send(self, method: str, target: str, body: bytes | Iterable[bytes] | None,
             headers: dict[str, str]) -> None:
        lines = [f"{method} {target} HTTP/1.1", "Host: docker"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if isinstance(body, bytes):
            lines.append(f"Content-Length: {len(body)}")
        elif body is not None:
            lines.append("Transfer-Encoding: chunked")
        elif method in ("POST", "PUT"):
            lines.append("Content-Length: 0")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if isinstance(body, bytes) or body is None:
            self.stream.sendall(head + (body or b""))
            return
        self.stream.sendall(head)
        for chunk in body:
            if chunk:
                self.stream.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        self.stream.sendall(b"0\r\n\r\n")

    def _fill(self) -> bool:
        data = self.stream.recv(_CHUNK)
        self._buffer += data
        return bool(data)

    def readline(self) -> bytes:
        while (end := self._buffer.find(b"\r\n")) < 0:
            if len(self._buffer) > _MAX_HEAD:
                raise ProtocolError("response line too long")
            if not self._fill():
                raise Disconnected("connection closed by the daemon")
        line = bytes(self._buffer[:end])
        del self._buffer[:end + 2]
        return line

    def read_some(self, limit: int) -> bytes:
        """Up to ``limit`` bytes: what is buffered, else one read from the stream."""
        if not self._buffer and not self._fill():
            return b""
        data = bytes(self._buffer[:limit])
        del self._buffer[:limit]
        return data

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.stream.close()


class Response:
    """A response whose body is read on demand: the part of ``httpx.Response`` the CLI uses."""

    def __init__(self, connection: Connection, method: str,
                 release: Callable[[bool], None] | None = None) -> None:
        self._conn = connection
        self._release = release  # called once: True when the connection may serve another request
        self._content: bytes | None = None
        self._read_head()
        self._left: int | None  # bytes left of the body (of the current chunk when chunked)
        if method == "HEAD" or self.status_code in _NO_BODY or self.status_code < 200:
            self._mode, self._left = "length", 0
        elif "chunked" in self.headers.get("transfer-encoding", "").lower():
            self._mode, self._left = "chunked", None
        elif "content-length" in self.headers:
            self._mode, self._left = "length", int(self.headers["content-length"])
        else:
            self._mode, self._left = "close", None
        self.will_close = (self._mode == "close" or self._version == "HTTP/1.0"
                           or self.headers.get("connection", "").lower() == "close")
        self._at_end = self._left == 0

    def _read_head(self) -> None:
        version, _, rest = self._conn.readline().decode("latin-1").partition(" ")
        code, _, reason = rest.partition(" ")
        if not version.startswith("HTTP/") or not code.isdigit():
            raise ProtocolError(f"malformed HTTP status line: {version} {rest}")
        self._version, self.status_code, self.reason_phrase = version, int(code), reason
        self.headers = Headers()
        while line := self._conn.readline():
            name, _, value = line.decode("latin-1").partition(":")
            self.headers[name.strip().lower()] = value.strip()

    def read1(self, limit: int = _CHUNK) -> bytes:
        """The next bytes of the body as they arrive, ``b""`` at its end."""
        if self._at_end:
            return b""
        if self._mode == "chunked" and not self._left:
            if self._left == 0:
                self._conn.readline()  # the CRLF after the previous chunk
            size = int(self._conn.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self._conn.readline():  # trailers, up to the blank line
                    pass
                return self._end()
            self._left = size
        want = limit if self._left is None else min(limit, self._left)
        data = self._conn.read_some(want)
        if not data:
            if self._mode == "close":
                return self._end()
            raise Disconnected("connection closed in the middle of a response body")
        if self._left is not None:
            self._left -= len(data)
            if self._left == 0 and self._mode == "length":
                self._end()
        return data

    def _end(self) -> bytes:
        self._at_end = True
        self._done(True)
        return b""

    def _done(self, complete: bool) -> None:
        if self._release is not None:
            release, self._release = self._release, None
            release(complete and not self.will_close)

    def read(self) -> bytes:
        if self._content is None:
            self._content = b"".join(iter(self.read1, b""))
            self._done(True)
        return self._content

    @property
    def content(self) -> bytes:
        return self.read()

    @property
    def text(self) -> str:
        return self.read().decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.read())

    def iter_raw(self, chunk_size: int = _CHUNK) -> Iterator[bytes]:
        """Bytes as they arrive, so ``logs -f`` is never held back waiting for a full buffer."""
        if self._content is not None:
            if self._content:
                yield self._content
            return
        while chunk := self.read1(chunk_size):
            yield chunk
        self._content = b""

    iter_bytes = iter_raw

    def iter_text(self) -> Iterator[str]:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        for chunk in self.iter_raw():
            if text := decoder.decode(chunk):
                yield text
        if tail := decoder.decode(b"", final=True):
            yield tail

    def close(self) -> None:
        # A body left unread (a stream cut short) leaves the connection mid-response: not reusable.
        self._done(self._at_end)


Body = bytes | Iterable[bytes] | None


class Pool:
    """One idle keep-alive connection, reused once a response was read to its end; a request made
    while another's body is still streaming gets a connection of its own."""

    def __init__(self, endpoint: Endpoint, timeout: float | None) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self._idle: Connection | None = None

    def send(self, method: str, target: str, body: Body, headers: dict[str, str]) -> Response:
        connection, self._idle = self._idle, None
        reused = connection is not None
        try:
            if connection is None:
                connection = Connection(self.endpoint, self.timeout)
            try:
                return self._exchange(connection, method, target, body, headers)
            except (Disconnected, BrokenPipeError):
                if not reused or not (body is None or isinstance(body, bytes)):
                    raise
                # The daemon dropped an idle keep-alive connection: the request never arrived.
                connection.close()
                connection = Connection(self.endpoint, self.timeout)
                return self._exchange(connection, method, target, body, headers)
        except BaseException:
            if connection is not None:
                connection.close()
            raise

    def _exchange(self, connection: Connection, method: str, target: str, body: Body,
                  headers: dict[str, str]) -> Response:
        connection.send(method, target, body, headers)
        return Response(connection, method, lambda reusable: self._release(connection, reusable))

    def _release(self, connection: Connection, reusable: bool) -> None:
        if reusable and self._idle is None and not connection.closed:
            self._idle = connection
        else:
            connection.close()

    def close(self) -> None:
        if self._idle is not None:
            self._idle.close()
            self._idle = None

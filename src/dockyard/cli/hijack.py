"""Hijacked streams (attach, exec, ``run -i``): a raw socket after ``101 UPGRADED``.

httpx cannot hand over its connection, so the request is written by hand with ``Connection: Upgrade``
and ``Upgrade: tcp``, as docker's client does. Afterwards bytes flow both ways: stdin to the socket,
ending in a half-close so the container sees EOF while its output keeps coming; socket to
stdout/stderr, demultiplexed from 8-byte frame headers when the container has no TTY.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO
from urllib.parse import quote, urlencode

from dockyard.cli.detach import DetachScanner
from dockyard.cli.endpoint import Endpoint, Stream, open_socket
from dockyard.cli.errors import DaemonError

_HEADER = struct.Struct(">BxxxI")
STDIN, STDOUT, STDERR = 0, 1, 2


@dataclass
class FrameDemuxer:
    """Incremental decoder of the multiplexed stream: ``[stream, 0, 0, 0, length BE32] payload``."""

    _buffer: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> Iterator[tuple[int, bytes]]:
        self._buffer += data
        while len(self._buffer) >= _HEADER.size:
            stream, length = _HEADER.unpack_from(self._buffer)
            end = _HEADER.size + length
            if len(self._buffer) < end:
                return
            payload = bytes(self._buffer[_HEADER.size:end])
            del self._buffer[:end]
            yield stream, payload

    @property
    def pending(self) -> int:
        return len(self._buffer)


def frame(stream: int, payload: bytes) -> bytes:
    """Encode one frame; the daemon side does this, tests and fakes use it."""
    return _HEADER.pack(stream, len(payload)) + payload


def write_output(data: bytes, demux: FrameDemuxer, *, tty: bool, stdout: BinaryIO, stderr: BinaryIO) -> None:
    """Output of a container (attach, logs) to the terminal: with a TTY the bytes as they come,
    without one each frame to the stream it names, flushed at once as the docker CLI does."""
    if tty:
        stdout.write(data)
        stdout.flush()
        return
    for stream, payload in demux.feed(data):
        out = stderr if stream == STDERR else stdout
        out.write(payload)
        out.flush()


def _read_head(sock: Stream) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise DaemonError(500, "connection closed before the response head")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 500
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, rest


def _read_error(sock: Stream, status: int, headers: dict[str, str], rest: bytes) -> DaemonError:
    length = int(headers.get("content-length", "0") or 0)
    body = rest
    sock.settimeout(5)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    try:
        message = str(json.loads(body)["message"])
    except (ValueError, KeyError, TypeError):
        message = body.decode(errors="replace").strip() or f"status {status}"
    return DaemonError(status, message)


def hijack(endpoint: Endpoint, path: str, params: Sequence[tuple[str, str]] = (),
           body: bytes | None = None) -> tuple[Stream, bytes]:
    """POST ``path`` with an upgrade; return the stream and any stream bytes already read."""
    sock = open_socket(endpoint)
    target = quote(path) + ("?" + urlencode(list(params)) if params else "")
    payload = body or b""
    head = (f"POST {target} HTTP/1.1\r\nHost: docker\r\nUser-Agent: dockyard-cli\r\n"
            "Connection: Upgrade\r\nUpgrade: tcp\r\n"
            f"Content-Type: {'application/json' if body else 'text/plain'}\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n")
    try:
        sock.sendall(head.encode() + payload)
        status, headers, rest = _read_head(sock)
        # docker's client accepts 200 from old daemons that do not answer 101.
        if status >= 400:
            raise _read_error(sock, status, headers, rest)
    except BaseException:
        sock.close()
        raise
    return sock, rest


class StreamPump:
    """Copy stdin → socket in a thread and socket → stdout/stderr in the caller's thread."""

    def __init__(self, sock: Stream, initial: bytes, *, tty: bool,
                 stdout: BinaryIO, stderr: BinaryIO, detach_keys: bytes = b"") -> None:
        self.sock = sock
        self.initial = initial
        self.tty = tty
        self.stdout = stdout
        self.stderr = stderr
        self.detach_keys = detach_keys
        self.detached = False

    def start_stdin(self, stdin_fd: int, on_eof: Callable[[], None] | None = None) -> threading.Thread:
        thread = threading.Thread(target=self._pump_stdin, args=(stdin_fd, on_eof), daemon=True)
        thread.start()
        return thread

    def _pump_stdin(self, stdin_fd: int, on_eof: Callable[[], None] | None) -> None:
        scanner = DetachScanner(self.detach_keys) if self.detach_keys else None
        try:
            while True:
                data = os.read(stdin_fd, 65536)
                if not data:
                    break
                detached = False
                if scanner is not None:
                    data, detached = scanner.feed(data)
                if data:
                    self.sock.sendall(data)
                if detached:
                    # The container keeps running: stop streaming both ways, no stdin EOF.
                    self.detached = True
                    self.sock.shutdown(socket.SHUT_RDWR)
                    return
        except OSError:
            return
        try:
            # Half-close: the container reads EOF on stdin and its output keeps flowing back.
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        if on_eof is not None:
            on_eof()

    def copy_output(self) -> None:
        demux = FrameDemuxer()
        data = self.initial
        while True:
            if data:
                self._write(demux, data)
            try:
                data = self.sock.recv(65536)
            except OSError:
                break
            if not data:
                break

    def _write(self, demux: FrameDemuxer, data: bytes) -> None:
        write_output(data, demux, tty=self.tty, stdout=self.stdout, stderr=self.stderr)

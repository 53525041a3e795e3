"""The 8-byte frame demultiplexer and the hand-written upgrade request."""

from __future__ import annotations

import io
import socket
import threading
from pathlib import Path

import pytest

from dockyard.cli.client import DaemonError
from dockyard.cli.endpoint import Endpoint
from dockyard.cli.hijack import FrameDemuxer, StreamPump, frame, hijack


def test_demuxer_splits_frames_across_arbitrary_chunks() -> None:
    data = frame(1, b"hello\n") + frame(2, b"err\n") + frame(1, b"") + frame(1, b"x" * 70000)
    for size in (1, 3, 8, 9, 4096, len(data)):
        demux = FrameDemuxer()
        got: list[tuple[int, bytes]] = []
        for start in range(0, len(data), size):
            got.extend(demux.feed(data[start:start + size]))
        assert got == [(1, b"hello\n"), (2, b"err\n"), (1, b""), (1, b"x" * 70000)]
        assert demux.pending == 0


def test_demuxer_keeps_an_incomplete_frame() -> None:
    demux = FrameDemuxer()
    assert list(demux.feed(frame(1, b"abcdef")[:10])) == []
    assert demux.pending == 10
    assert list(demux.feed(b"cdef")) == [(1, b"abcdef")]


def _serve_once(path: Path, reply: bytes, received: list[bytes]) -> threading.Thread:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)

    def run() -> None:
        try:
            serve(*server.accept())
        except OSError:
            pass  # the client hung up after an error reply
        finally:
            server.close()

    def serve(conn: socket.socket, _: object) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            data += conn.recv(4096)
        conn.sendall(reply)
        # Read stdin until the client's half-close, then answer and close.
        rest = data.partition(b"\r\n\r\n")[2]
        while chunk := conn.recv(4096):
            rest += chunk
        received.append(data.partition(b"\r\n\r\n")[0])
        received.append(rest)
        conn.sendall(frame(1, b"got " + rest))
        conn.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_hijack_upgrades_pumps_stdin_with_half_close_and_demuxes(tmp_path: Path) -> None:
    received: list[bytes] = []
    head = b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
    thread = _serve_once(tmp_path / "s.sock", head + frame(2, b"early\n"), received)
    sock, initial = hijack(Endpoint(f"unix://{tmp_path / 's.sock'}"), "/v1.50/containers/c1/attach",
                           [("stream", "1"), ("stdin", "1")])
    stdin_r, stdin_w = socket.socketpair()
    stdin_w.sendall(b"typed input")
    stdin_w.shutdown(socket.SHUT_WR)
    out, err = io.BytesIO(), io.BytesIO()
    pump = StreamPump(sock, initial, tty=False, stdout=out, stderr=err)  # type: ignore[arg-type]
    pump.start_stdin(stdin_r.fileno())
    pump.copy_output()
    thread.join(5)
    request_head = received[0].decode()
    assert request_head.startswith("POST /v1.50/containers/c1/attach?stream=1&stdin=1 HTTP/1.1")
    assert "Upgrade: tcp" in request_head and "Connection: Upgrade" in request_head
    assert received[1] == b"typed input"
    assert (out.getvalue(), err.getvalue()) == (b"got typed input", b"early\n")


def test_hijack_error_status_is_a_daemon_error(tmp_path: Path) -> None:
    body = b'{"message":"No such container: nope"}'
    reply = b"HTTP/1.1 404 Not Found\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    received: list[bytes] = []
    _serve_once(tmp_path / "s.sock", reply, received)
    with pytest.raises(DaemonError) as info:
        hijack(Endpoint(f"unix://{tmp_path / 's.sock'}"), "/containers/nope/attach")
    assert str(info.value) == "Error response from daemon: No such container: nope"
    assert info.value.http_status == 404

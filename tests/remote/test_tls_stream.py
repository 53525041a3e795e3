"""Our CLI's TLS stream (cli/tls_stream.py) against a plain TLS server: the half-close (our
close_notify) keeps every byte the server sent before and after it, with stdin and output on two
threads as in ``run -i``."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable, Iterator

import pytest

from dockyard.cli.tls_stream import TlsStream
from remote.certs import Certs, make_certs

Serve = Callable[[ssl.SSLSocket], None]


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("stream-certs"))


@pytest.fixture
def connect(certs: Certs) -> Iterator[Callable[[Serve], TlsStream]]:
    """A one-connection TLS server on 127.0.0.1 running ``serve``; returns our client stream to it."""
    threads: list[threading.Thread] = []
    errors: list[BaseException] = []

    def start(serve: Serve) -> TlsStream:
        server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server.load_cert_chain(certs.server_cert, certs.server_key)
        listener = socket.create_server(("127.0.0.1", 0))

        def run() -> None:
            try:
                raw, _ = listener.accept()
                with server.wrap_socket(raw, server_side=True) as conn:
                    serve(conn)
            except BaseException as exc:  # reported by the test, not lost in the thread
                errors.append(exc)
            finally:
                listener.close()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        threads.append(thread)
        client = ssl.create_default_context(cafile=str(certs.ca))
        sock = socket.create_connection(listener.getsockname(), timeout=30)
        return TlsStream(sock, client, "127.0.0.1", "tcp://127.0.0.1")

    yield start
    for thread in threads:
        thread.join(30)
    assert not errors, errors


def read_all(stream: TlsStream) -> bytes:
    data = b""
    while chunk := stream.recv(65536):
        data += chunk
    return data


def read_to_close_notify(conn: ssl.SSLSocket) -> bytes:
    data = b""
    while chunk := conn.recv(65536):
        data += chunk
    return data


def test_close_notify_keeps_output_already_received(connect: Callable[[Serve], TlsStream]) -> None:
    """Output that reached the client before its half-close, read or not, is all delivered."""
    sent = threading.Event()

    def serve(conn: ssl.SSLSocket) -> None:
        for i in range(8):
            conn.sendall(b"before-%d\n" % i)  # one TLS record each
        sent.set()
        assert read_to_close_notify(conn) == b"stdin"
        conn.sendall(b"after\n")
        conn.unwrap()

    stream = connect(serve)
    stream.sendall(b"stdin")
    assert sent.wait(30)
    # One byte: OpenSSL now holds the rest of a record and more records wait unread.
    first = stream.recv(1)
    stream.shutdown(socket.SHUT_WR)
    output = first + read_all(stream)
    stream.close()
    assert output == b"".join(b"before-%d\n" % i for i in range(8)) + b"after\n"


def test_stdin_and_output_on_two_threads(connect: Callable[[Serve], TlsStream]) -> None:
    """The server echoes; a thread writes while the caller reads, then half-closes."""
    payload = bytes(range(256)) * 8192  # 2 MiB in many records each way

    def serve(conn: ssl.SSLSocket) -> None:
        while chunk := conn.recv(65536):
            conn.sendall(chunk)
        conn.sendall(b"end")
        conn.unwrap()

    stream = connect(serve)

    def pump() -> None:
        for start in range(0, len(payload), 4096):
            stream.sendall(payload[start:start + 4096])
        stream.shutdown(socket.SHUT_WR)

    writer = threading.Thread(target=pump)
    writer.start()
    echoed = read_all(stream)
    writer.join(30)
    stream.close()
    assert echoed == payload + b"end"

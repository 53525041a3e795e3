"""A blocking TLS stream that can half-close, as Go's ``tls.Conn.CloseWrite`` does.

``ssl.SSLSocket.shutdown(SHUT_WR)`` drops the TLS layer and ``unwrap()`` waits for the peer's own
close_notify, so neither can end stdin of ``exec -i`` while output keeps coming. Driving OpenSSL
through memory BIOs lets :meth:`shutdown` send close_notify and go on reading, which TLS allows.

A hijacked stream is used by two threads at once (stdin → daemon, daemon → stdout). OpenSSL's
objects are not thread-safe and Python lets go of the GIL inside them, so every use of the TLS
object and its BIOs holds one lock, and encrypted records go to the socket in the order they were
made (records out of order fail the peer's integrity check and end the connection).
"""

from __future__ import annotations

import socket
import ssl
import threading

from dockyard.cli.errors import ConnectFailed

_CHUNK = 65536


class TlsStream:
    """Socket-like (``sendall``/``recv``/``shutdown``/``close``) TLS client over a connected socket."""

    def __init__(self, sock: socket.socket, context: ssl.SSLContext, server_name: str, host: str) -> None:
        self._sock = sock
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._in, self._out, server_hostname=server_name or None)
        self._state = threading.Lock()  # the TLS object and both BIOs
        self._sending = threading.Lock()  # held from taking records out of ``_out`` to their send
        self._plain = bytearray()  # decrypted bytes taken out of OpenSSL before our close_notify
        self._write_closed = False
        self._eof = False  # the socket's end was passed to OpenSSL
        try:
            self._handshake()
        except ssl.SSLError as exc:
            sock.close()
            raise ConnectFailed(host, f"tls: {exc.reason or exc}") from exc
        except OSError as exc:
            sock.close()
            raise ConnectFailed(host, f"tls handshake: {exc}") from exc

    def _handshake(self) -> None:
        while True:
            try:
                with self._state:
                    self._tls.do_handshake()
                self._flush()
                return
            except ssl.SSLWantReadError:
                self._flush()
                if not self._fill():
                    raise ConnectionResetError("TLS peer closed during handshake") from None

    def _flush(self) -> None:
        with self._sending:
            with self._state:
                data = self._out.read()
            if data:
                self._sock.sendall(data)

    def _fill(self) -> bool:
        data = self._sock.recv(_CHUNK)
        with self._state:
            if not data:
                self._eof = True
                self._in.write_eof()
                return False
            self._in.write(data)
        return True

    def sendall(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            with self._state:
                written = self._tls.write(view[:_CHUNK])
            view = view[written:]
            self._flush()

    def recv(self, size: int) -> bytes:
        while True:
            with self._state:
                if self._plain:
                    data = bytes(self._plain[:size])
                    del self._plain[:size]
                    return data
                try:
                    return self._tls.read(size)
                except ssl.SSLWantReadError:
                    answer = self._out.pending > 0  # e.g. a TLS 1.3 key update to acknowledge
                except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                    return b""  # the daemon's close_notify, or the connection's end
            if answer:
                self._flush()
            if not self._fill():
                return b""

    def shutdown(self, how: int) -> None:
        if how == socket.SHUT_RDWR:
            self._sock.shutdown(how)
            return
        with self._state:
            if self._write_closed:
                return
            self._write_closed = True
            self._send_close_notify()
        self._flush()

    def _send_close_notify(self) -> None:
        """Queue our close_notify and keep every byte the daemon sent (``_state`` held).

        ``unwrap()`` calls SSL_shutdown a second time, which reads the peer's records looking for
        its close_notify and fails on application data (APPLICATION_DATA_AFTER_CLOSE_NOTIFY),
        killing the session with the output still to come. So it is given nothing to read: the
        decrypted bytes OpenSSL holds are taken out first, the undecrypted ones set aside.
        """
        while pending := self._tls.pending():
            self._plain += self._tls.read(pending)
        unread = self._in.read()
        try:
            self._tls.unwrap()
        except ssl.SSLWantReadError:
            pass  # expected: the daemon's close_notify comes when its output ends
        except ssl.SSLError:
            pass  # the session was already over; the next recv reports how
        if unread and not self._eof:
            self._in.write(unread)

    def settimeout(self, timeout: float | None) -> None:
        self._sock.settimeout(timeout)

    def close(self) -> None:
        self._sock.close()

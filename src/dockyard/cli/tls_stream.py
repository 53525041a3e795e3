"""A blocking TLS stream that can half-close, as Go's ``tls.Conn.CloseWrite`` does.

``ssl.SSLSocket.shutdown(SHUT_WR)`` drops the TLS layer and ``unwrap()`` waits for the peer's own
close_notify, so neither can end stdin of ``exec -i`` while output keeps coming. Driving OpenSSL
through memory BIOs lets :meth:`shutdown` send close_notify and go on reading, which TLS allows.
"""

from __future__ import annotations

import socket
import ssl

from dockyard.cli.errors import ConnectFailed

_CHUNK = 65536


class TlsStream:
    """Socket-like (``sendall``/``recv``/``shutdown``/``close``) TLS client over a connected socket."""

    def __init__(self, sock: socket.socket, context: ssl.SSLContext, server_name: str, host: str) -> None:
        self._sock = sock
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._in, self._out, server_hostname=server_name or None)
        self._write_closed = False
        try:
            self._drive(self._tls.do_handshake)
        except ssl.SSLError as exc:
            sock.close()
            raise ConnectFailed(host, f"tls: {exc.reason or exc}") from exc
        except OSError as exc:
            sock.close()
            raise ConnectFailed(host, f"tls handshake: {exc}") from exc

    def _flush(self) -> None:
        data = self._out.read()
        if data:
            self._sock.sendall(data)

    def _fill(self) -> bool:
        data = self._sock.recv(_CHUNK)
        if not data:
            self._in.write_eof()
            return False
        self._in.write(data)
        return True

    def _drive(self, step: object) -> None:
        while True:
            try:
                step()  # type: ignore[operator]
                self._flush()
                return
            except ssl.SSLWantReadError:
                self._flush()
                if not self._fill():
                    raise ConnectionResetError("TLS peer closed during handshake") from None

    def sendall(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = self._tls.write(view[:_CHUNK])
            view = view[written:]
            self._flush()

    def recv(self, size: int) -> bytes:
        while True:
            try:
                return self._tls.read(size)
            except ssl.SSLWantReadError:
                self._flush()
                if not self._fill():
                    return b""
            except ssl.SSLZeroReturnError:
                return b""  # the daemon's close_notify
            except ssl.SSLEOFError:
                return b""

    def shutdown(self, how: int) -> None:
        if how == socket.SHUT_RDWR:
            self._sock.shutdown(how)
            return
        if self._write_closed:
            return
        self._write_closed = True
        try:
            self._tls.unwrap()  # queues our close_notify; the peer's arrives later, if ever
        except (ssl.SSLWantReadError, ssl.SSLError):
            pass
        self._flush()

    def settimeout(self, timeout: float | None) -> None:
        self._sock.settimeout(timeout)

    def close(self) -> None:
        self._sock.close()

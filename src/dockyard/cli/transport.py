"""httpx transports for every endpoint kind: UNIX socket, tcp (plain or TLS) and ssh.

unix and tcp use httpx's own transport; ssh has no socket address, so an httpcore network backend
hands httpx the stream of an ``ssh … docker system dial-stdio`` process for each connection.
"""

from __future__ import annotations

import ssl
from typing import Any

import httpcore
import httpx

from dockyard.cli.endpoint import Endpoint, Stream, client_ssl_context, open_socket
from dockyard.cli.errors import CliError


class _StreamAdapter(httpcore.NetworkStream):
    def __init__(self, stream: Stream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self._stream.settimeout(timeout)
        try:
            return self._stream.recv(max_bytes)
        except TimeoutError as exc:
            raise httpcore.ReadTimeout(str(exc)) from exc
        except OSError as exc:
            raise httpcore.ReadError(str(exc)) from exc

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.settimeout(timeout)
        try:
            self._stream.sendall(buffer)
        except OSError as exc:
            raise httpcore.WriteError(str(exc)) from exc

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("TLS over an ssh endpoint is not used")

    def get_extra_info(self, info: str) -> Any:
        return None


class EndpointBackend(httpcore.NetworkBackend):
    """Every connection, whatever address httpx asks for, goes to the endpoint."""

    def __init__(self, endpoint: Endpoint) -> None:
        self._endpoint = endpoint

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Any = None) -> httpcore.NetworkStream:
        return _StreamAdapter(open_socket(self._endpoint, timeout))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Any = None) -> httpcore.NetworkStream:
        return _StreamAdapter(open_socket(self._endpoint, timeout))

    def sleep(self, seconds: float) -> None:
        import time

        time.sleep(seconds)


def httpx_transport(endpoint: Endpoint) -> httpx.BaseTransport:
    scheme = endpoint.scheme
    if scheme == "unix":
        path = endpoint.host if endpoint.host.startswith("/") else endpoint.host[len("unix://"):]
        return httpx.HTTPTransport(uds=path)
    if scheme == "tcp":
        if endpoint.tls is None:
            return httpx.HTTPTransport()
        return httpx.HTTPTransport(verify=client_ssl_context(endpoint.tls))
    if scheme != "ssh":
        raise CliError(f"unsupported host {endpoint.host!r}: use unix://, tcp:// or ssh://", 125)
    transport = httpx.HTTPTransport()
    # httpx has no public way to pass a network backend; its pool is an httpcore ConnectionPool.
    transport._pool = httpcore.ConnectionPool(network_backend=EndpointBackend(endpoint))
    return transport


"""Addresses and connections the network drivers share (``udp://``, ``tcp://``, ``unix://``…)."""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from dockyard.errors import InvalidArgument

_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class Address:
    scheme: str  # udp, tcp, tcp+tls, unix, unixgram
    host: str
    port: int
    path: str

    def connect(self, tls: ssl.SSLContext | None = None) -> socket.socket:
        """A connected blocking socket with a timeout (the shipper runs in a thread)."""
        if self.scheme in ("unix", "unixgram"):
            sock = socket.socket(socket.AF_UNIX,
                                 socket.SOCK_STREAM if self.scheme == "unix" else socket.SOCK_DGRAM)
            sock.settimeout(_TIMEOUT)
            try:
                sock.connect(self.path)
            except OSError:
                sock.close()
                raise
            return sock
        if self.scheme == "udp":
            infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)
            family, kind, proto, _, addr = infos[0]
            sock = socket.socket(family, kind, proto)
            sock.settimeout(_TIMEOUT)
            sock.connect(addr)
            return sock
        sock = socket.create_connection((self.host, self.port), timeout=_TIMEOUT)
        if self.scheme == "tcp+tls":
            context = tls or ssl.create_default_context()
            return context.wrap_socket(sock, server_hostname=self.host)
        return sock


def parse_address(value: str, *, schemes: tuple[str, ...], default_port: int, what: str) -> Address:
    if "://" not in value:
        raise InvalidArgument(f"{what}: {value!r} should be in form proto://address")
    parts = urlsplit(value)
    scheme = parts.scheme.lower()
    if scheme not in schemes:
        raise InvalidArgument(f"{what}: unsupported scheme: '{scheme}'")
    if scheme in ("unix", "unixgram"):
        if not parts.path:
            raise InvalidArgument(f"{what}: {value!r} has no socket path")
        return Address(scheme, "", 0, parts.path)
    try:
        port = parts.port or default_port
    except ValueError as exc:
        raise InvalidArgument(f"{what}: invalid port in {value!r}") from exc
    return Address(scheme, parts.hostname or "127.0.0.1", port, "")

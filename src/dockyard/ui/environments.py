"""Environments: the engines the UI manages, each reached through the Engine API only.

An *environment* is a name and an *endpoint* (``unix:///path``, ``tcp://host:port`` with TLS, a
docker context, ``ssh://``). What the UI needs from an endpoint is two things: an aiohttp connector
for ordinary requests and streams, and a raw byte stream for hijacked exec sessions. Both come from
:class:`Transport`; :func:`open_transport` picks one for an endpoint.

The seam for remote engines is :data:`REMOTE_CONNECTORS`: the CLI's remote-transport work (docker
contexts, ``ssh://``) registers a factory per scheme there, and every page of the UI uses it
unchanged. Until one is registered, such an endpoint is refused with a clear message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

import aiohttp

from dockyard.cli.contexts import ContextStore, context_endpoint
from dockyard.cli.endpoint import DEFAULT_HOST, TlsConfig, client_ssl_context


class EnvironmentError_(Exception):
    """An environment that cannot be configured or reached; the message is shown as is."""


class Transport(Protocol):
    """How one engine is reached."""

    @property
    def endpoint(self) -> str:
        """The address as the user gave it (``unix:///…``, ``tcp://…``, ``ssh://…``)."""

    def connector(self) -> aiohttp.BaseConnector:
        """The connector of an ``aiohttp.ClientSession`` (requests and streamed responses)."""

    async def open_stream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A fresh connection for one hijacked request (exec)."""


@dataclass(frozen=True, slots=True)
class UnixTransport:
    endpoint: str

    @property
    def path(self) -> str:
        return self.endpoint if self.endpoint.startswith("/") else self.endpoint.removeprefix("unix://")

    def connector(self) -> aiohttp.BaseConnector:
        return aiohttp.UnixConnector(path=self.path)

    async def open_stream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_unix_connection(self.path)


@dataclass(frozen=True, slots=True)
class TcpTransport:
    """``tcp://host:port``: always over TLS (the CLI's ``--tls*`` material); a plain-text engine
    socket is not offered."""

    endpoint: str
    tls: TlsConfig

    def _address(self) -> tuple[str, int]:
        parts = urlsplit(self.endpoint)
        if not parts.hostname:
            raise EnvironmentError_(f"invalid endpoint {self.endpoint!r}")
        return parts.hostname, parts.port or 2376

    def connector(self) -> aiohttp.BaseConnector:
        return aiohttp.TCPConnector(ssl=client_ssl_context(self.tls))

    def base_url(self) -> str:
        host, port = self._address()
        return f"https://{host}:{port}"

    async def open_stream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        host, port = self._address()
        return await asyncio.open_connection(host, port, ssl=client_ssl_context(self.tls),
                                             server_hostname=host)


def _context_transport(endpoint: str) -> Transport:
    """``context:NAME``: the docker context's endpoint, read from the CLI's context store (shared
    with the docker CLI), as a unix or TLS tcp transport."""
    name = endpoint.split(":", 1)[1]
    store = ContextStore()
    try:
        target = context_endpoint(store.get(name), store)
    except Exception as exc:  # noqa: BLE001 - the CLI's error text is what the user needs
        raise EnvironmentError_(f"context {name!r}: {getattr(exc, 'message', exc)}") from exc
    if target.scheme == "unix":
        return UnixTransport(target.host if target.host.startswith("unix://") else f"unix://{target.host}")
    if target.scheme == "tcp" and target.tls is not None:
        return TcpTransport(target.host, target.tls)
    if target.scheme == "ssh":
        return _ssh_transport(target.host)
    raise EnvironmentError_(f"context {name!r}: {target.host} is not reachable from the UI "
                            "(unix://, ssh:// and tcp:// with TLS are)")


def _ssh_transport(endpoint: str) -> Transport:
    from dockyard.ui.ssh_relay import SshTransport

    return SshTransport(endpoint)


# scheme → factory(endpoint) → Transport: docker contexts resolve through the CLI's store; ssh://
# runs the docker CLI's own ssh command (ui/ssh_relay.py).
REMOTE_CONNECTORS: dict[str, Callable[[str], Transport]] = {"context": _context_transport,
                                                            "ssh": _ssh_transport}


def open_transport(endpoint: str, tls: TlsConfig | None = None) -> Transport:
    """The transport for ``endpoint``; ``context:NAME`` names a docker context."""
    scheme = endpoint.split("://", 1)[0] if "://" in endpoint else endpoint.split(":", 1)[0]
    if endpoint.startswith("/") or scheme == "unix":
        return UnixTransport(endpoint if scheme == "unix" else f"unix://{endpoint}")
    if scheme == "tcp":
        if tls is None:
            raise EnvironmentError_(f"{endpoint}: a tcp:// engine needs TLS (--tlscacert/--tlscert/--tlskey)")
        return TcpTransport(endpoint, tls)
    factory = REMOTE_CONNECTORS.get(scheme)
    if factory is None:
        raise EnvironmentError_(f"{endpoint}: {scheme} endpoints are not available in this build "
                                "(the remote transports of the CLI are not installed)")
    return factory(endpoint)


@dataclass(frozen=True, slots=True)
class Environment:
    name: str
    transport: Transport

    @property
    def endpoint(self) -> str:
        return self.transport.endpoint

    def base_url(self) -> str:
        base = getattr(self.transport, "base_url", None)
        return str(base()) if callable(base) else "http://docker"


def parse_environment(spec: str, tls: TlsConfig | None = None) -> Environment:
    """``--env NAME=ENDPOINT`` → an environment (the endpoint is checked, not connected)."""
    name, sep, endpoint = spec.partition("=")
    if not sep or not name or not endpoint:
        raise EnvironmentError_(f"invalid environment {spec!r}: expected NAME=ENDPOINT")
    if not name.replace("-", "").replace("_", "").isalnum():
        raise EnvironmentError_(f"invalid environment name {name!r}: letters, digits, '-' and '_' only")
    return Environment(name, open_transport(endpoint, tls))


def local_environment(host: str | None = None) -> Environment:
    return Environment("local", open_transport(host or DEFAULT_HOST))

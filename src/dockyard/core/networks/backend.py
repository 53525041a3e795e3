"""The Protocols the network service needs: the data path (links, firewall) and the resolver.

``NetworkBackend`` is the seam where libnetwork-style in-process networking (pyroute2 + nftables)
or netavark could plug in: it sees whole networks and endpoints and never decides policy (which
address, which network exists) — the service does.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from dockyard.core.networks.model import Endpoint, NameAnswer, Network, PortBinding, PortConflict

# (key of the querying container, name asked for) -> what to answer
NameLookup = Callable[[str, str], NameAnswer]


class NetworkDriver(Protocol):
    """One driver's data path for its networks and their endpoints."""

    async def check(self) -> None:
        """Raise (with the reason) when the driver cannot work on this host (``ipvlan`` without
        the kernel's ipvlan); ``docker info`` lists only drivers that pass."""
        ...

    async def create_network(self, network: Network) -> None:
        """Bring the network up; idempotent (the built-ins are called again on restore). May set
        driver-owned fields of ``network`` (scope), which the service then records."""
        ...

    async def remove_network(self, network: Network) -> None: ...

    async def attach(self, network: Network, endpoint: Endpoint) -> list[PortBinding]:
        """Plumb the endpoint into its sandbox; returns the port bindings made. May update the
        endpoint's ``mac``, ``veth`` and ``ifname`` before the service records it."""
        ...

    async def detach(self, network: Network, endpoint: Endpoint) -> None: ...


class NetworkBackend(NetworkDriver, Protocol):
    """The host's networking: sandboxes, the bridge driver (also overlay's), restore."""

    async def occupied_subnets(self) -> Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        """Networks routed on the host now (its own routes and every bridge's), both families."""
        ...

    async def create_sandbox(self, key: str, *, source: str = "") -> str:
        """A fresh network namespace with loopback up; returns its path. With ``source`` (a
        ``/proc/<pid>/ns/net``), that existing namespace is kept under the path instead."""
        ...

    async def remove_sandbox(self, key: str) -> None: ...

    async def restore(self, networks: Sequence[Network], endpoints: Sequence[Endpoint]) -> list[PortConflict]:
        """After a daemon restart: make the host match these records exactly (rules rebuilt,
        ports reserved again, leftovers removed). A port that cannot be reserved again is dropped
        from its endpoint (not forwarded) and returned."""
        ...

    async def close(self, *, keep: bool) -> None:
        """Daemon shutdown: ``keep`` leaves bridges and rules for running containers."""
        ...


class Resolver(Protocol):
    """The embedded DNS server at 127.0.0.11 inside a sandbox."""

    async def serve(self, key: str, sandbox: str, lookup: NameLookup) -> None: ...

    async def stop(self, key: str) -> None: ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Route:
    """A static route a remote driver's ``Join`` asks for (libnetwork's StaticRoute): RouteType 0
    is via ``next_hop``, 1 is on-link (connected)."""

    destination: str
    next_hop: str = ""
    connected: bool = False


@dataclass(frozen=True, slots=True)
class InterfaceConfig:
    """How a link is set up once inside a sandbox: its name there, MAC, addresses, routes.
    An empty gateway means no default route of that family."""

    ifname: str
    mac: str = ""
    ip: str = ""
    prefixlen: int = 0
    gateway: str = ""
    ip6: str = ""
    prefixlen6: int = 0
    gateway6: str = ""
    mtu: int = 0
    routes: tuple[Route, ...] = ()


class SandboxLinks(Protocol):
    """Links made on the host by someone else (a macvlan port, a remote plugin's veth end) moved
    into a sandbox, as libnetwork's osl does with a driver's ``SrcName``."""

    async def adopt(self, link: str, sandbox: str, config: InterfaceConfig) -> None:
        """Move host link ``link`` into ``sandbox``, renamed and configured; on failure the link
        is left where it was found (the host)."""
        ...

    async def release(self, sandbox: str, ifname: str, *, rename: str = "") -> None:
        """Take ``ifname`` out of the sandbox: back to the host as ``rename`` when given (its
        owner deletes it there), else deleted. Nothing to do when it is gone."""
        ...

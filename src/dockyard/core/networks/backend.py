"""The Protocols the network service needs: the data path (links, firewall) and the resolver.

``NetworkBackend`` is the seam where libnetwork-style in-process networking (pyroute2 + nftables)
or netavark could plug in: it sees whole networks and endpoints and never decides policy (which
address, which network exists) — the service does.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from typing import Protocol

from dockyard.core.networks.model import Endpoint, NameAnswer, Network, PortBinding, PortConflict

# (key of the querying container, name asked for) -> what to answer
NameLookup = Callable[[str, str], NameAnswer]


class NetworkBackend(Protocol):
    async def occupied_subnets(self) -> Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        """Networks routed on the host now (its own routes and every bridge's), both families."""
        ...

    async def create_network(self, network: Network) -> None:
        """Bring the network's bridge and firewall rules up; idempotent (used on restore too)."""
        ...

    async def remove_network(self, network: Network) -> None: ...

    async def create_sandbox(self, key: str, *, source: str = "") -> str:
        """A fresh network namespace with loopback up; returns its path. With ``source`` (a
        ``/proc/<pid>/ns/net``), that existing namespace is kept under the path instead."""
        ...

    async def remove_sandbox(self, key: str) -> None: ...

    async def attach(self, network: Network, endpoint: Endpoint) -> list[PortBinding]:
        """Plumb an endpoint into its sandbox and publish its ports; returns the bindings with
        their host ports chosen. Undoes its own partial work on failure."""
        ...

    async def detach(self, network: Network, endpoint: Endpoint) -> None: ...

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

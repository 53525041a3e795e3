"""The in-process bridge driver: :class:`NetlinkLinks` for the data path, :class:`NftFirewall` for
NAT, ports and isolation, and bound sockets that reserve published host ports.

Host ports are reserved by binding (not listening on) a socket per published port, as moby 28's
port mapper does: a port another process holds, or another container, is refused at start with
Docker's message, and the kernel picks nothing that would collide later. DNAT happens before the
packet could reach the socket, so the socket never sees traffic.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import random
import socket
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from dockyard.backends.iptables import ForwardAccept
from dockyard.backends.netlink import NetlinkLinks
from dockyard.backends.nftables import NftFirewall
from dockyard.backends.port_proxy import PortProxy
from dockyard.backends.rtnetlink import refused
from dockyard.core.networks.model import Endpoint, Network, PortBinding, PortConflict
from dockyard.core.trace import span
from dockyard.errors import Conflict, DockyardError, Unavailable

log = logging.getLogger(__name__)

_IPTABLES_TIMEOUT = 10.0
# Spare sandboxes (network namespaces with loopback up) made ahead of starts, in their own directory
# (NetlinkLinks.spare_dir): a daemon killed with spares left removes them at start (restore) and
# makes new ones. Two cover sequential starts; a parallel burst beyond them makes its own.
POOL_SIZE = 2
POOL_PREFIX = "spare-"
T = TypeVar("T")


def _port_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def _bind(binding: PortBinding) -> socket.socket:
    kind = socket.SOCK_DGRAM if binding.proto == "udp" else socket.SOCK_STREAM
    v6 = ":" in binding.host_ip
    sock = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, kind)
    try:
        if v6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((binding.host_ip or "0.0.0.0", binding.host_port))
    except OSError:
        sock.close()
        raise
    return sock


def reserve_ports(ports: Sequence[PortBinding], owner: str) -> tuple[list[PortBinding], list[socket.socket]]:
    """Bind each host port (choosing a free one for port 0); all or nothing."""
    bound: list[PortBinding] = []
    sockets: list[socket.socket] = []
    try:
        for binding in ports:
            if binding.host_port:
                try:
                    sockets.append(_bind(binding))
                except OSError as exc:
                    raise Conflict(
                        f"driver failed programming external connectivity on endpoint {owner}: "
                        f"Bind for {_host(binding.host_ip)}:{binding.host_port} failed: "
                        "port is already allocated") from exc
                bound.append(binding)
                continue
            chosen = _bind_any(binding)
            sockets.append(chosen[1])
            bound.append(chosen[0])
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return bound, sockets


def _host(address: str) -> str:
    return f"[{address}]" if ":" in address else address or "0.0.0.0"


def _proxied(binding: PortBinding, endpoint: Endpoint) -> bool:
    """Whether a binding needs the userland relay: ``[::1]`` always (no NAT from ::1), another
    IPv6 host address when the container has no IPv6 address to DNAT to."""
    return binding.proto == "tcp" and (binding.host_ip == "::1" or
                                       (":" in binding.host_ip and not endpoint.ip6))


def _bind_any(binding: PortBinding) -> tuple[PortBinding, socket.socket]:
    low, high = _port_range()
    for _ in range(64):
        candidate = replace(binding, host_port=random.randint(low, high))
        with contextlib.suppress(OSError):
            return candidate, _bind(candidate)
    raise Unavailable(f"no free host port for {binding.key} in {low}-{high}")


class BridgeBackend:
    """NetworkBackend over rtnetlink and nftables."""

    def __init__(self, links: NetlinkLinks, firewall: NftFirewall) -> None:
        self._links = links
        self._firewall = firewall
        self._proxy = PortProxy()
        # Written in each bridge's alias: bridges of this daemon's root, told apart from other
        # daemons' after a crash (the table name is already unique per data root).
        self._owner = f"dockyard:{firewall.table}"
        self._accept = ForwardAccept(self._owner)
        self._reserved: dict[str, list[socket.socket]] = {}
        self._networks: dict[str, Network] = {}
        self._endpoints: dict[str, Endpoint] = {}
        self._pool: list[str] = []  # spare sandboxes, ready for the next starts
        self._filling: asyncio.Task[None] | None = None
        self._pool_size = POOL_SIZE  # 0 while draining: a fill in progress stops after its netns

    async def check(self) -> None:
        return None  # bridges, veths and nftables are what the daemon needs to start at all

    async def occupied_subnets(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return await _netlink(self._links.occupied_subnets)

    async def create_network(self, network: Network) -> None:
        if not network.bridged:
            return
        if network.subnet6:
            await asyncio.to_thread(_enable_ipv6_forwarding)
        await self._ensure_bridge(network)
        try:
            await self._firewall.add_network(network)
            await self._accept.add(network.bridge)
        except BaseException:
            await self._remove_bridge(network)
            raise
        self._networks[network.id] = network

    async def remove_network(self, network: Network) -> None:
        if not network.bridged:
            return
        if self._networks.pop(network.id, None) is not None:
            try:
                await self._firewall.remove_network(network)
            except Unavailable as exc:
                log.warning("firewall: %s; rebuilding the table", exc)
                await self._reset()
        await self._accept.remove(network.bridge)
        await self._remove_bridge(network)

    async def _ensure_bridge(self, network: Network) -> None:
        await _netlink(self._links.ensure_bridge, network.bridge, network.gateway,
                       network.prefixlen, gateway6=network.gateway6,
                       prefixlen6=network.prefixlen6, owner=self._owner, mtu=network_mtu(network))

    async def _remove_bridge(self, network: Network) -> None:
        await _netlink(self._links.remove_bridge, network.bridge)

    async def create_sandbox(self, key: str, *, source: str = "") -> str:
        with span("net.netns", key):
            if not source and self._pool:
                pooled = self._pool.pop()
                self._fill_pool()
                try:
                    return self._links.adopt_netns(pooled, key)  # two mount(2) calls: no thread
                except (OSError, DockyardError) as exc:
                    log.warning("pooled sandbox %s unusable: %s", pooled, exc)
                    with contextlib.suppress(OSError, DockyardError):
                        self._links.remove_netns(str(self._links.spare_dir / pooled))
            return await _netlink(self._links.create_netns, key, source)

    def _fill_pool(self) -> None:
        """Make sandboxes ahead of the starts that will want them (see POOL_SIZE)."""
        if self._filling is None or self._filling.done():
            self._filling = asyncio.get_running_loop().create_task(self._fill())

    async def _fill(self) -> None:
        while len(self._pool) < self._pool_size:
            # Fixed slot names: the set of spares looks the same before and after a start.
            name = next(n for n in (f"{POOL_PREFIX}{i}" for i in range(POOL_SIZE + 1))
                        if n not in self._pool)
            try:
                await _netlink(self._links.create_netns, name, spare=True)
            except DockyardError as exc:
                log.warning("could not make a spare sandbox: %s", exc)
                return
            self._pool.append(name)

    async def _drain_pool(self) -> None:
        # Not cancelled: a cancelled to_thread leaves its thread running, which would make one more
        # spare after the listing below (a netns left behind by a stopped daemon).
        self._pool_size = 0
        try:
            if self._filling is not None:
                await asyncio.gather(self._filling, return_exceptions=True)
            self._pool.clear()
            for name in await _netlink(self._links.spares):
                with contextlib.suppress(DockyardError):
                    await _netlink(self._links.remove_netns, str(self._links.spare_dir / name))
        finally:
            self._pool_size = POOL_SIZE

    async def remove_sandbox(self, key: str) -> None:
        with span("net.netns_delete", key):
            await _netlink(self._links.remove_netns, key)

    async def attach(self, network: Network, endpoint: Endpoint) -> list[PortBinding]:
        owner = f"{endpoint.container_name} ({endpoint.id[:12]})"
        cid = endpoint.container_id
        with span("net.ports", cid):
            bound, sockets = await asyncio.to_thread(reserve_ports, endpoint.ports, owner)
        gateway = network.gateway if endpoint.gateway_endpoint and not network.internal else None
        try:
            with span("net.veth", cid):
                await _netlink(
                    self._links.add_endpoint, bridge=network.bridge, veth=endpoint.veth,
                    sandbox=endpoint.sandbox, ifname=endpoint.ifname, ip=endpoint.ip,
                    prefixlen=network.prefixlen, mac=endpoint.mac, gateway=gateway,
                    ip6=endpoint.ip6, prefixlen6=network.prefixlen6,
                    gateway6=network.gateway6 if gateway else None, mtu=network_mtu(network))
            try:
                with span("net.nft", cid):
                    await self._firewall.publish(endpoint, bound)
                await self._start_proxies(endpoint, bound, sockets)
            except BaseException:
                await self._proxy.stop(endpoint.id)
                await _netlink(self._links.remove_endpoint, endpoint.veth)
                raise
        except BaseException:
            for sock in sockets:
                sock.close()
            raise
        self._reserved[endpoint.id] = sockets
        self._endpoints[endpoint.id] = replace(endpoint, ports=bound)
        return bound

    async def _start_proxies(self, endpoint: Endpoint, bound: Sequence[PortBinding],
                             sockets: Sequence[socket.socket]) -> None:
        for binding, sock in zip(bound, sockets, strict=True):
            if _proxied(binding, endpoint):
                target = endpoint.ip6 or endpoint.ip
                await self._proxy.start(endpoint.id, sock, (target, binding.container_port))

    async def detach(self, network: Network, endpoint: Endpoint) -> None:
        # The nft transaction and the veth deletion (which waits out an RCU grace period, the
        # slowest step of a teardown) touch different things: run them side by side.
        known = self._endpoints.pop(endpoint.id, None)
        await self._proxy.stop(endpoint.id)
        with span("net.veth_delete+nft", endpoint.container_id):
            await asyncio.gather(self._unpublish(known),
                                 _netlink(self._links.remove_endpoint, endpoint.veth))
        for sock in self._reserved.pop(endpoint.id, []):
            sock.close()

    async def _unpublish(self, endpoint: Endpoint | None) -> None:
        if endpoint is None or not endpoint.ports:
            return
        try:
            await self._firewall.unpublish(endpoint)
        except Unavailable as exc:
            log.warning("firewall: %s; rebuilding the table", exc)
            await self._reset()

    async def _reset(self) -> None:
        await self._firewall.reset(self._networks.values(), self._endpoints.values())

    async def restore(self, networks: Sequence[Network], endpoints: Sequence[Endpoint]) -> list[PortConflict]:
        await asyncio.to_thread(_enable_forwarding)
        self._networks = {n.id: n for n in networks if n.bridged}
        await self._remove_stale_bridges()
        # Accept rules a kill -9 left for bridges no network of ours needs any more.
        await self._accept.sweep({n.bridge for n in self._networks.values()},
                                 await _netlink(self._links.link_names))
        for network in self._networks.values():
            if network.subnet6:
                await asyncio.to_thread(_enable_ipv6_forwarding)
            await self._ensure_bridge(network)
            await self._accept.add(network.bridge)
        live = {e.container_id for e in endpoints}
        for key in await _netlink(self._links.sandboxes):
            if key not in live:
                log.info("removing a sandbox left by a crash: %s", key[:12])
                await self.remove_sandbox(key)
        self._endpoints = {e.id: e for e in endpoints}
        await self._drain_pool()  # a killed daemon's spares: made afresh
        self._fill_pool()
        conflicts: list[PortConflict] = []
        for endpoint in endpoints:
            conflicts += await self._reserve_again(endpoint)
        await self._reset()  # the whole table from the records: rules no record owns go
        return conflicts

    async def _reserve_again(self, endpoint: Endpoint) -> list[PortConflict]:
        """Bind the endpoint's host ports again, one by one: one taken meanwhile by another process
        is no longer ours, so it leaves the endpoint (no DNAT, no relay) and is reported."""
        owner = f"{endpoint.container_name} ({endpoint.id[:12]})"
        conflicts: list[PortConflict] = []
        kept: list[PortBinding] = []
        sockets: list[socket.socket] = []
        for binding in endpoint.ports:
            try:
                bound, taken = await asyncio.to_thread(reserve_ports, [binding], owner)
            except DockyardError as exc:
                log.warning("published port of %s taken while the daemon was down: %s", owner, exc)
                conflicts.append(PortConflict(endpoint.container_id, binding, str(exc)))
                continue
            kept += bound
            sockets += taken
        endpoint.ports = kept
        self._reserved[endpoint.id] = sockets
        try:
            await self._start_proxies(endpoint, kept, sockets)
        except DockyardError as exc:
            log.warning("could not relay the ports of %s again: %s", owner, exc)
        return conflicts

    async def _remove_stale_bridges(self) -> None:
        """Bridges this root made that no record owns (a crash between the bridge and the record,
        or a record removed while the daemon was down): gone, with their iptables accept rules."""
        wanted = {n.bridge for n in self._networks.values()}
        for bridge in await _netlink(self._links.owned_bridges, self._owner) - wanted:
            log.info("removing a bridge no network owns: %s", bridge)
            await self._accept.remove(bridge)
            with contextlib.suppress(DockyardError):
                await _netlink(self._links.remove_bridge, bridge)

    async def close(self, *, keep: bool) -> None:
        await self._drain_pool()
        await self._proxy.close()
        for sockets in self._reserved.values():
            for sock in sockets:
                sock.close()
        self._reserved.clear()
        if keep:
            return
        # Nothing runs: leave no device or rule behind; the next start recreates them.
        for network in list(self._networks.values()):
            await self._accept.remove(network.bridge)
            with contextlib.suppress(DockyardError, OSError):
                await self._remove_bridge(network)
        with contextlib.suppress(Unavailable):
            await self._firewall.delete()


async def _netlink(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking netlink call in a thread; its failures become Unavailable with the cause."""
    try:
        return await asyncio.to_thread(function, *args, **kwargs)
    except Exception as exc:
        if refused(exc):
            raise Unavailable(f"netlink: {exc}") from exc
        raise


def _enable_forwarding() -> None:
    path = Path("/proc/sys/net/ipv4/ip_forward")
    with contextlib.suppress(OSError):
        if path.read_text().strip() != "1":
            log.info("enabling IPv4 forwarding")
            path.write_text("1")


def _enable_ipv6_forwarding() -> None:
    """Routing between an IPv6 bridge and the host's links (NAT66, published ports), as Docker
    enables it for ``--ipv6`` networks."""
    path = Path("/proc/sys/net/ipv6/conf/all/forwarding")
    if not Path("/proc/sys/net/ipv6").is_dir():
        raise Unavailable("IPv6 is not available on this host")
    with contextlib.suppress(OSError):
        if path.read_text().strip() != "1":
            log.info("enabling IPv6 forwarding")
            path.write_text("1")


MTU_OPTION = "com.docker.network.driver.mtu"


def network_mtu(network: Network) -> int:
    """The network's ``com.docker.network.driver.mtu`` (dockerd's ``--mtu`` for the default
    bridge, ``-o`` of ``network create`` for the others); 0 leaves the kernel's default."""
    return int(network.options.get(MTU_OPTION) or 0)

"""Where a network's addresses come from: the default IPAM (core/networks/ipam.py) or an
``IpamDriver`` plugin (core/networks/remote_ipam.py), behind one set of calls for the service.

The default IPAM keeps no state of its own: what is taken is read from the network's endpoints,
auxiliary addresses and ``reserved`` list (swarm service VIPs) at each allocation, and the
allocation happens before the service's first ``await``, so two concurrent starts never get the
same address. A plugin keeps its own state; we only remember its PoolIDs.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from dockyard.core.networks import ipam
from dockyard.core.networks.drivers import DEFAULT_IPAM, NetworkDrivers
from dockyard.core.networks.model import EndpointRequest, Network, NetworkCreate
from dockyard.core.networks.remote_ipam import PoolGrant
from dockyard.errors import InvalidArgument, Unavailable


@dataclass(slots=True)
class Pools:
    """A new network's subnets, gateways and auxiliary addresses, however they were chosen."""

    subnet: str
    gateway: str
    ip_range: str = ""
    subnet6: str = ""
    gateway6: str = ""
    aux: dict[str, str] = field(default_factory=dict)
    pool_ids: dict[str, str] = field(default_factory=dict)


class Addressing:
    def __init__(self, drivers: NetworkDrivers, pools: Sequence[tuple[str, int]] = ()) -> None:
        self._drivers = drivers
        self._pools = tuple(pools)  # --default-address-pool

    async def plan(self, request: NetworkCreate, ours: Sequence[ipam.AnyNet],
                   routed: Sequence[ipam.AnyNet], seed: str) -> Pools:
        """The pools of a new network. A given subnet must overlap none of our networks (``ours``);
        the host's routes (``routed``) only steer the subnets we pick, as in libnetwork: a user may
        name a subnet the host already routes (a LAN for macvlan, a VPN range on purpose)."""
        if (request.subnet6 or request.gateway6) and not request.ipv6:
            raise InvalidArgument("IPv6 subnet or gateway requires --ipv6 (EnableIPv6)")
        if not request.subnet and (request.gateway or request.ip_range):
            raise InvalidArgument("ip-range and gateway require a subnet")
        if request.ipam_driver != DEFAULT_IPAM:
            return await self._plan_remote(request)
        subnet: ipam.IPv4Net
        if request.subnet:
            subnet = ipam.parse_subnet(request.subnet)
            ipam.check_overlap(subnet, ours)
        else:
            subnet = ipam.pick_subnet([*ours, *routed], self._pools)
        ip_range = ipam.parse_ip_range(subnet, request.ip_range)
        subnet6 = _subnet6(request, ours, routed, seed) if request.ipv6 else None
        return Pools(subnet=str(subnet), gateway=ipam.gateway_of(subnet, request.gateway),
                     ip_range=str(ip_range) if ip_range else "",
                     subnet6=str(subnet6) if subnet6 else "",
                     gateway6=ipam.gateway_of(subnet6, request.gateway6) if subnet6 else "",
                     aux=aux_addresses(request.aux_addresses, subnet, subnet6))

    async def _plan_remote(self, request: NetworkCreate) -> Pools:
        driver = await self._drivers.ipam(request.ipam_driver)
        grants: list[PoolGrant] = []
        try:
            grants.append(await driver.request_pool(
                subnet=request.subnet, ip_range=request.ip_range, gateway=request.gateway,
                aux=request.aux_addresses, options=request.ipam_options, v6=False))
            if request.ipv6:
                grants.append(await driver.request_pool(
                    subnet=request.subnet6, ip_range="", gateway=request.gateway6,
                    aux=request.aux_addresses, options=request.ipam_options, v6=True))
        except BaseException:
            for grant in grants:
                await driver.release_grant(grant)
            raise
        v4, v6 = grants[0], grants[1] if len(grants) > 1 else None
        if ipaddress.ip_network(v4.subnet).version != 4:
            for grant in grants:
                await driver.release_grant(grant)
            raise Unavailable(f"IPAM plugin {request.ipam_driver} returned {v4.subnet} for an IPv4 pool")
        return Pools(subnet=v4.subnet, gateway=v4.gateway, ip_range=request.ip_range,
                     subnet6=v6.subnet if v6 else "", gateway6=v6.gateway if v6 else "",
                     aux={**v4.aux, **(v6.aux if v6 else {})},
                     pool_ids={"4": v4.pool_id, **({"6": v6.pool_id} if v6 else {})})

    async def release_pools(self, network: Network) -> None:
        if network.ipam_driver == DEFAULT_IPAM:
            return
        driver = await self._drivers.ipam(network.ipam_driver)
        for family, pool_id in network.pool_ids.items():
            subnet = network.subnet if family == "4" else network.subnet6
            aux = [a for a in network.aux_addresses.values()
                   if subnet and ipaddress.ip_address(a) in ipaddress.ip_network(subnet)]
            gateway = network.gateway if family == "4" else network.gateway6
            await driver.release_grant(PoolGrant(pool_id=pool_id, subnet=subnet, gateway=gateway,
                                                 aux={str(i): a for i, a in enumerate(aux)}))

    def allocate(self, network: Network, request: EndpointRequest,
                 used: Iterable[str], used6: Iterable[str]) -> tuple[str, str]:
        """Default IPAM: (IPv4, IPv6) for an endpoint, synchronously."""
        taken = [*used, *network.aux_addresses.values(), *network.reserved]
        ip = ipam.allocate(network.subnet, network.gateway, taken, ip_range=network.ip_range,
                           wanted=request.ip)
        ip6 = ipam.allocate6(network.subnet6, network.gateway6, [*used6, *network.reserved],
                             wanted=request.ip6) if network.subnet6 else ""
        return ip, ip6

    async def request(self, network: Network, request: EndpointRequest) -> tuple[str, str]:
        """A plugin's addresses for an endpoint."""
        driver = await self._drivers.ipam(network.ipam_driver)
        ip = await driver.request_address(network.pool_ids["4"], request.ip, mac=request.mac)
        ip6 = ""
        if "6" in network.pool_ids:
            try:
                ip6 = await driver.request_address(network.pool_ids["6"], request.ip6, mac=request.mac)
            except BaseException:
                await driver.release_address(network.pool_ids["4"], ip)
                raise
        return ip, ip6

    async def release(self, network: Network, ip: str, ip6: str = "") -> None:
        if network.ipam_driver == DEFAULT_IPAM:
            return
        driver = await self._drivers.ipam(network.ipam_driver)
        for family, address in (("4", ip), ("6", ip6)):
            if address and family in network.pool_ids:
                await driver.release_address(network.pool_ids[family], address)

    async def reserve(self, network: Network, used: Iterable[str]) -> str:
        """An IPv4 address held for someone else (a service VIP): the plugin's, or the default
        IPAM's highest free one (endpoints fill the subnet from the bottom up)."""
        if network.ipam_driver != DEFAULT_IPAM:
            driver = await self._drivers.ipam(network.ipam_driver)
            address = await driver.request_address(network.pool_ids["4"])
        else:
            net = ipaddress.IPv4Network(network.subnet)
            taken = {*used, *network.aux_addresses.values(), *network.reserved, network.gateway}
            hosts = list(net.hosts())
            address = next((str(a) for a in reversed(hosts) if str(a) not in taken), "")
            if not address:
                raise Unavailable(f"no available IPv4 addresses on this network's address pools: "
                                  f"{network.subnet}")
        network.reserved.append(address)
        return address

    async def unreserve(self, network: Network, address: str) -> None:
        if address not in network.reserved:
            return
        network.reserved.remove(address)
        await self.release(network, address)


def _subnet6(request: NetworkCreate, ours: Sequence[ipam.AnyNet], routed: Sequence[ipam.AnyNet],
             seed: str) -> ipam.IPv6Net:
    if not request.subnet6:
        if request.gateway6:
            raise InvalidArgument("ip-range and gateway require a subnet")
        return ipam.pick_subnet6([*ours, *routed], seed)
    subnet6 = ipam.parse_subnet6(request.subnet6)
    ipam.check_overlap(subnet6, ours)
    return subnet6


def aux_addresses(wanted: dict[str, str], subnet: object, subnet6: object) -> dict[str, str]:
    """libnetwork's check: every auxiliary address lies in one of the network's subnets."""
    pools = [ipaddress.ip_network(str(s)) for s in (subnet, subnet6) if s]
    for name, address in wanted.items():
        try:
            ip = ipaddress.ip_address(address)
        except ValueError as exc:
            raise InvalidArgument(f"invalid auxiliary address {name}={address}") from exc
        if not any(ip.version == pool.version and ip in pool for pool in pools):
            raise InvalidArgument(f"no matching subnet for aux-address {address}")
    return dict(wanted)

"""IP address management: pick a subnet that collides with nothing, hand out addresses in it.

Docker's default pools (libnetwork ``ipamutils``): the /16s of 172.17–172.31, then 192.168.0.0/16 cut
in /20s. A pool is free when it overlaps neither a route of the host nor a network we already own,
so a bridge never shadows the host's own networks (checked when the network is made, as Docker).
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterable, Iterator

from dockyard.errors import Conflict, InvalidArgument, Unavailable

IPv4Net = ipaddress.IPv4Network


def default_pools() -> Iterator[IPv4Net]:
    for second in range(17, 32):
        yield ipaddress.IPv4Network(f"172.{second}.0.0/16")
    yield from ipaddress.IPv4Network("192.168.0.0/16").subnets(new_prefix=20)


def pick_subnet(occupied: Iterable[IPv4Net]) -> IPv4Net:
    """The first default pool that overlaps nothing in ``occupied``."""
    taken = [n for n in occupied if n.prefixlen > 0]  # the default route covers everything
    for pool in default_pools():
        if not any(pool.overlaps(n) for n in taken):
            return pool
    raise Unavailable("all predefined address pools have been fully subnetted")


def parse_subnet(text: str) -> IPv4Net:
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError as exc:
        raise InvalidArgument(f"invalid subnet {text}: invalid CIDR address: {text}") from exc
    if not isinstance(net, ipaddress.IPv4Network):
        raise InvalidArgument(f"IPv6 subnet {text} is not supported on this host")
    if str(net) != text.strip():
        raise InvalidArgument(f"invalid network config: subnet {text} has host bits set")
    return net


def check_overlap(subnet: IPv4Net, occupied: Iterable[IPv4Net]) -> None:
    for other in occupied:
        if other.prefixlen > 0 and subnet.overlaps(other):
            raise Conflict("invalid pool request: Pool overlaps with other one on this address space")


def gateway_of(subnet: IPv4Net, wanted: str = "") -> str:
    """The bridge's address: the given one (inside the subnet) or the subnet's first host."""
    if not wanted:
        return str(next(subnet.hosts()))
    try:
        address = ipaddress.IPv4Address(wanted)
    except ValueError as exc:
        raise InvalidArgument(f"invalid gateway address {wanted}") from exc
    if address not in subnet:
        raise InvalidArgument(f"no matching subnet for gateway {wanted}")
    return wanted


def parse_ip_range(subnet: IPv4Net, text: str) -> IPv4Net | None:
    if not text:
        return None
    try:
        ip_range = ipaddress.IPv4Network(text, strict=False)
    except ValueError as exc:
        raise InvalidArgument(f"invalid ip-range {text}") from exc
    if not ip_range.subnet_of(subnet):
        raise InvalidArgument(f"no matching subnet for range {text}")
    return ip_range


def allocate(subnet: str, gateway: str, used: Iterable[str], *, ip_range: str = "",
             wanted: str = "") -> str:
    """An address for an endpoint: ``wanted`` if free, else the lowest free one in the range."""
    net = ipaddress.IPv4Network(subnet)
    taken = {ipaddress.IPv4Address(a) for a in used if a} | {ipaddress.IPv4Address(gateway)}
    if wanted:
        try:
            address = ipaddress.IPv4Address(wanted)
        except ValueError as exc:
            raise InvalidArgument(f"invalid IPv4 address: {wanted}") from exc
        if address not in net:
            raise InvalidArgument(f"no configured subnet or ip-range contain the IP address {wanted}")
        if address in taken:
            raise Conflict("Address already in use")
        return wanted
    pool = ipaddress.IPv4Network(ip_range) if ip_range else net
    for address in pool.hosts():
        if address not in taken and address != net.broadcast_address:
            return str(address)
    raise Unavailable(f"no available IPv4 addresses on this network's address pools: {subnet}")


def mac_of(ip: str) -> str:
    """Docker's MAC for an address: 02:42 then the four bytes of the IPv4 address."""
    packed = ipaddress.IPv4Address(ip).packed
    return "02:42:" + ":".join(f"{b:02x}" for b in packed)


def random_port(low: int, high: int, taken: set[int]) -> Iterator[int]:
    """Host ports to try for ``-p ::80``, in random order within the ephemeral range."""
    ports = [p for p in range(low, high + 1) if p not in taken]
    random.shuffle(ports)
    yield from ports

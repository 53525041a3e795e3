"""IP address management: pick a subnet that collides with nothing, hand out addresses in it.

Docker's default pools (libnetwork ``ipamutils``): the /16s of 172.17–172.31, then 192.168.0.0/16 cut
in /20s. A pool is free when it overlaps neither a route of the host nor a network we already own,
so a bridge never shadows the host's own networks (checked when the network is made, as Docker).
"""

from __future__ import annotations

import ipaddress
import random
import re
from collections.abc import Iterable, Iterator, Sequence

from dockyard.errors import Conflict, InvalidArgument, Unavailable

IPv4Net = ipaddress.IPv4Network
IPv6Net = ipaddress.IPv6Network
AnyNet = IPv4Net | IPv6Net


def default_pools() -> Iterator[IPv4Net]:
    for second in range(17, 32):
        yield ipaddress.IPv4Network(f"172.{second}.0.0/16")
    yield from ipaddress.IPv4Network("192.168.0.0/16").subnets(new_prefix=20)


def configured_pools(pools: Sequence[tuple[str, int]]) -> Iterator[IPv4Net]:
    """dockerd's ``--default-address-pool base=CIDR,size=N``: the /N subnets of each base, in order."""
    for base, size in pools:
        yield from parse_subnet(base).subnets(new_prefix=size)


def pick_subnet(occupied: Iterable[AnyNet], pools: Sequence[tuple[str, int]] = ()) -> IPv4Net:
    """The first pool (the daemon's, else Docker's defaults) that overlaps nothing in ``occupied``."""
    # The default route covers everything; a v6 route cannot collide with a v4 pool.
    taken = [n for n in occupied if n.prefixlen > 0 and n.version == 4]
    for pool in configured_pools(pools) if pools else default_pools():
        if not any(pool.overlaps(n) for n in taken):
            return pool
    raise Unavailable("all predefined address pools have been fully subnetted")


def parse_subnet(text: str) -> IPv4Net:
    net = _parse_any(text)
    if not isinstance(net, ipaddress.IPv4Network):
        raise InvalidArgument(f"invalid network config: {text} is not an IPv4 subnet")
    return net


def parse_subnet6(text: str) -> IPv6Net:
    net = _parse_any(text)
    if not isinstance(net, ipaddress.IPv6Network):
        raise InvalidArgument(f"invalid network config: {text} is not an IPv6 subnet")
    if net.prefixlen > 124:
        raise InvalidArgument(f"invalid network config: subnet {text} is too small")
    return net


def _parse_any(text: str) -> AnyNet:
    try:
        net = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError as exc:
        raise InvalidArgument(f"invalid subnet {text}: invalid CIDR address: {text}") from exc
    if str(net) != text.strip():
        raise InvalidArgument(f"invalid network config: subnet {text} has host bits set")
    return net


def pick_subnet6(occupied: Iterable[AnyNet], seed: str) -> IPv6Net:
    """A ULA /64 for ``--ipv6`` without ``--subnet``, as Docker 27+ hands out: a /48 under
    fd00::/8 whose 40 global-ID bits come from ``seed`` (RFC 4193 wants them random; a network
    ID is), then the first /64 in it that overlaps nothing routed."""
    global_id = int(seed[:10], 16)
    base = ipaddress.IPv6Network(((0xFD << 120) | (global_id << 80), 48))
    taken = [n for n in occupied if n.prefixlen > 0 and n.version == 6]
    for subnet in base.subnets(new_prefix=64):
        if not any(subnet.overlaps(n) for n in taken):
            return subnet
    raise Unavailable("all predefined address pools have been fully subnetted")


def check_overlap(subnet: AnyNet, occupied: Iterable[AnyNet]) -> None:
    for other in occupied:
        if other.prefixlen > 0 and other.version == subnet.version and subnet.overlaps(other):
            raise Conflict("invalid pool request: Pool overlaps with other one on this address space")


def gateway_of(subnet: AnyNet, wanted: str = "") -> str:
    """The bridge's address: the given one (inside the subnet) or the subnet's first host."""
    if not wanted:
        return str(subnet.network_address + 1)
    try:
        address = ipaddress.ip_address(wanted)
    except ValueError as exc:
        raise InvalidArgument(f"invalid gateway address {wanted}") from exc
    if address.version != subnet.version or address not in subnet:
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


def _claim(wanted: str, net: IPv4Net | ipaddress.IPv6Network,
           taken: set[ipaddress.IPv4Address] | set[ipaddress.IPv6Address]) -> str:
    """A requested address (``--ip``/``--ip6``): valid, of this family, in the subnet and free."""
    try:
        address = ipaddress.ip_address(wanted)
        if address.version != net.version:
            raise ValueError(wanted)
    except ValueError as exc:
        raise InvalidArgument(f"invalid IPv{net.version} address: {wanted}") from exc
    if address not in net:
        raise InvalidArgument(f"no configured subnet or ip-range contain the IP address {wanted}")
    if address in taken:
        raise Conflict("Address already in use")
    return wanted


def allocate(subnet: str, gateway: str, used: Iterable[str], *, ip_range: str = "",
             wanted: str = "") -> str:
    """An address for an endpoint: ``wanted`` if free, else the lowest free one in the range."""
    net = ipaddress.IPv4Network(subnet)
    taken = {ipaddress.IPv4Address(a) for a in used if a} | {ipaddress.IPv4Address(gateway)}
    if wanted:
        return _claim(wanted, net, taken)
    pool = ipaddress.IPv4Network(ip_range) if ip_range else net
    for address in pool.hosts():
        if address not in taken and address != net.broadcast_address:
            return str(address)
    raise Unavailable(f"no available IPv4 addresses on this network's address pools: {subnet}")


def allocate6(subnet: str, gateway: str, used: Iterable[str], *, wanted: str = "") -> str:
    """An IPv6 address for an endpoint: ``wanted`` if free, else the lowest free one."""
    net = ipaddress.IPv6Network(subnet)
    taken = {ipaddress.IPv6Address(a) for a in used if a} | {ipaddress.IPv6Address(gateway)}
    if wanted:
        return _claim(wanted, net, taken)
    # hosts() is lazy: a /64 is walked from its start and only as far as the first free address.
    for candidate in net.hosts():
        if candidate not in taken:
            return str(candidate)
    raise Unavailable(f"no available IPv6 addresses on this network's address pools: {subnet}")


def mac_of(ip: str) -> str:
    """Docker's MAC for an address: 02:42 then the four bytes of the IPv4 address."""
    packed = ipaddress.IPv4Address(ip).packed
    return "02:42:" + ":".join(f"{b:02x}" for b in packed)


_MAC = re.compile(r"^[0-9a-fA-F]{2}([:-])[0-9a-fA-F]{2}(\1[0-9a-fA-F]{2}){4}$")


def check_mac(mac: str) -> str:
    """A user-given MAC (``--mac-address``) in the form the kernel takes, or Docker's 400."""
    if not _MAC.match(mac):
        raise InvalidArgument(f"invalid MAC address: {mac}")
    return mac.replace("-", ":").lower()


def random_port(low: int, high: int, taken: set[int]) -> Iterator[int]:
    """Host ports to try for ``-p ::80``, in random order within the ephemeral range."""
    ports = [p for p in range(low, high + 1) if p not in taken]
    random.shuffle(ports)
    yield from ports

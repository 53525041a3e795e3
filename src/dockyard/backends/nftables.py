"""NAT, published ports and isolation in one nftables table of ours, changed atomically.

The rules are fixed; what changes are set and map elements, so adding or removing a network or an
endpoint is one ``nft -f`` transaction of ``add``/``delete element`` lines, never a rule handle to
track. Our table sits beside Docker's, firewalld's or netavark's: in nftables every base chain on a
hook sees the packet, so we only add verdicts for our own bridges and leave the rest alone.

Published ports are DNAT'd here for traffic from anywhere, including the host's own 127.0.0.1
(the ``output`` hook). Loopback-sourced packets may then leave through the bridge because the
bridge has ``route_localnet`` set, and they are masqueraded to the bridge's address. We chose that
over a userland proxy (Docker's default): no process or thread per port, nothing on the
start-up path but one transaction, and the container sees real client addresses for outside
traffic. The ``guard`` chain drops packets from a bridge to 127.0.0.0/8, which ``route_localnet``
would otherwise let containers reach on the host.

IPv6 gets a twin table of the same name in the ``ip6`` family: NAT66 (masquerade out of the host,
as Docker does) and DNAT for published ports, except on ``[::1]``: the kernel never routes a
packet from ``::1`` out of loopback (IPv6 has no ``route_localnet``), so those ports go through a
userland relay (``backends/port_proxy.py``), as Docker's do.

Hairpin NAT: a container reaching a published port through a host address is DNAT'd back into
its own bridge; that traffic is masqueraded to the bridge's address, or the answer would come
straight from the target's address and the client, which talked to the host, would drop it.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path

from dockyard.core.networks.model import Endpoint, Network, PortBinding
from dockyard.errors import Unavailable

log = logging.getLogger(__name__)

NFT_TIMEOUT = 10.0

_BODY = """\
  set bridges { type ifname; }
  set noicc { type ifname; }
  set same { type ifname . ifname; }
  set internal { type ifname; }
  set masq { type ipv4_addr; flags interval; }
  map dnat_addr { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }
  map dnat_any { type inet_proto . inet_service : ipv4_addr . inet_service; }
  chain guard {
    type filter hook prerouting priority raw; policy accept;
    iifname @bridges ip daddr 127.0.0.0/8 drop
  }
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    fib daddr type local jump published
  }
  chain output {
    type nat hook output priority -100; policy accept;
    fib daddr type local jump published
  }
  chain published {
    dnat to ip daddr . meta l4proto . th dport map @dnat_addr
    dnat to meta l4proto . th dport map @dnat_any
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname != @bridges ip saddr @masq masquerade
    oifname @bridges ip saddr 127.0.0.0/8 masquerade
    oifname @bridges ip saddr @masq ct status dnat masquerade
  }
  chain forward {
    type filter hook forward priority filter; policy accept;
    iifname @noicc oifname @noicc ct status dnat accept
    iifname @noicc oifname @noicc drop
    iifname @bridges oifname @bridges iifname . oifname != @same drop
    iifname @internal oifname != @internal drop
    oifname @internal iifname != @internal drop
  }
"""


_BODY6 = """\
  set bridges { type ifname; }
  set same { type ifname . ifname; }
  set internal { type ifname; }
  set masq { type ipv6_addr; flags interval; }
  map dnat_addr { type ipv6_addr . inet_proto . inet_service : ipv6_addr . inet_service; }
  map dnat_any { type inet_proto . inet_service : ipv6_addr . inet_service; }
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    fib daddr type local jump published
  }
  chain output {
    type nat hook output priority -100; policy accept;
    ip6 daddr != ::1 fib daddr type local jump published
  }
  chain published {
    dnat to ip6 daddr . meta l4proto . th dport map @dnat_addr
    dnat to meta l4proto . th dport map @dnat_any
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname != @bridges ip6 saddr @masq masquerade
    oifname @bridges ip6 saddr @masq ct status dnat masquerade
  }
  chain forward {
    type filter hook forward priority filter; policy accept;
    iifname @bridges oifname @bridges iifname . oifname != @same drop
    iifname @internal oifname != @internal drop
    oifname @internal iifname != @internal drop
  }
"""


# --icc=false: no traffic between containers of such a bridge except to published ports, as
# Docker's iptables rules (``-i docker0 -o docker0 -j DROP`` after accepting DNAT'd traffic). Frames
# between two ports of one bridge reach the ip family's forward hook only through br_netfilter
# (``bridge-nf-call-iptables``), which dockerd loads for --icc=false too: see
# :func:`enable_bridge_netfilter`. A container reaching a published port is DNAT'd and then bridged
# (br_netfilter's hairpin), so ``ct status dnat`` lets it through.
ICC_OPTION = "com.docker.network.bridge.enable_icc"


def table_script(table: str, networks: Iterable[Network], endpoints: Iterable[Endpoint]) -> str:
    """Both tables from scratch: ``add`` then ``delete`` makes the delete safe when a table
    does not exist, and all of it is one transaction."""
    networks, endpoints = list(networks), list(endpoints)
    lines = [f"add table ip {table}", f"delete table ip {table}", f"table ip {table} {{", _BODY, "}",
             f"add table ip6 {table}", f"delete table ip6 {table}", f"table ip6 {table} {{", _BODY6,
             "}"]
    for network in networks:
        lines += network_elements(table, network, "add")
    for endpoint in endpoints:
        lines += port_elements(table, endpoint.ip, endpoint.ports, "add")
        lines += port6_elements(table, endpoint.ip6, endpoint.ports, "add")
    return "\n".join(lines) + "\n"


def network_elements(table: str, network: Network, verb: str) -> list[str]:
    if not network.bridge:
        return []
    name = _quote(network.bridge)
    lines = [f"{verb} element ip {table} bridges {{ {name} }}",
             f"{verb} element ip {table} same {{ {name} . {name} }}"]
    if network.options.get(ICC_OPTION, "true").lower() == "false":
        lines.append(f"{verb} element ip {table} noicc {{ {name} }}")
    if network.internal:
        lines.append(f"{verb} element ip {table} internal {{ {name} }}")
    else:
        lines.append(f"{verb} element ip {table} masq {{ {network.subnet} }}")
    if network.subnet6:
        # The same sets in the ip6 table (isolation holds for both families); masq differs.
        lines += [line.replace(" element ip ", " element ip6 ", 1) for line in lines
                  if " masq " not in line and " noicc " not in line]
        if not network.internal:
            lines.append(f"{verb} element ip6 {table} masq {{ {network.subnet6} }}")
    return lines


def port_elements(table: str, ip: str, ports: Sequence[PortBinding], verb: str) -> list[str]:
    lines = []
    for port in ports:
        if port.proto not in ("tcp", "udp", "sctp") or not port.host_port or ":" in port.host_ip:
            continue
        target = f" : {ip} . {port.container_port}" if verb == "add" else ""
        if port.host_ip:
            key = f"{port.host_ip} . {port.proto} . {port.host_port}"
            lines.append(f"{verb} element ip {table} dnat_addr {{ {key}{target} }}")
        else:
            key = f"{port.proto} . {port.host_port}"
            lines.append(f"{verb} element ip {table} dnat_any {{ {key}{target} }}")
    return lines


def port6_elements(table: str, ip6: str, ports: Sequence[PortBinding], verb: str) -> list[str]:
    """DNAT to an endpoint's IPv6 address: ports on every address ("" or "::") and on given IPv6
    host addresses; never ``::1`` (proxied, see the module's docstring)."""
    if not ip6:
        return []
    lines = []
    for port in ports:
        if port.proto not in ("tcp", "udp", "sctp") or not port.host_port:
            continue
        if port.host_ip and (":" not in port.host_ip or port.host_ip == "::1"):
            continue
        target = f" : {ip6} . {port.container_port}" if verb == "add" else ""
        if port.host_ip and port.host_ip != "::":
            key = f"{port.host_ip} . {port.proto} . {port.host_port}"
            lines.append(f"{verb} element ip6 {table} dnat_addr {{ {key}{target} }}")
        else:
            key = f"{port.proto} . {port.host_port}"
            lines.append(f"{verb} element ip6 {table} dnat_any {{ {key}{target} }}")
    return lines


def _quote(name: str) -> str:
    if not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise Unavailable(f"invalid interface name {name!r}")
    return f'"{name}"'


def enable_bridge_netfilter(proc: Path = Path("/proc/sys/net/bridge")) -> None:
    """Make bridged IPv4 frames pass the ip family's hooks (--icc=false needs it, as dockerd's)."""
    knob = proc / "bridge-nf-call-iptables"
    if not knob.exists():
        subprocess.run(["modprobe", "br_netfilter"], capture_output=True, timeout=30, check=False)
    try:
        if knob.read_text().strip() != "1":
            knob.write_text("1\n")
            log.warning("set net.bridge.bridge-nf-call-iptables=1 for --icc=false")
    except OSError as exc:
        raise Unavailable(f"--icc=false needs br_netfilter (bridge-nf-call-iptables): {exc}") from exc


class NftFirewall:
    """Runs transactions against our table with the ``nft`` binary."""

    def __init__(self, table: str, nft: str = "nft") -> None:
        self.table = table
        self._nft = nft

    async def apply(self, script: str) -> None:
        if not script.strip():
            return
        log.debug("nft -f -: %s", script)
        try:
            proc = await asyncio.create_subprocess_exec(
                self._nft, "-f", "-", stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        except OSError as exc:
            raise Unavailable(f"nft: {exc}") from exc
        try:
            _, err = await asyncio.wait_for(proc.communicate(script.encode()), NFT_TIMEOUT)
        except TimeoutError as exc:
            proc.kill()
            await proc.wait()
            raise Unavailable("nft did not answer in time") from exc
        if proc.returncode != 0:
            raise Unavailable(f"nft: {err.decode(errors='replace').strip()}")

    async def reset(self, networks: Iterable[Network], endpoints: Iterable[Endpoint]) -> None:
        await self.apply(table_script(self.table, networks, endpoints))

    async def delete(self) -> None:
        await self.apply(f"add table ip {self.table}\ndelete table ip {self.table}\n"
                         f"add table ip6 {self.table}\ndelete table ip6 {self.table}\n")

    async def add_network(self, network: Network) -> None:
        await self.apply("\n".join(network_elements(self.table, network, "add")))

    async def remove_network(self, network: Network) -> None:
        await self.apply("\n".join(network_elements(self.table, network, "delete")))

    async def publish(self, endpoint: Endpoint, ports: Sequence[PortBinding]) -> None:
        await self.apply("\n".join(port_elements(self.table, endpoint.ip, ports, "add")
                                   + port6_elements(self.table, endpoint.ip6, ports, "add")))

    async def unpublish(self, endpoint: Endpoint) -> None:
        await self.apply("\n".join(
            port_elements(self.table, endpoint.ip, endpoint.ports, "delete")
            + port6_elements(self.table, endpoint.ip6, endpoint.ports, "delete")))

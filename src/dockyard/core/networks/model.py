"""Networks, endpoints and published ports, as libnetwork names them.

A *network* is a bridge with a subnet (or one of the built-in ``host`` and ``none``); an *endpoint*
is one container's attachment to one network: an address from the network's IPAM, a MAC, a veth
pair whose inner end lives in the container's *sandbox* (its network namespace, a file the runtime
joins). A *port binding* publishes a container port on a host address and port.
"""

from __future__ import annotations

import ipaddress
from dataclasses import asdict, dataclass, field
from typing import Any

BUILTIN_DRIVERS = {"bridge": "bridge", "host": "host", "none": "null"}
DEFAULT_BRIDGE = "bridge"


@dataclass(frozen=True, slots=True)
class PortBinding:
    """``-p host_ip:host_port:container_port/proto``; host_port 0 means "any free port"."""

    container_port: int
    proto: str = "tcp"
    host_ip: str = ""
    host_port: int = 0

    @property
    def key(self) -> str:
        """Docker's port key, ``8080/tcp``."""
        return f"{self.container_port}/{self.proto}"


@dataclass(slots=True)
class Network:
    """One network record; ``bridge`` is the device name (empty for host and none)."""

    id: str
    name: str
    driver: str
    created: str
    subnet: str = ""
    gateway: str = ""
    ip_range: str = ""
    internal: bool = False
    ipv6: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    bridge: str = ""
    # True when the user gave --subnet: only then may a container ask for a fixed --ip (Docker).
    user_subnet: bool = False
    subnet6: str = ""  # set when ipv6: the bridge's IPv6 subnet and address
    gateway6: str = ""
    # IPAM's AuxiliaryAddresses (name -> address, kept out of allocation) and Options.
    aux_addresses: dict[str, str] = field(default_factory=dict)
    ipam_options: dict[str, str] = field(default_factory=dict)
    attachable: bool = False  # overlay: plain containers may join (--attachable)
    ingress: bool = False  # the swarm's routing-mesh network
    # IPAM: the driver (``default`` or a plugin's name) and, for a plugin, its PoolIDs per family
    # ("4", "6"); ``reserved`` are addresses held for others (swarm service VIPs), never allocated.
    ipam_driver: str = "default"
    pool_ids: dict[str, str] = field(default_factory=dict)
    reserved: list[str] = field(default_factory=list)
    driver_scope: str = ""  # a remote driver's GetCapabilities Scope ("local", "global")
    created_link: str = ""  # a parent link the driver made (macvlan's eth0.10), deleted with it

    @property
    def builtin(self) -> bool:
        return self.name in BUILTIN_DRIVERS

    @property
    def has_dns(self) -> bool:
        """User-defined networks get the embedded resolver; the default bridge does not (Docker)."""
        return self.connectable and self.name != DEFAULT_BRIDGE

    @property
    def connectable(self) -> bool:
        """Containers get endpoints on it: every driver but ``host`` and ``null``."""
        return self.driver not in ("host", "null")

    @property
    def bridged(self) -> bool:
        """Plumbed as a bridge: ``bridge``, and ``overlay`` — on a one-node swarm an overlay
        needs no VXLAN, every task is on this host (core/swarm/networking.py)."""
        return self.driver in ("bridge", "overlay")

    @property
    def scope(self) -> str:
        return "swarm" if self.driver == "overlay" else self.driver_scope or "local"

    @property
    def prefixlen(self) -> int:
        return ipaddress.ip_network(self.subnet).prefixlen if self.subnet else 0

    @property
    def prefixlen6(self) -> int:
        return ipaddress.ip_network(self.subnet6).prefixlen if self.subnet6 else 0

    def to_record(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> Network:
        return cls(**data)


@dataclass(slots=True)
class Endpoint:
    """A container's attachment to a network (libnetwork's endpoint)."""

    id: str
    network_id: str
    container_id: str
    container_name: str  # without the leading "/"
    ip: str
    mac: str
    ifname: str  # inside the sandbox: eth0, eth1, …
    veth: str  # the host end
    sandbox: str  # path of the container's network namespace
    aliases: list[str] = field(default_factory=list)
    dns_names: list[str] = field(default_factory=list)
    links: dict[str, str] = field(default_factory=dict)  # alias -> container name
    ports: list[PortBinding] = field(default_factory=list)
    gateway_endpoint: bool = False  # carries the default route and the published ports
    ip6: str = ""  # on an IPv6 network
    # The gateways a remote driver's Join named (libnetwork's joinInfo), which inspect shows;
    # None for the built-in drivers, whose endpoints show the network's.
    gateway: str | None = None
    gateway6: str | None = None

    def to_record(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> Endpoint:
        data = dict(data)
        data["ports"] = [PortBinding(**p) for p in data.get("ports") or []]
        return cls(**data)


@dataclass(frozen=True, slots=True)
class EndpointRequest:
    """What a container asks of one network: Docker's EndpointSettings as create/connect send it."""

    network: str
    ip: str = ""
    ip6: str = ""
    aliases: tuple[str, ...] = ()
    links: tuple[str, ...] = ()  # "name:alias"
    mac: str = ""  # --mac-address / EndpointSettings.MacAddress; derived from the IP when empty
    gw_priority: int = 0  # EndpointSettings.GwPriority: only the default is supported (refused otherwise)


@dataclass(frozen=True, slots=True)
class NameAnswer:
    """The embedded resolver's answer to one name: addresses, or where to forward, or refuse."""

    addresses: tuple[str, ...] = ()
    forward: tuple[str, ...] = ()
    refuse: bool = False


@dataclass(frozen=True, slots=True)
class NetworkPruneReport:
    deleted: list[str]


@dataclass(frozen=True, slots=True)
class PortConflict:
    """A published host port something else took while the daemon was down: no longer ours, so
    no longer forwarded; the container's record says so (State.Error, an event)."""

    container_id: str
    binding: PortBinding
    message: str


@dataclass(frozen=True, slots=True)
class NetworkCreate:
    """``POST /networks/create`` as the core sees it."""

    name: str
    driver: str = "bridge"
    subnet: str = ""
    gateway: str = ""
    ip_range: str = ""
    internal: bool = False
    ipv6: bool = False
    subnet6: str = ""
    gateway6: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    aux_addresses: dict[str, str] = field(default_factory=dict)
    ipam_options: dict[str, str] = field(default_factory=dict)
    attachable: bool = False  # overlay only
    ingress: bool = False
    ipam_driver: str = "default"  # --ipam-driver: the default IPAM or an IpamDriver plugin

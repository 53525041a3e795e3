"""The built-in ``macvlan`` and ``ipvlan`` drivers: each endpoint is a port of the network's parent
link (``-o parent=IFACE``), moved into the container's sandbox, as libnetwork's drivers do.

Parents, as moby: an existing link is used as it is; ``eth0.10`` that does not exist yet becomes an
802.1q sub-interface of ``eth0`` made with the network and deleted with it; no parent at all gets
a link of its own named ``dm-<network id>`` and the network is internal (no gateway). moby makes
that link a ``dummy``; this kernel may have no dummy links, so the stand-in is a veth pair whose
peer (``dp-…``) stays on the host: both ends up give the parent a carrier, and the ports of one
parent reach each other exactly as on a dummy. ``ipvlan`` needs the kernel's ipvlan: whether it
has it is found out by making one (in a throwaway namespace), never guessed from a version.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import logging
from typing import TYPE_CHECKING

from dockyard.backends.bridge import _netlink, network_mtu
from dockyard.backends.netlink import in_thread
from dockyard.backends.sandbox_links import adopt_link
from dockyard.core.networks.backend import InterfaceConfig, Route
from dockyard.core.networks.model import Endpoint, Network, PortBinding
from dockyard.errors import Conflict, InvalidArgument, Unavailable

if TYPE_CHECKING:
    from dockyard.backends.pyroute2_iproute import IPRoute

log = logging.getLogger(__name__)

PARENT = "parent"
_MODES = {"macvlan": ("macvlan_mode", ("bridge", "private", "vepa", "passthru"), "bridge"),
          "ipvlan": ("ipvlan_mode", ("l2", "l3", "l3s"), "l2")}
_IPVLAN_MODES = {"l2": 0, "l3": 1, "l3s": 2}
_CLONE_NEWNET = 0x40000000


def standin_name(network: Network) -> str:
    """moby's dummy parent of a network without ``-o parent``: ``dm-`` and the short ID."""
    return f"dm-{network.id[:12]}"


def parent_of(network: Network) -> str:
    return network.options.get(PARENT) or standin_name(network)


class VlanDriver:
    """One of ``macvlan`` and ``ipvlan`` (``kind``)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._networks: dict[str, Network] = {}
        self._unsupported: str | None = None  # the probe's verdict, once made

    def _mode(self, network: Network) -> str:
        option, modes, default = _MODES[self.kind]
        mode = network.options.get(option) or default
        if mode not in modes:
            if self.kind == "macvlan":
                raise InvalidArgument(f"requested macvlan mode '{mode}' is not valid, 'bridge' mode "
                                      "is the macvlan driver default")
            raise InvalidArgument(f"requested ipvlan mode '{mode}' is not valid, 'l2' mode is the "
                                  "ipvlan driver default")
        return mode

    async def check(self) -> None:
        if self.kind != "ipvlan":
            return
        if self._unsupported is None:
            self._unsupported = await asyncio.to_thread(_probe_ipvlan)
        if self._unsupported:
            raise Unavailable(self._unsupported)

    async def create_network(self, network: Network) -> None:
        await self.check()
        self._mode(network)
        parent = parent_of(network)
        if parent == "lo":
            raise InvalidArgument(f"loopback interface is not a valid {self.kind} parent link")
        for other in self._networks.values():
            if other.id != network.id and parent_of(other) == parent:
                raise Conflict(f"network {standin_name(other)} is already using parent interface {parent}")
        created = await _netlink(_ensure_parent, parent, standin=parent == standin_name(network))
        if created:
            network.created_link = parent
        self._networks[network.id] = network

    async def remove_network(self, network: Network) -> None:
        self._networks.pop(network.id, None)
        if network.created_link:
            await _netlink(_delete_link, network.created_link)

    async def attach(self, network: Network, endpoint: Endpoint) -> list[PortBinding]:
        mode = self._mode(network)
        primary = endpoint.gateway_endpoint and not network.internal
        l3 = self.kind == "ipvlan" and mode != "l2"
        routes: tuple[Route, ...] = ()
        if l3 and primary:  # ipvlan l3 routes through the device, with no gateway (moby's)
            routes = (Route(destination="0.0.0.0/0", connected=True),)
        if self.kind == "ipvlan":
            endpoint.mac = ""  # ports of an ipvlan parent share its MAC
        config = InterfaceConfig(
            ifname=endpoint.ifname, mac=endpoint.mac, ip=endpoint.ip, prefixlen=network.prefixlen,
            gateway=network.gateway if primary and not l3 else "", ip6=endpoint.ip6,
            prefixlen6=network.prefixlen6,
            gateway6=network.gateway6 if primary and not l3 and endpoint.ip6 else "",
            mtu=network_mtu(network), routes=routes)
        await _netlink(self._add_port, parent_of(network), endpoint.veth, mode)
        try:
            await _netlink(adopt_link, endpoint.veth, endpoint.sandbox, config)
        except BaseException:
            await _netlink(_delete_link, endpoint.veth)
            raise
        if endpoint.ports:
            # moby's macvlan and ipvlan drivers log this and publish nothing.
            log.warning("%s driver does not support port mappings (container %s)", self.kind,
                        endpoint.container_name)
        return []

    def _add_port(self, parent: str, name: str, mode: str) -> None:
        from dockyard.backends.pyroute2_iproute import IPRoute, NetlinkError

        with IPRoute() as ipr:
            found = ipr.link_lookup(ifname=parent)
            if not found:
                raise Unavailable(f"the requested parent interface {parent} was not found on the "
                                  "Docker host")
            extra: dict[str, object] = ({"macvlan_mode": mode} if self.kind == "macvlan"
                                        else {"ipvlan_mode": _IPVLAN_MODES[mode]})
            try:
                ipr.link("add", ifname=name, kind=self.kind, link=found[0], **extra)
            except NetlinkError as exc:
                raise Unavailable(f"failed to create the {self.kind} port: {exc.args[1]}") from exc

    async def detach(self, network: Network, endpoint: Endpoint) -> None:
        from dockyard.backends.sandbox_links import release_link

        await _netlink(release_link, endpoint.sandbox, endpoint.ifname, "")


def _ensure_parent(parent: str, *, standin: bool) -> bool:
    """Make the parent link when it is ours to make; returns whether it was made."""
    from dockyard.backends.pyroute2_iproute import IPRoute, NetlinkError

    with IPRoute() as ipr:
        if ipr.link_lookup(ifname=parent):
            return False
        if standin:
            peer = "dp-" + parent.removeprefix("dm-")
            ipr.link("add", ifname=parent, kind="veth", peer={"ifname": peer})
            for name in (parent, peer):
                ipr.link("set", index=ipr.link_lookup(ifname=name)[0], state="up")
            return True
        base, vid = _parse_vlan(ipr, parent)
        try:
            ipr.link("add", ifname=parent, kind="vlan", link=ipr.link_lookup(ifname=base)[0],
                     vlan_id=vid)
        except NetlinkError as exc:
            hint = " (this kernel has no 802.1q VLAN support)" if exc.code == errno.EOPNOTSUPP else ""
            raise Unavailable(f"failed to create {parent} vlan link: {exc.args[1]}{hint}") from exc
        ipr.link("set", index=ipr.link_lookup(ifname=parent)[0], state="up")
        return True


def _parse_vlan(ipr: IPRoute, name: str) -> tuple[str, int]:
    """``eth0.10`` -> (``eth0``, 10), with moby's checks and texts."""
    if "." not in name:
        raise InvalidArgument(f"invalid subinterface vlan name {name}, example formatting is eth0.10")
    parts = name.split(".")
    if len(parts) != 2:
        raise InvalidArgument("required interface name format is: name.vlan_id, ex. eth0.10 for "
                              f"vlan 10, instead received {name}")
    base, vid_text = parts
    if not vid_text.isdigit():
        raise InvalidArgument(f"unable to parse a valid vlan id from: {vid_text} (ex. eth0.10 for vlan 10)")
    if not ipr.link_lookup(ifname=base):
        raise InvalidArgument(f"-o parent interface was not found on the host: {base}")
    vid = int(vid_text)
    if not 1 <= vid <= 4094:
        raise InvalidArgument(f"vlan id must be between 1-4094, received: {vid}")
    return base, vid


def _delete_link(name: str) -> None:
    from dockyard.backends.pyroute2_iproute import IPRoute, NetlinkError

    with IPRoute() as ipr:
        found = ipr.link_lookup(ifname=name)
        if found:
            try:
                ipr.link("del", index=found[0])
            except NetlinkError as exc:
                if exc.code not in (errno.ENODEV, errno.ENOENT):
                    raise


def _probe_ipvlan() -> str:
    """Make an ipvlan port on a veth in a throwaway namespace: "" when the kernel can, else why not."""
    libc = ctypes.CDLL(None, use_errno=True)

    def work() -> str:
        from dockyard.backends.pyroute2_iproute import IPRoute, NetlinkError

        if libc.unshare(_CLONE_NEWNET) != 0:
            return f"cannot probe for ipvlan support: unshare: errno {ctypes.get_errno()}"
        with IPRoute() as ipr:
            ipr.link("add", ifname="probe0", kind="veth", peer={"ifname": "probe1"})
            try:
                ipr.link("add", ifname="probe2", kind="ipvlan",
                         link=ipr.link_lookup(ifname="probe0")[0], ipvlan_mode=0)
            except NetlinkError as exc:
                return (f"failed to create the ipvlan port: {exc.args[1]}: this kernel has no "
                        "ipvlan support (kernel module \"ipvlan\", CONFIG_IPVLAN)")
        return ""

    # The thread's namespace dies with the thread (nothing is bind-mounted), and its links with it.
    return in_thread(work)

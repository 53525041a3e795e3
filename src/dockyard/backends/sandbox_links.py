"""Moving host links into sandboxes and back (pyroute2): the :class:`SandboxLinks` of the core.

A macvlan or ipvlan port, or a remote plugin's veth end, is made on the host, then moved into the
container's namespace, renamed (``eth1``), addressed and routed there — libnetwork's osl does the
same with a driver's ``SrcName``. Moving a link sets it down, so renaming inside is safe.
"""

from __future__ import annotations

import errno
import os
import socket
from typing import TYPE_CHECKING

from dockyard.backends.bridge import _netlink
from dockyard.backends.netlink import enter, in_thread
from dockyard.core.networks.backend import InterfaceConfig
from dockyard.errors import Unavailable

if TYPE_CHECKING:
    from dockyard.backends.pyroute2_iproute import IPRoute

# IFA_F_NODAD, as backends/netlink.py: IPAM makes addresses unique, DAD would only delay them.
_IFA_F_NODAD = 0x02


def configure(ipr: IPRoute, index: int, config: InterfaceConfig) -> None:
    """Name, MAC, MTU, addresses, up, then routes: the order the kernel accepts them in."""
    settings: dict[str, object] = {"ifname": config.ifname}
    if config.mac:
        settings["address"] = config.mac
    if config.mtu:
        settings["mtu"] = config.mtu
    ipr.link("set", index=index, **settings)
    if config.ip:
        ipr.addr("add", index=index, address=config.ip, prefixlen=config.prefixlen)
    if config.ip6:
        ipr.addr("add", index=index, address=config.ip6, prefixlen=config.prefixlen6,
                 flags=_IFA_F_NODAD)
    ipr.link("set", index=index, state="up")
    for route in config.routes:
        family = socket.AF_INET6 if ":" in route.destination else socket.AF_INET
        if route.connected or not route.next_hop:
            ipr.route("add", dst=route.destination, oif=index, family=family, scope=253)
        else:
            ipr.route("add", dst=route.destination, gateway=route.next_hop, family=family)
    if config.gateway:
        ipr.route("add", dst="default", gateway=config.gateway)
    if config.gateway6:
        ipr.route("add", dst="default", gateway=config.gateway6, family=socket.AF_INET6)


def adopt_link(link: str, sandbox: str, config: InterfaceConfig) -> None:
    """Blocking: move ``link`` into ``sandbox`` and configure it; on failure it returns home."""
    from dockyard.backends.pyroute2_iproute import IPRoute

    with IPRoute() as ipr:
        found = ipr.link_lookup(ifname=link)
        if not found:
            raise Unavailable(f"link {link} does not exist on the host")
        fd = os.open(sandbox, os.O_RDONLY | os.O_CLOEXEC)
        try:
            ipr.link("set", index=found[0], net_ns_fd=fd)
        finally:
            os.close(fd)

    def inside() -> None:
        from dockyard.backends.pyroute2_iproute import IPRoute

        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            enter(sandbox)
            with IPRoute() as ipr:
                index = ipr.link_lookup(ifname=link)[0]
                try:
                    configure(ipr, index, config)
                except BaseException:
                    ipr.link("set", index=index, state="down")
                    ipr.link("set", index=index, ifname=link)
                    ipr.link("set", index=index, net_ns_fd=home)
                    raise
        finally:
            os.close(home)

    in_thread(inside)


def release_link(sandbox: str, ifname: str, rename: str) -> None:
    """Blocking: move ``ifname`` out of the sandbox (as ``rename``) or delete it."""
    if not os.path.exists(sandbox):
        return  # the namespace is gone, and its links with it

    def inside() -> None:
        from dockyard.backends.pyroute2_iproute import IPRoute, NetlinkError

        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            enter(sandbox)
            with IPRoute() as ipr:
                found = ipr.link_lookup(ifname=ifname)
                if not found:
                    return
                try:
                    if rename:
                        ipr.link("set", index=found[0], state="down")
                        ipr.link("set", index=found[0], ifname=rename)
                        ipr.link("set", index=found[0], net_ns_fd=home)
                    else:
                        ipr.link("del", index=found[0])
                except NetlinkError as exc:
                    if exc.code not in (errno.ENODEV, errno.ENOENT):
                        raise
        finally:
            os.close(home)

    in_thread(inside)


class NetlinkSandboxLinks:
    async def adopt(self, link: str, sandbox: str, config: InterfaceConfig) -> None:
        await _netlink(adopt_link, link, sandbox, config)

    async def release(self, sandbox: str, ifname: str, *, rename: str = "") -> None:
        await _netlink(release_link, sandbox, ifname, rename)

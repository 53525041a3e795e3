"""Links, addresses and routes through rtnetlink (backends/rtnetlink.py), and per-container network
namespaces.

A sandbox is a network namespace kept alive by a bind mount on ``<exec-root>/netns/<key>``, so the
runtime can join it by path and it outlives a daemon restart. Work inside a namespace runs in a
short-lived thread that ``setns``-es into it: the namespace is per thread, so the daemon's other
threads stay where they are, and the thread ends instead of switching back. These calls block:
callers run them in a worker thread.
"""

from __future__ import annotations

import ctypes
import errno
import ipaddress
import logging
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from dockyard.backends.rtnetlink import NetlinkError, Rtnl
from dockyard.errors import Unavailable

log = logging.getLogger(__name__)

_CLONE_NEWNET = 0x40000000
_MS_BIND = 4096
_MNT_DETACH = 2
# IFA_F_NODAD: our addresses are unique by IPAM; duplicate address detection would only keep a
# fresh IPv6 address "tentative" (unusable) for a second or two after a container starts.
_IFA_F_NODAD = 0x02
_libc = ctypes.CDLL(None, use_errno=True)
T = TypeVar("T")


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def in_thread(work: Callable[[], T]) -> T:
    """Run ``work`` in a fresh thread and return its result (or raise its error)."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = work()
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller below
            box["error"] = exc

    thread = threading.Thread(target=run, name="netns", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    result: T = box["result"]
    return result


def enter(path: str) -> None:
    """Move the calling thread into the network namespace at ``path``."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        _check(_libc.setns(fd, _CLONE_NEWNET), f"setns {path}")
    finally:
        os.close(fd)


def in_netns(path: str, work: Callable[[], T]) -> T:
    def run() -> T:
        enter(path)
        return work()

    return in_thread(run)


def _sysctl(path: str, value: str) -> None:
    try:
        Path(path).write_text(value)
    except OSError as exc:
        log.warning("sysctl %s=%s: %s", path, value, exc)


class NetlinkLinks:
    """Bridges, veth pairs, addresses and routes; sandboxes under ``netns_dir``."""

    def __init__(self, netns_dir: Path) -> None:
        self.netns_dir = netns_dir

    # ---- host ----
    def occupied_subnets(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        result: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        with Rtnl() as rtnl:
            for family in (socket.AF_INET, socket.AF_INET6):
                for route in rtnl.routes(family):
                    if route.dst and route.dst_len:
                        result.append(ipaddress.ip_network(f"{route.dst}/{route.dst_len}", strict=False))
        return result

    def link_names(self) -> set[str]:
        with Rtnl() as rtnl:
            return {link.name for link in rtnl.links()}

    def ensure_bridge(self, name: str, gateway: str, prefixlen: int, *, gateway6: str = "",
                      prefixlen6: int = 0, owner: str = "", mtu: int = 0) -> None:
        """Create the bridge with its gateway addresses (idempotent) and bring it up. ``owner``
        goes in the link's alias so a later daemon on the same root can tell its own bridges
        from other daemons' after a crash."""
        with Rtnl() as rtnl:
            index = _index(name)
            if index is None:
                rtnl.add_bridge(name)
                index = _existing_index(name)
            if owner or mtu:
                rtnl.set_link(index, alias=owner or None, mtu=mtu)
            have = {a.address for a in rtnl.addresses(index)}
            if gateway not in have:
                rtnl.add_address(index, gateway, prefixlen)
            if gateway6 and gateway6 not in have:
                rtnl.add_address(index, gateway6, prefixlen6, flags=_IFA_F_NODAD)
            rtnl.set_link(index, up=True)
        # Published ports answer on 127.0.0.1: DNAT'd loopback traffic must be routable out of
        # the bridge (Docker sets the same when its userland proxy is off).
        _sysctl(f"/proc/sys/net/ipv4/conf/{name}/route_localnet", "1")

    def owned_bridges(self, owner: str) -> set[str]:
        """Bridges whose alias names ``owner`` (see ensure_bridge)."""
        with Rtnl() as rtnl:
            return {link.name for link in rtnl.links() if link.alias == owner}

    def remove_bridge(self, name: str) -> None:
        with Rtnl() as rtnl:
            _delete_link(rtnl, name)

    # ---- sandboxes ----
    def sandbox_path(self, key: str) -> str:
        return str(self.netns_dir / key)

    @property
    def spare_dir(self) -> Path:
        """Where spare sandboxes wait (``<exec-root>/netns-spare``): apart from the containers'."""
        return self.netns_dir.with_name(self.netns_dir.name + "-spare")

    def create_netns(self, key: str, source: str = "", *, spare: bool = False) -> str:
        """A new network namespace bind-mounted on its path, with loopback up; or ``source``, a
        namespace someone else made (the runtime's, for a remapped container), bind-mounted there.
        ``spare``: made ahead of any container, under :attr:`spare_dir`."""
        directory = self.spare_dir if spare else self.netns_dir
        directory.mkdir(parents=True, exist_ok=True)
        path = str(directory / key)
        self.remove_netns(path)  # a leftover of a crash would hold the old namespace
        Path(path).touch()

        def work() -> None:
            if not source:
                _check(_libc.unshare(_CLONE_NEWNET), "unshare")
            _check(_libc.mount((source or "/proc/thread-self/ns/net").encode(), path.encode(), None,
                               _MS_BIND, None), f"mount {path}")
            if source:
                enter(path)
            with Rtnl() as rtnl:
                rtnl.set_link(_existing_index("lo"), up=True)

        try:
            in_thread(work)
        except BaseException:
            self.remove_netns(path)
            raise
        return path

    def adopt_netns(self, pooled: str, key: str) -> str:
        """Give ``key`` the spare namespace ``pooled`` (made by ``create_netns(spare=True)``):
        two mount calls instead of a thread, ``unshare`` and a netlink socket on the start path."""
        path = self.sandbox_path(key)
        spare = str(self.spare_dir / pooled)
        self.remove_netns(key)
        self.netns_dir.mkdir(parents=True, exist_ok=True)  # the first container's start makes it
        Path(path).touch()
        try:
            _check(_libc.mount(spare.encode(), path.encode(), None, _MS_BIND, None), f"mount {path}")
        except BaseException:
            self.remove_netns(key)
            raise
        self.remove_netns(spare)
        return path

    def spares(self) -> list[str]:
        return [p.name for p in self.spare_dir.iterdir()] if self.spare_dir.is_dir() else []

    def remove_netns(self, key: str) -> None:
        """Unmount and remove the sandbox ``key`` (or at ``key``, an absolute path)."""
        path = key if key.startswith("/") else self.sandbox_path(key)
        if not os.path.lexists(path):
            return
        if _libc.umount2(path.encode(), _MNT_DETACH) != 0:
            code = ctypes.get_errno()
            if code not in (errno.EINVAL, errno.ENOENT):
                raise Unavailable(f"unmount {path}: {os.strerror(code)}")
        os.unlink(path)

    def sandboxes(self) -> list[str]:
        if not self.netns_dir.is_dir():
            return []
        return [p.name for p in self.netns_dir.iterdir()]

    # ---- endpoints ----
    def add_endpoint(self, *, bridge: str, veth: str, sandbox: str, ifname: str, ip: str,
                     prefixlen: int, mac: str, gateway: str | None, ip6: str = "",
                     prefixlen6: int = 0, gateway6: str | None = None, mtu: int = 0) -> None:
        """A veth pair: ``veth`` on the bridge, its peer ``ifname`` inside the sandbox with the
        addresses, and the default routes via ``gateway``/``gateway6`` when given."""
        with Rtnl() as rtnl:
            bridge_index = _index(bridge)
            if bridge_index is None:
                raise Unavailable(f"bridge {bridge} does not exist")
            fd = os.open(sandbox, os.O_RDONLY | os.O_CLOEXEC)
            try:
                rtnl.add_veth(veth, ifname, peer_netns_fd=fd, peer_mac=mac, mtu=mtu)
            finally:
                os.close(fd)
            try:
                rtnl.set_link(_existing_index(veth), master=bridge_index, up=True)
                # Hairpin: with br_netfilter loaded, a container's packet DNAT'd to its own
                # published port is bridged back out of the port it came in by (as Docker sets
                # it without its userland proxy).
                _sysctl(f"/sys/class/net/{veth}/brport/hairpin_mode", "1")
                in_netns(sandbox, lambda: _configure_inside(ifname, (ip, prefixlen, gateway),
                                                            (ip6, prefixlen6, gateway6)))
            except BaseException:
                _delete_link(rtnl, veth)
                raise

    def remove_endpoint(self, veth: str) -> None:
        with Rtnl() as rtnl:
            _delete_link(rtnl, veth)


_Address = tuple[str, int, str | None]  # address, prefix length, gateway (None: no default route)


def _index(name: str) -> int | None:
    """The index of link ``name`` in the calling thread's namespace. An ioctl: a netlink
    ``link_lookup`` costs ~0.4 ms, three of them on every container start."""
    try:
        return socket.if_nametoindex(name)
    except OSError:
        return None


def _existing_index(name: str) -> int:
    index = _index(name)
    if index is None:
        raise Unavailable(f"link {name} vanished")
    return index


def _delete_link(rtnl: Rtnl, name: str) -> None:
    """Delete link ``name`` if it is there (deleting a veth takes its peer with it)."""
    index = _index(name)
    if index is not None:
        with _ignore_missing():
            rtnl.delete_link(index)


def _configure_inside(ifname: str, v4: _Address, v6: _Address) -> None:
    with Rtnl() as rtnl:
        index = _existing_index(ifname)
        rtnl.add_address(index, v4[0], v4[1])
        if v6[0]:
            rtnl.add_address(index, v6[0], v6[1], flags=_IFA_F_NODAD)
        rtnl.set_link(index, up=True)
        if v4[2]:
            rtnl.add_default_route(v4[2])
        if v6[0] and v6[2]:
            rtnl.add_default_route(v6[2])


class _ignore_missing:
    """Suppress netlink's "no such device" (the link is already gone)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> bool:
        return isinstance(exc, NetlinkError) and exc.code in (errno.ENODEV, errno.ENOENT)

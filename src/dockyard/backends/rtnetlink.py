"""The rtnetlink requests of a container's start and of the default bridge, on a plain socket.

pyroute2 (backends/pyroute2_iproute.py) stays for the rarer links: macvlan and 802.1q parents, host links
moved into a sandbox. It runs every request through an asyncio loop of its own, ~0.5 ms each,
and its import holds ~5 MB of an idle daemon. The requests here are few and fixed (a bridge, a
veth pair, a bridge port, an address, a link up, a default route, three dumps), so they are
packed with ``struct``: ~0.05 ms each, and nothing imported.

Calls block; callers run them in a worker thread, as for pyroute2. A socket belongs to the
network namespace of the thread that opened it.
"""

from __future__ import annotations

import os
import socket
import struct
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType

# linux/netlink.h
_NLMSG_ERROR = 2
_NLMSG_DONE = 3
_NLM_F_REQUEST = 0x1
_NLM_F_ACK = 0x4
_NLM_F_DUMP = 0x300
_NLM_F_EXCL = 0x200
_NLM_F_CREATE = 0x400
_NLA_TYPE_MASK = 0x3FFF  # without NLA_F_NESTED and NLA_F_NET_BYTEORDER
# linux/rtnetlink.h
_RTM_NEWLINK, _RTM_DELLINK, _RTM_GETLINK, _RTM_SETLINK = 16, 17, 18, 19
_RTM_NEWADDR, _RTM_GETADDR = 20, 22
_RTM_NEWROUTE, _RTM_GETROUTE = 24, 26
_RT_TABLE_MAIN = 254
_RTPROT_STATIC = 4  # what pyroute2 gave our routes before: ``ip route`` shows "proto static"
_RTN_UNICAST = 1
_RTA_DST, _RTA_GATEWAY = 1, 5
# linux/if_link.h, linux/veth.h, linux/if_addr.h
_IFLA_ADDRESS, _IFLA_IFNAME, _IFLA_MTU, _IFLA_MASTER = 1, 3, 4, 10
_IFLA_LINKINFO, _IFLA_IFALIAS, _IFLA_NET_NS_FD = 18, 20, 28
_IFLA_INFO_KIND, _IFLA_INFO_DATA = 1, 2
_VETH_INFO_PEER = 1
_IFA_ADDRESS, _IFA_LOCAL = 1, 2
_IFF_UP = 0x1

_HEADER = struct.Struct("=IHHII")  # nlmsghdr: length, type, flags, sequence, port
_ERROR = struct.Struct("=i")  # nlmsgerr's error, before the request it answers
_IFINFO = struct.Struct("=BxHiII")  # ifinfomsg: family, type, index, flags, change
_IFADDR = struct.Struct("=BBBBI")  # ifaddrmsg: family, prefix length, flags, scope, index
_RTMSG = struct.Struct("=BBBBBBBBI")  # rtmsg: family, dst_len, src_len, tos, table, protocol,
#                                       scope, type, flags
_ATTR = struct.Struct("=HH")  # rtattr: length, type
_U32 = struct.Struct("=I")
_RECEIVE = 1 << 16


class NetlinkError(OSError):
    """The kernel refused a request; ``errno`` says why (``code`` too, as pyroute2 names it)."""

    @property
    def code(self) -> int:
        return self.errno or 0


def refused(exc: BaseException) -> bool:
    """Whether ``exc`` is the kernel's refusal of a request, from here or from pyroute2 (whose
    error is no OSError; it is looked up only if pyroute2 was loaded)."""
    if isinstance(exc, OSError):
        return True
    pyroute2 = sys.modules.get("pyroute2.netlink.exceptions")
    return pyroute2 is not None and isinstance(exc, pyroute2.NetlinkError)


@dataclass(frozen=True)
class Link:
    index: int
    name: str
    alias: str


@dataclass(frozen=True)
class Address:
    index: int
    address: str
    prefixlen: int


@dataclass(frozen=True)
class Route:
    family: int
    dst: str  # "" for a default route
    dst_len: int


def _padded(length: int) -> int:
    return (length + 3) & ~3


def attr(kind: int, value: bytes) -> bytes:
    """One rtattr, padded to four bytes."""
    length = _ATTR.size + len(value)
    return _ATTR.pack(length, kind) + value + b"\0" * (_padded(length) - length)


def _text(kind: int, value: str) -> bytes:
    return attr(kind, value.encode() + b"\0")


def _u32(kind: int, value: int) -> bytes:
    return attr(kind, _U32.pack(value))


def parse_attrs(data: bytes, offset: int = 0) -> dict[int, bytes]:
    """The rtattrs in ``data`` from ``offset``, by type (the last one of a type wins)."""
    found: dict[int, bytes] = {}
    while offset + _ATTR.size <= len(data):
        length, kind = _ATTR.unpack_from(data, offset)
        if length < _ATTR.size:
            break
        found[kind & _NLA_TYPE_MASK] = data[offset + _ATTR.size:offset + length]
        offset += _padded(length)
    return found


def _c_string(value: bytes | None) -> str:
    return value.split(b"\0", 1)[0].decode(errors="replace") if value else ""


def _family(address: str) -> int:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


class Rtnl:
    """A NETLINK_ROUTE socket in the calling thread's network namespace."""

    def __init__(self) -> None:
        self._socket = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                                     socket.NETLINK_ROUTE)
        try:
            self._socket.bind((0, 0))
        except BaseException:
            self._socket.close()
            raise
        self._sequence = 0

    def close(self) -> None:
        self._socket.close()

    def __enter__(self) -> Rtnl:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # ---- the exchange ----
    def _send(self, kind: int, flags: int, payload: bytes) -> int:
        self._sequence += 1
        self._socket.send(_HEADER.pack(_HEADER.size + len(payload), kind, flags | _NLM_F_REQUEST,
                                       self._sequence, 0) + payload)
        return self._sequence

    def _replies(self, sequence: int) -> Iterator[tuple[int, int, bytes]]:
        """(type, flags, payload) of each message answering ``sequence``, until the kernel ends
        the answer (an error or ack message, or the end of a dump)."""
        while True:
            data = self._socket.recv(_RECEIVE)
            offset = 0
            while offset + _HEADER.size <= len(data):
                length, kind, flags, seq, _ = _HEADER.unpack_from(data, offset)
                if length < _HEADER.size:
                    return
                payload = data[offset + _HEADER.size:offset + length]
                offset += _padded(length)
                if seq != sequence:
                    continue  # the answer to an earlier request given up on
                if kind == _NLMSG_ERROR:
                    code = -_ERROR.unpack_from(payload)[0]
                    if code:
                        raise NetlinkError(code, os.strerror(code))
                    return
                if kind == _NLMSG_DONE:
                    return
                yield kind, flags, payload

    def request(self, kind: int, payload: bytes, flags: int = 0) -> None:
        """Send one request and wait for the kernel's ack; its refusal raises NetlinkError."""
        for _ in self._replies(self._send(kind, flags | _NLM_F_ACK, payload)):
            pass

    def dump(self, kind: int, payload: bytes) -> list[bytes]:
        """The payloads of a dump request's answer."""
        return [body for _, _, body in self._replies(self._send(kind, _NLM_F_DUMP, payload))]

    # ---- links ----
    def add_bridge(self, name: str) -> None:
        info = attr(_IFLA_LINKINFO, _text(_IFLA_INFO_KIND, "bridge"))
        self.request(_RTM_NEWLINK, _IFINFO.pack(0, 0, 0, 0, 0) + _text(_IFLA_IFNAME, name) + info,
                     _NLM_F_CREATE | _NLM_F_EXCL)

    def add_veth(self, name: str, peer: str, *, peer_netns_fd: int, peer_mac: str = "",
                 mtu: int = 0) -> None:
        """A veth pair: ``name`` here, ``peer`` in the namespace open on ``peer_netns_fd``."""
        mtu_attr = _u32(_IFLA_MTU, mtu) if mtu else b""
        peer_attrs = _text(_IFLA_IFNAME, peer) + _u32(_IFLA_NET_NS_FD, peer_netns_fd) + mtu_attr
        if peer_mac:
            peer_attrs += attr(_IFLA_ADDRESS, bytes.fromhex(peer_mac.replace(":", "")))
        peer_info = attr(_VETH_INFO_PEER, _IFINFO.pack(0, 0, 0, 0, 0) + peer_attrs)
        info = attr(_IFLA_LINKINFO, _text(_IFLA_INFO_KIND, "veth") + attr(_IFLA_INFO_DATA, peer_info))
        self.request(_RTM_NEWLINK, _IFINFO.pack(0, 0, 0, 0, 0) + _text(_IFLA_IFNAME, name) + mtu_attr
                     + info, _NLM_F_CREATE | _NLM_F_EXCL)

    def set_link(self, index: int, *, up: bool = False, master: int = 0, mtu: int = 0,
                 alias: str | None = None) -> None:
        """Bring link ``index`` up, or give it a master, an MTU or an alias, in one request."""
        attrs = (_u32(_IFLA_MASTER, master) if master else b"") + (_u32(_IFLA_MTU, mtu) if mtu else b"")
        if alias is not None:
            attrs += _text(_IFLA_IFALIAS, alias)
        flags = _IFF_UP if up else 0
        self.request(_RTM_SETLINK, _IFINFO.pack(0, 0, index, flags, flags) + attrs)

    def delete_link(self, index: int) -> None:
        self.request(_RTM_DELLINK, _IFINFO.pack(0, 0, index, 0, 0))

    def links(self) -> list[Link]:
        found = []
        for body in self.dump(_RTM_GETLINK, _IFINFO.pack(socket.AF_UNSPEC, 0, 0, 0, 0)):
            _, _, index, _, _ = _IFINFO.unpack_from(body)
            attrs = parse_attrs(body, _IFINFO.size)
            found.append(Link(index, _c_string(attrs.get(_IFLA_IFNAME)),
                              _c_string(attrs.get(_IFLA_IFALIAS))))
        return found

    # ---- addresses ----
    def add_address(self, index: int, address: str, prefixlen: int, *, flags: int = 0) -> None:
        family = _family(address)
        packed = socket.inet_pton(family, address)
        self.request(_RTM_NEWADDR, _IFADDR.pack(family, prefixlen, flags, 0, index)
                     + attr(_IFA_LOCAL, packed) + attr(_IFA_ADDRESS, packed),
                     _NLM_F_CREATE | _NLM_F_EXCL)

    def addresses(self, index: int = 0) -> list[Address]:
        """The addresses of link ``index`` (0: of every link)."""
        found = []
        for body in self.dump(_RTM_GETADDR, _IFADDR.pack(socket.AF_UNSPEC, 0, 0, 0, 0)):
            family, prefixlen, _, _, owner = _IFADDR.unpack_from(body)
            value = parse_attrs(body, _IFADDR.size).get(_IFA_ADDRESS)
            if value is None or (index and owner != index):
                continue
            found.append(Address(owner, socket.inet_ntop(family, value), prefixlen))
        return found

    # ---- routes ----
    def add_default_route(self, gateway: str) -> None:
        family = _family(gateway)
        self.request(_RTM_NEWROUTE,
                     _RTMSG.pack(family, 0, 0, 0, _RT_TABLE_MAIN, _RTPROT_STATIC, 0, _RTN_UNICAST, 0)
                     + attr(_RTA_GATEWAY, socket.inet_pton(family, gateway)),
                     _NLM_F_CREATE | _NLM_F_EXCL)

    def routes(self, family: int) -> list[Route]:
        """The routes of ``family`` in every table."""
        found = []
        for body in self.dump(_RTM_GETROUTE, _RTMSG.pack(family, 0, 0, 0, 0, 0, 0, 0, 0)):
            route_family, dst_len = body[0], body[1]
            dst = parse_attrs(body, _RTMSG.size).get(_RTA_DST)
            found.append(Route(route_family, socket.inet_ntop(route_family, dst) if dst else "",
                               dst_len))
        return found

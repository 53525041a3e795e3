"""rtnetlink messages as backends/rtnetlink.py packs and reads them."""

from __future__ import annotations

import errno
import socket
import struct

import pytest

from dockyard.backends import rtnetlink
from dockyard.backends.rtnetlink import NetlinkError, attr, parse_attrs, refused

pytestmark = pytest.mark.unit


def test_attributes_are_padded_to_four_bytes_and_read_back() -> None:
    packed = attr(3, b"eth0\0") + attr(4, struct.pack("=I", 1400)) + attr(20, b"")
    assert len(attr(3, b"eth0\0")) == 12  # 4 + 5, padded
    assert parse_attrs(packed) == {3: b"eth0\0", 4: struct.pack("=I", 1400), 20: b""}


def test_nested_and_byte_order_flags_do_not_hide_the_type() -> None:
    nested = struct.pack("=HH", 8, 18 | 0x8000) + b"abcd"
    assert parse_attrs(nested) == {18: b"abcd"}


def test_a_truncated_attribute_ends_the_walk() -> None:
    assert parse_attrs(attr(1, b"ok") + struct.pack("=HH", 2, 9)) == {1: b"ok"}


def test_refusals_are_oserrors_with_the_kernels_code() -> None:
    exc = NetlinkError(errno.EEXIST, "File exists")
    assert isinstance(exc, OSError) and exc.code == errno.EEXIST
    assert refused(exc) and not refused(ValueError("x"))


def test_a_refusal_is_read_from_the_kernels_error_message() -> None:
    """An error message answering our sequence number raises; another one's is skipped."""
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    rtnl = rtnetlink.Rtnl.__new__(rtnetlink.Rtnl)
    rtnl._socket, rtnl._sequence = mine, 0  # type: ignore[assignment]
    header = struct.Struct("=IHHII")

    def error(sequence: int, code: int) -> bytes:
        return header.pack(header.size + 4, 2, 0, sequence, 0) + struct.pack("=i", code)

    theirs.send(error(7, 0) + error(1, -errno.ENODEV))
    with pytest.raises(NetlinkError) as caught:
        rtnl.request(17, b"\0" * 16)
    assert caught.value.code == errno.ENODEV
    assert header.unpack_from(theirs.recv(4096))[1:4] == (17, 0x1 | 0x4, 1)
    mine.close()
    theirs.close()


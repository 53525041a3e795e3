"""The busybox bootstrap rootfs: deterministic, with the applet links and the /etc skeleton."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path

import pytest

from dockyard.cli.bootstrap import FIXED_MTIME, build_rootfs, list_applets

FAKE_BINARY = b"\x7fELF fake busybox"
APPLETS = ["usr/bin/env", "bin/sh", "bin/ls", "bin/busybox", "sbin/ifconfig", "usr/sbin/chroot"]


def test_two_builds_are_identical_bytes() -> None:
    first = build_rootfs(FAKE_BINARY, list(APPLETS))
    second = build_rootfs(FAKE_BINARY, list(reversed(APPLETS)))
    assert first == second
    assert build_rootfs(FAKE_BINARY + b"!", APPLETS) != first


def test_rootfs_contents() -> None:
    with tarfile.open(fileobj=io.BytesIO(build_rootfs(FAKE_BINARY, APPLETS))) as tar:
        members = {m.name: m for m in tar.getmembers()}
        names = list(members)
        assert names == sorted(names)
        assert members["bin/sh"].issym() and members["bin/sh"].linkname == "/bin/busybox"
        assert members["usr/bin/env"].linkname == "/bin/busybox"
        busybox = members["bin/busybox"]
        assert busybox.isfile() and busybox.mode == 0o755
        extracted = tar.extractfile(busybox)
        assert extracted is not None and extracted.read() == FAKE_BINARY
        passwd = tar.extractfile(members["etc/passwd"])
        assert passwd is not None and passwd.read().startswith(b"root:x:0:0:root:/root:/bin/sh\n")
        assert members["tmp"].isdir() and members["tmp"].mode == 0o1777
        for name in ("proc", "sys", "dev", "root", "home", "var", "etc/hostname", "etc/hosts",
                     "etc/resolv.conf", "etc/group"):
            assert name in members
        assert {(m.uid, m.gid, m.uname, m.gname, m.mtime) for m in members.values()} == {
            (0, 0, "", "", FIXED_MTIME)}


@pytest.mark.skipif(not os.path.exists("/bin/busybox"), reason="no host busybox")
def test_host_busybox_gives_a_stable_layer() -> None:
    applets = list_applets(Path("/bin/busybox"))
    assert "bin/sh" in applets
    data = Path("/bin/busybox").read_bytes()
    digests = {hashlib.sha256(build_rootfs(data, applets)).hexdigest() for _ in range(2)}
    assert len(digests) == 1

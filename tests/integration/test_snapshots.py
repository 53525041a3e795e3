"""OverlaySnapshotter + SyscallMounter on the real kernel: layers stack, whiteouts hide, upper writes."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.backends.overlay import OverlaySnapshotter, SyscallMounter
from dockyard.core.ids import ChainId, chain_ids, digest_of
from dockyard.core.layers.apply import Whiteouts, apply_layer
from dockyard.core.layers.changes import changes
from dockyard.core.layers.snapshots import Mount
from dockyard.errors import InvalidArgument

pytestmark = pytest.mark.root


def _tar(path: Path, files: dict[str, str]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data.encode()))
    return path


def _commit_layer(snap: OverlaySnapshotter, tar: Path, name: ChainId, parent: ChainId | None) -> None:
    key = f"unpack-{name[7:15]}"
    mounts = snap.prepare(key, parent)
    assert mounts[0].type == "overlay"
    apply_layer(tar, snap.upper_dir(key), whiteouts=Whiteouts.OVERLAY)
    snap.commit(name, key)


@pytest.fixture
def two_layers(tmp_path: Path) -> Iterator[tuple[OverlaySnapshotter, ChainId]]:
    snap = OverlaySnapshotter(tmp_path / "snapshots")
    l1 = _tar(tmp_path / "l1.tar", {"etc/passwd": "root\n", "etc/gone": "x", "bin/tool": "v1"})
    l2 = _tar(tmp_path / "l2.tar", {"etc/.wh.gone": "", "bin/tool": "v2", "usr/new": "n"})
    ids = chain_ids([digest_of(l1.read_bytes()), digest_of(l2.read_bytes())])
    _commit_layer(snap, l1, ids[0], None)
    _commit_layer(snap, l2, ids[1], ids[0])
    yield snap, ids[1]


def test_mount_two_layers_write_whiteout_unmount_remove(
        tmp_path: Path, two_layers: tuple[OverlaySnapshotter, ChainId]) -> None:
    snap, top = two_layers
    mounts = snap.prepare("ctr1", top)
    assert snap.parent_dirs("ctr1")[0] == tmp_path / "snapshots" / top[7:] / "fs"
    target = tmp_path / "rootfs"
    target.mkdir()
    mounter = SyscallMounter()
    mounter.mount(mounts, target)
    try:
        assert (target / "etc/passwd").read_text() == "root\n"  # bottom layer
        assert (target / "bin/tool").read_text() == "v2"  # top layer wins
        assert (target / "usr/new").read_text() == "n"
        assert not (target / "etc/gone").exists()  # whited out by layer 2
        (target / "etc/passwd").write_text("changed\n")
        (target / "added").write_text("a")
        os.unlink(target / "usr/new")
    finally:
        mounter.unmount(target)
    assert list(target.iterdir()) == []
    upper = snap.upper_dir("ctr1")
    assert (upper / "added").read_text() == "a"
    assert stat.S_ISCHR(os.lstat(upper / "usr/new").st_mode)
    got = changes(upper, snap.parent_dirs("ctr1"))
    assert (1, "/added") in got and (0, "/etc/passwd") in got and (2, "/usr/new") in got
    mounter.unmount(target)  # not mounted: no error
    snap.remove("ctr1")
    assert not snap.exists("ctr1") and snap.exists(top)
    snap.remove(top)
    assert not snap.exists(top)


def test_snapshot_without_parent_still_mounts(tmp_path: Path) -> None:
    snap = OverlaySnapshotter(tmp_path / "s")
    mounts = snap.prepare("scratch", None)
    target = tmp_path / "m"
    target.mkdir()
    SyscallMounter().mount(mounts, target)
    try:
        (target / "f").write_text("x")
    finally:
        SyscallMounter().unmount(target)
    assert (snap.upper_dir("scratch") / "f").read_text() == "x"


def test_leftovers_of_a_crash_are_removed(tmp_path: Path) -> None:
    root = tmp_path / "s"
    OverlaySnapshotter(root)
    (root / "active" / ".tmp-half-1234").mkdir()
    (root / ".trash-abcd").mkdir()
    OverlaySnapshotter(root)
    assert sorted(p.name for p in root.iterdir()) == ["active", "empty"]
    assert list((root / "active").iterdir()) == []


def test_options_longer_than_a_page_fail_clearly(tmp_path: Path) -> None:
    target = tmp_path / "m"
    target.mkdir()
    lowers = ":".join(["/x" * 30] * 80)
    long = Mount("overlay", "overlay", ("lowerdir=" + lowers, "upperdir=/u", "workdir=/w"))
    with pytest.raises(InvalidArgument, match="too many layers"):
        SyscallMounter().mount([long], target)


def test_bind_mount_read_only(tmp_path: Path) -> None:
    source, target = tmp_path / "src", tmp_path / "dst"
    source.mkdir()
    target.mkdir()
    (source / "f").write_text("x")
    mounter = SyscallMounter()
    mounter.mount([Mount("bind", str(source), ("rbind", "ro"))], target)
    try:
        assert (target / "f").read_text() == "x"
        with pytest.raises(OSError):
            (target / "g").write_text("y")
    finally:
        mounter.unmount(target)

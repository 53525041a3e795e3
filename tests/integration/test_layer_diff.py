"""write_layer on a real overlay upper directory: whiteouts and opaque directories become OCI's."""

from __future__ import annotations

import hashlib
import io
import shutil
import tarfile
from pathlib import Path

import pytest

from dockyard.backends.overlay import OverlaySnapshotter, SyscallMounter
from dockyard.core.ids import ChainId
from dockyard.core.layers.apply import Whiteouts, apply_layer
from dockyard.core.layers.diff import write_layer

pytestmark = pytest.mark.root


def test_overlay_changes_round_trip_through_a_layer(tmp_path: Path) -> None:
    base = tmp_path / "base.tar"
    with tarfile.open(base, "w") as tar:
        for name, data in {"keep": "k", "gone": "g", "dir/old": "o", "dir/also": "a"}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data.encode()))
    snap = OverlaySnapshotter(tmp_path / "snapshots")
    snap.prepare("unpack", None)
    apply_layer(base, snap.upper_dir("unpack"), whiteouts=Whiteouts.OVERLAY)
    base_chain = ChainId("sha256:" + "1" * 64)
    snap.commit(base_chain, "unpack")

    mounts = snap.prepare("ctr", base_chain)
    target = tmp_path / "rootfs"
    target.mkdir()
    mounter = SyscallMounter()
    mounter.mount(mounts, target)
    try:
        (target / "gone").unlink()
        shutil.rmtree(target / "dir")
        (target / "dir").mkdir()  # overlay marks the re-made directory opaque
        (target / "dir" / "fresh").write_text("f")
        (target / "new").write_text("n")
    finally:
        mounter.unmount(target)

    layer = tmp_path / "layer.tar"
    written = write_layer(snap.upper_dir("ctr"), snap.parent_dirs("ctr"), layer)
    # The DiffID taken while writing is the file's: the content store takes it without a re-read.
    assert written.path == layer
    assert written.diff_id == "sha256:" + hashlib.sha256(layer.read_bytes()).hexdigest()
    with tarfile.open(layer) as tar:
        names = set(tar.getnames())
    assert {".wh.gone", "dir", "dir/.wh..wh..opq", "dir/fresh", "new"} <= names
    assert "keep" not in names

    # Applied on the base, the layer gives the container's view.
    snap.prepare("check", base_chain)
    apply_layer(layer, snap.upper_dir("check"), whiteouts=Whiteouts.OVERLAY)
    snap.commit(ChainId("sha256:" + "2" * 64), "check")
    view = tmp_path / "view"
    view.mkdir()
    mounter.mount(snap.prepare("view", ChainId("sha256:" + "2" * 64)), view)
    try:
        files = sorted(str(p.relative_to(view)) for p in view.rglob("*"))
    finally:
        mounter.unmount(view)
    assert files == ["dir", "dir/fresh", "keep", "new"]

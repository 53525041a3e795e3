"""Mount resolution (-v, --mount, --tmpfs, --volumes-from, image VOLUME), the runtime's mounts,
and the container filesystem view docker cp works on (symlinks stay inside the container)."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from dockyard.core.containers.archive import ContainerFs, go_file_mode
from dockyard.core.containers.mounts import MountPoint, bind_mounts, parse_bind, parse_mount, plan
from dockyard.core.containers.volumes import copy_up
from dockyard.errors import Forbidden, InvalidArgument, NotFound


def test_parse_bind_forms() -> None:
    bind = parse_bind("/host/dir/:/ctr:ro,rshared")
    assert (bind.type, bind.source, bind.destination, bind.rw, bind.propagation) == (
        "bind", "/host/dir", "/ctr", False, "rshared")
    vol = parse_bind("data:/var/lib/db")
    assert (vol.type, vol.name, vol.mode, vol.rw) == ("volume", "data", "z", True)
    assert parse_bind("data:/d:nocopy").nocopy
    for bad, message in (("data:rel", "must be absolute"), ("/a:/b:bogus", "invalid mode"),
                         ("a:b:c:d", "invalid volume specification"), ("/h:/", "can't be '/'")):
        with pytest.raises(InvalidArgument, match=message):
            parse_bind(bad)


def test_parse_mount_forms() -> None:
    tmpfs = parse_mount({"Type": "tmpfs", "Target": "/t",
                         "TmpfsOptions": {"SizeBytes": 1 << 20, "Mode": 0o1777}})
    assert tmpfs.options == ("size=1024k", "mode=1777")
    vol = parse_mount({"Type": "volume", "Source": "v", "Target": "/v", "ReadOnly": True,
                       "VolumeOptions": {"NoCopy": True, "Labels": {"a": "b"}}})
    assert (vol.name, vol.rw, vol.nocopy, vol.volume_labels) == ("v", False, True, (("a", "b"),))
    with pytest.raises(InvalidArgument, match='mount type unknown: "nfs"'):
        parse_mount({"Type": "nfs", "Target": "/x"})
    with pytest.raises(InvalidArgument, match="invalid propagation mode"):
        parse_mount({"Type": "bind", "Source": "/x", "Target": "/x", "BindOptions": {"Propagation": "up"}})


def test_plan_precedence() -> None:
    inherited = [MountPoint(type="volume", destination="/shared", name="s", rw=True),
                 MountPoint(type="volume", destination="/over", name="old")]
    host = {"Binds": ["/h:/over"], "Mounts": [{"Type": "volume", "Source": "m", "Target": "/m"}],
            "Tmpfs": {"/run": "size=1m"}}
    points = plan(host, {"/anon": {}, "/m": {}, "/run": {}}, [(inherited, "ro")])
    by_dest = {p.destination: p for p in points}
    assert by_dest["/shared"].rw is False  # --volumes-from x:ro
    assert by_dest["/over"].type == "bind"  # -v wins over an inherited mount
    assert by_dest["/anon"].type == "volume" and by_dest["/anon"].name == ""  # anonymous, to create
    assert by_dest["/m"].name == "m" and by_dest["/run"].type == "tmpfs"
    with pytest.raises(InvalidArgument, match="Duplicate mount point: /x"):
        plan({"Binds": ["/a:/x"], "Mounts": [{"Type": "bind", "Source": "/b", "Target": "/x"}]}, {}, [])


def test_bind_mounts_order_and_options() -> None:
    points = [MountPoint(type="bind", destination="/a/b", source="/h2", rw=False, propagation="rslave"),
              MountPoint(type="volume", destination="/a", source="/v"),
              MountPoint(type="tmpfs", destination="/t", options=("size=1024k",))]
    mounts = bind_mounts(points)
    assert [m.destination for m in mounts] == ["/a", "/t", "/a/b"]
    assert mounts[2].options == ("rbind", "rslave", "ro")
    assert mounts[1].type == "tmpfs" and "size=1024k" in mounts[1].options and "noexec" in mounts[1].options


@pytest.fixture
def fs(tmp_path: Path) -> ContainerFs:
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("root\n")
    (root / "abs").symlink_to("/etc")
    (root / "up").symlink_to("../../../..")
    vol = tmp_path / "vol"
    vol.mkdir()
    (vol / "inside").write_text("vol\n")
    return ContainerFs(root, [MountPoint(type="volume", destination="/data", source=str(vol), name="v"),
                              MountPoint(type="bind", destination="/ro", source=str(vol), rw=False)])


def test_resolve_keeps_symlinks_inside(fs: ContainerFs, tmp_path: Path) -> None:
    assert fs.resolve("/abs/passwd", "c", follow_last=True) == "/etc/passwd"
    assert fs.resolve("/up/etc", "c", follow_last=True) == "/etc"
    assert fs.resolve("/abs", "c", follow_last=False) == "/abs"
    assert fs.resolve("/../../etc", "c", follow_last=True) == "/etc"
    assert fs.stat("/data/inside", "c").size == 4  # the volume's file, not the rootfs's
    info = fs.stat("/abs", "c")
    assert info.link_target == "/etc" and info.mode & (1 << 27)
    with pytest.raises(NotFound, match="Could not find the file /nope in container c"):
        fs.stat("/nope", "c")


def _tar(**files: str) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, text in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.uid, info.gid = len(text), 7, 8
            tar.addfile(info, io.BytesIO(text.encode()))
    buf.seek(0)
    return buf


def test_extract_follows_the_container_view(fs: ContainerFs, tmp_path: Path) -> None:
    fs.extract("/up", "c", _tar(f="x"))  # "/up" is a symlink above the root: lands in "/"
    assert (tmp_path / "rootfs" / "f").read_text() == "x"
    fs.extract("/data", "c", _tar(g="y"), owner=(0, 0))
    assert (tmp_path / "vol" / "g").read_text() == "y" and (tmp_path / "vol" / "g").stat().st_uid == 0
    with pytest.raises(Forbidden, match="read-only"):
        fs.extract("/ro", "c", _tar(h="z"))
    with pytest.raises(InvalidArgument, match="not a directory"):
        fs.extract("/etc/passwd", "c", _tar(h="z"))
    with pytest.raises(InvalidArgument, match="escapes"):
        fs.extract("/etc", "c", _tar(**{"../../evil": "z"}))


def test_archive_names_the_entry_by_its_base_name(fs: ContainerFs) -> None:
    out = io.BytesIO()
    fs.write_archive("/abs/passwd", "c", out)
    out.seek(0)
    with tarfile.open(fileobj=out) as tar:
        assert tar.getnames() == ["passwd"]


def test_go_file_mode() -> None:
    assert go_file_mode(0o40755) == (1 << 31) | 0o755
    assert go_file_mode(0o100644) == 0o644


def test_copy_up_fills_only_an_empty_volume(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    (root / "data" / "sub").mkdir(parents=True)
    (root / "data" / "sub" / "f").write_text("seed")
    os.chown(root / "data" / "sub" / "f", 1000, 1000) if os.geteuid() == 0 else None
    volume = tmp_path / "vol"
    volume.mkdir()
    copy_up(root, "/data", volume)
    assert (volume / "sub" / "f").read_text() == "seed"
    (root / "data" / "new").write_text("later")
    copy_up(root, "/data", volume)
    assert not (volume / "new").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    copy_up(root, "/missing", empty)
    assert list(empty.iterdir()) == []

"""core/rootfs: lookups that never leave the tree, whatever its symlinks say (any user)."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from dockyard.core.rootfs.copy import copy_into
from dockyard.core.rootfs.openat2 import openat2
from dockyard.core.rootfs.root import Root
from dockyard.core.rootfs.tree import TarWriter, pin, tree_size
from dockyard.core.rootfs.unpack import UnpackOptions, Whiteouts, unpack
from dockyard.core.rootfs.view import Mounted, View
from dockyard.errors import Forbidden, InvalidArgument, NotFound


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    """A root with hostile symlinks, and a host directory beside it they all point at."""
    host, root = tmp_path / "host", tmp_path / "root"
    host.mkdir()
    (host / "secret").write_text("host\n")
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    os.symlink(str(host), root / "abs")  # absolute: means <root><host> inside
    os.symlink("../../../../../../" + str(host).lstrip("/"), root / "rel")  # climbs: stops at the top
    os.symlink("/proc/self/root" + str(host), root / "magic")
    os.symlink("loop", root / "loop")
    return root, host


def _read(root: Root, path: str) -> bytes:
    fd = root.open(path, os.O_RDONLY)
    with os.fdopen(fd, "rb") as f:
        return f.read()


@pytest.mark.parametrize("path", ["abs/secret", "rel/secret", "../../host/secret", "/../host/secret",
                                  "magic/secret", "etc/../../host/secret"])
def test_lookups_stay_in_the_root(tree: tuple[Path, Path], path: str) -> None:
    root_dir, _ = tree
    with Root.at(root_dir) as root, pytest.raises(OSError):
        _read(root, path)


def test_absolute_links_restart_at_the_root(tree: tuple[Path, Path]) -> None:
    root_dir, host = tree
    inside = root_dir / str(host).lstrip("/")
    inside.mkdir(parents=True)
    (inside / "secret").write_text("inside\n")
    with Root.at(root_dir) as root:
        assert _read(root, "abs/secret") == b"inside\n"
        assert _read(root, "rel/secret") == b"inside\n"
        assert _read(root, "/etc/passwd").startswith(b"root:")
        with pytest.raises(OSError):
            _read(root, "loop")


def test_openat2_refuses_symlinks_when_asked(tree: tuple[Path, Path]) -> None:
    root_dir, _ = tree
    fd = os.open(root_dir, os.O_PATH | os.O_DIRECTORY)
    try:
        with pytest.raises(OSError):
            openat2(fd, "abs", os.O_PATH | os.O_DIRECTORY, resolve=0x04)  # RESOLVE_NO_SYMLINKS
    finally:
        os.close(fd)


def test_directory_creation_follows_dangling_links_inside(tree: tuple[Path, Path]) -> None:
    root_dir, host = tree
    os.symlink("/made/here", root_dir / "dangling")
    with Root.at(root_dir) as root:
        fd, name = root.parent("dangling/sub/file", create=True)
        os.close(os.open(name, os.O_WRONLY | os.O_CREAT, dir_fd=fd))
        os.close(fd)
        fd, name = root.parent("abs/new", create=True)
        os.close(os.open(name, os.O_WRONLY | os.O_CREAT, dir_fd=fd))
        os.close(fd)
    assert (root_dir / "made/here/sub/file").exists()
    assert (root_dir / str(host).lstrip("/") / "new").exists() and not (host / "new").exists()


def _tar(*members: tarfile.TarInfo, data: bytes = b"x") -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for info in members:
            if info.isreg():
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    buf.seek(0)
    return buf


def _info(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, 0o644
    return info


def test_unpack_replaces_a_planted_symlink_instead_of_writing_through_it(tree: tuple[Path, Path]) -> None:
    root_dir, host = tree
    archive = _tar(_info("f", tarfile.SYMTYPE, str(host / "secret")), _info("f"))
    with Root.at(root_dir) as root:
        unpack(archive, root, UnpackOptions(chown=False))
    assert (host / "secret").read_text() == "host\n"
    assert not (root_dir / "f").is_symlink() and (root_dir / "f").read_bytes() == b"x"


def test_unpack_hardlinks_name_entries_of_the_tree_only(tree: tuple[Path, Path]) -> None:
    root_dir, host = tree
    with Root.at(root_dir) as root:
        with pytest.raises(InvalidArgument, match="hard link"):
            unpack(_tar(_info("h", tarfile.LNKTYPE, str(host / "secret"))), root, UnpackOptions(chown=False))
        # A link to a symlink links the symlink itself, never the file it names.
        unpack(_tar(_info("h", tarfile.LNKTYPE, "abs")), root, UnpackOptions(chown=False))
    assert (root_dir / "h").is_symlink() and (host / "secret").stat().st_nlink == 1


@pytest.mark.parametrize("name", [".wh..", ".wh...", "etc/.wh..", "etc/.wh."])
def test_whiteouts_of_nothing_are_refused(tree: tuple[Path, Path], name: str) -> None:
    root_dir, _ = tree
    with Root.at(root_dir, through_symlinks=False) as root, pytest.raises(InvalidArgument, match="whiteout"):
        unpack(_tar(_info(name)), root, UnpackOptions(whiteouts=Whiteouts.DELETE, chown=False))
    assert (root_dir / "etc" / "passwd").exists()


def test_unpack_stops_at_the_size_limit(tree: tuple[Path, Path]) -> None:
    root_dir, _ = tree
    with Root.at(root_dir) as root, pytest.raises(InvalidArgument, match="max-unpack-size"):
        unpack(_tar(_info("big"), data=b"x" * 4096), root, UnpackOptions(chown=False, limit=1000))


def test_unpack_and_tar_writer_keep_every_byte_of_files_bigger_than_their_buffers(tmp_path: Path) -> None:
    # Sizes around the 1 MiB copy buffers and libarchive's read blocks, and an empty file.
    mib = 1 << 20
    files = {f"f{n}": os.urandom(n) for n in (0, 1, 4095, 4097, mib - 1, mib + 1, 5 * mib // 2)}
    archive = tmp_path / "in.tar"
    with tarfile.open(archive, "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    dest = tmp_path / "dest"
    dest.mkdir()
    with Root.at(dest) as root:
        written = unpack(archive, root, UnpackOptions(chown=False))
    assert written == sum(len(d) for d in files.values())
    assert {p.name: p.read_bytes() for p in dest.iterdir()} == files
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar, Root.at(dest) as root:
        top = pin(root.fd, ".")
        assert top is not None
        try:
            TarWriter(tar).add_tree(top, "")
        finally:
            os.close(top.fd)
    out.seek(0)
    with tarfile.open(fileobj=out) as tar:
        back = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isreg()}  # type: ignore[union-attr]
    assert back == files


def test_tree_reading_never_follows_links(tree: tuple[Path, Path]) -> None:
    root_dir, host = tree
    buf = io.BytesIO()
    with Root.at(root_dir) as root, tarfile.open(fileobj=buf, mode="w") as tar:
        top = pin(root.fd, ".")
        assert top is not None
        TarWriter(tar).add_tree(top, "")
        os.close(top.fd)
    buf.seek(0)
    with tarfile.open(fileobj=buf) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert members["abs"].issym() and members["abs"].linkname == str(host)
    assert not any(name.endswith("secret") for name in members)


def test_tree_size_counts_the_tree_never_what_its_links_name(tree: tuple[Path, Path], tmp_path: Path) -> None:
    root_dir, host = tree
    (host / "big").write_bytes(b"x" * 100_000)
    links = sum(len(os.readlink(root_dir / n)) for n in ("abs", "rel", "magic", "loop"))
    assert tree_size(root_dir) == len("root:x:0:0::/root:/bin/sh\n") + links
    assert tree_size(tmp_path / "absent") == 0


def test_copy_into_keeps_links_as_links(tree: tuple[Path, Path], tmp_path: Path) -> None:
    root_dir, host = tree
    dest = tmp_path / "volume"
    dest.mkdir()
    with Root.at(root_dir) as src, Root.at(dest) as out:
        top = pin(src.fd, ".")
        assert top is not None
        copy_into(top, out)
        os.close(top.fd)
    assert os.readlink(dest / "abs") == str(host) and (dest / "etc/passwd").is_file()
    assert stat.S_ISLNK(os.lstat(dest / "magic").st_mode)


def test_view_walks_mounts_and_keeps_links_inside(tree: tuple[Path, Path], tmp_path: Path) -> None:
    root_dir, host = tree
    vol, ro = tmp_path / "vol", tmp_path / "ro"
    vol.mkdir()
    ro.mkdir()
    (vol / "v").write_text("volume\n")
    os.symlink("/data/v", root_dir / "to-volume")
    mounts = [Mounted("/data", vol), Mounted("/ro", ro, rw=False)]
    with View(root_dir, mounts, label="c") as view:
        with view.find("/to-volume", follow_last=True) as found:
            assert found.path == "/data/v" and found.lstat() is not None
        with pytest.raises(NotFound):  # the host directory's path does not exist in the root
            view.find("/rel/secret", follow_last=True).__enter__()
        with view.find("/abs", follow_last=False) as found:
            st = found.lstat()
            assert found.path == "/abs" and st is not None and stat.S_ISLNK(st.st_mode)
        with pytest.raises(NotFound, match="Could not find the file /loop/x/y in container c"):
            view.parent("/loop/x/y")
        with pytest.raises(Forbidden, match="read-only"):
            view.parent("/ro/x", create=True)
        os.symlink("/ro", root_dir / "to-ro")
        with pytest.raises(Forbidden, match="read-only"):
            unpack(_tar(_info("f")), view, UnpackOptions(chown=False, base="/to-ro"))
    assert not (ro / "f").exists()


def test_stat_of_a_dangling_link_names_its_target(tmp_path: Path) -> None:
    from dockyard.core.containers.archive import ContainerFs

    root = tmp_path / "root"
    root.mkdir()
    os.symlink("/no/such/dir/file", root / "dangling")
    info = ContainerFs(root, []).stat("/dangling", "c")
    assert info.link_target == "/no/such/dir/file" and info.mode & (1 << 27)


@pytest.mark.parametrize(("value", "expected"), [(1024, 1024), ("8MB", 8 << 20), ("20g", 20 << 30),
                                                 ("512k", 512 << 10), ("1.5GiB", 3 << 29)])
def test_max_unpack_size_in_daemon_json(tmp_path: Path, value: object, expected: int) -> None:
    import json

    from dockyard.config import DaemonConfig, load_daemon_json

    path = tmp_path / "daemon.json"
    path.write_text(json.dumps({"max-unpack-size": value}))
    assert load_daemon_json(path, DaemonConfig()).max_unpack_size == expected
    path.write_text(json.dumps({"max-unpack-size": "lots"}))
    with pytest.raises(InvalidArgument, match="invalid size"):
        load_daemon_json(path, DaemonConfig())

"""Layer apply (whiteouts, escapes, compression) and ``changes``."""

from __future__ import annotations

import gzip
import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from dockyard.core.layers.apply import OPAQUE_XATTR, Whiteouts, apply_layer, normalize_layer
from dockyard.core.layers.changes import CHANGE_ADDED, CHANGE_DELETED, CHANGE_MODIFIED, changes
from dockyard.errors import InvalidArgument

Entry = tuple[str, str, str]  # (name, kind, data or link target)


def make_tar(path: Path, entries: list[Entry], *, compress: bool = False) -> Path:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, kind, data in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 1_600_000_000
            if kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            elif kind == "file":
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data.encode()))
            elif kind == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, data
                tar.addfile(info)
            elif kind == "link":
                info.type, info.linkname = tarfile.LNKTYPE, data
                tar.addfile(info)
    raw = buf.getvalue()
    path.write_bytes(gzip.compress(raw) if compress else raw)
    return path


def test_apply_files_dirs_links_and_size(tmp_path: Path) -> None:
    tar = make_tar(tmp_path / "l.tar", [
        ("./", "dir", ""), ("./etc/", "dir", ""), ("./etc/passwd", "file", "root:x:0:0\n"),
        ("./bin/sh", "sym", "/bin/busybox"), ("./etc/hard", "link", "etc/passwd"),
    ])
    root = tmp_path / "root"
    size = apply_layer(tar, root, whiteouts=Whiteouts.DELETE)
    assert size == len("root:x:0:0\n")
    assert (root / "etc/passwd").read_text() == "root:x:0:0\n"
    assert os.readlink(root / "bin/sh") == "/bin/busybox"
    assert os.stat(root / "etc/hard").st_ino == os.stat(root / "etc/passwd").st_ino
    assert os.stat(root / "etc/passwd").st_mtime == 1_600_000_000
    assert os.stat(root / "etc").st_mtime == 1_600_000_000


def test_whiteouts_delete_in_a_full_tree(tmp_path: Path) -> None:
    root = tmp_path / "root"
    apply_layer(make_tar(tmp_path / "a.tar", [
        ("a/", "dir", ""), ("a/keep", "file", "1"), ("a/gone", "file", "2"),
        ("opq/", "dir", ""), ("opq/old", "file", "3"),
    ]), root, whiteouts=Whiteouts.DELETE)
    apply_layer(make_tar(tmp_path / "b.tar", [
        ("a/.wh.gone", "file", ""), ("opq/new", "file", "4"), ("opq/.wh..wh..opq", "file", ""),
    ]), root, whiteouts=Whiteouts.DELETE)
    assert sorted(p.name for p in (root / "a").iterdir()) == ["keep"]
    assert sorted(p.name for p in (root / "opq").iterdir()) == ["new"]


@pytest.mark.root
def test_whiteouts_become_overlay_whiteouts(tmp_path: Path) -> None:
    upper = tmp_path / "upper"
    apply_layer(make_tar(tmp_path / "b.tar", [
        ("a/.wh.gone", "file", ""), ("opq/.wh..wh..opq", "file", ""), ("opq/new", "file", "4"),
    ]), upper, whiteouts=Whiteouts.OVERLAY)
    st = os.lstat(upper / "a/gone")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert os.getxattr(upper / "opq", OPAQUE_XATTR) == b"y"
    assert not (upper / "a/.wh.gone").exists()


@pytest.mark.parametrize("entries", [
    [("../evil", "file", "x")],
    [("a/../../evil", "file", "x")],
    [("link", "sym", "/etc"), ("link/evil", "file", "x")],
    [("dir/", "dir", ""), ("dir/l", "sym", "../.."), ("dir/l/evil", "file", "x")],
    [("hard", "link", "../../etc/passwd")],
])
def test_escapes_are_refused(tmp_path: Path, entries: list[Entry]) -> None:
    tar = make_tar(tmp_path / "evil.tar", entries)
    root = tmp_path / "deep" / "root"
    with pytest.raises(InvalidArgument, match="escape|hard link"):
        apply_layer(tar, root, whiteouts=Whiteouts.DELETE)
    assert not (tmp_path / "evil").exists() and not (tmp_path / "deep" / "evil").exists()


def test_absolute_paths_stay_inside_or_are_refused(tmp_path: Path) -> None:
    tar = make_tar(tmp_path / "abs.tar", [("/abs", "file", "x")])
    apply_layer(tar, tmp_path / "root", whiteouts=Whiteouts.DELETE)
    assert (tmp_path / "root/abs").read_text() == "x"
    with pytest.raises(InvalidArgument, match="absolute"):
        apply_layer(tar, tmp_path / "root2", whiteouts=Whiteouts.REFUSE, refuse_absolute=True)


def test_normalize_gzip_gives_uncompressed_diff_id(tmp_path: Path) -> None:
    entries: list[Entry] = [("f", "file", "data")]
    plain = make_tar(tmp_path / "plain.tar", entries)
    packed = make_tar(tmp_path / "packed.tar.gz", entries, compress=True)
    d1 = normalize_layer(plain, tmp_path / "o1")
    d2 = normalize_layer(packed, tmp_path / "o2")
    assert d1 == d2
    assert (tmp_path / "o2").read_bytes() == plain.read_bytes()
    apply_layer(packed, tmp_path / "r", whiteouts=Whiteouts.DELETE)
    assert (tmp_path / "r/f").read_text() == "data"


def test_changes_of_an_overlay_upper(tmp_path: Path) -> None:
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    (lower / "etc").mkdir(parents=True)
    (lower / "etc/passwd").write_text("x")
    (lower / "old").mkdir()
    (lower / "old/file").write_text("x")
    (upper / "etc").mkdir(parents=True)
    (upper / "etc/passwd").write_text("y")
    (upper / "etc/new").write_text("n")
    (upper / "newdir").mkdir()
    (upper / "newdir/f").write_text("f")
    if os.geteuid() == 0:
        os.mknod(upper / "old", stat.S_IFCHR, os.makedev(0, 0))
    got = changes(upper, [lower])
    expected = [(CHANGE_MODIFIED, "/etc"), (CHANGE_ADDED, "/etc/new"), (CHANGE_MODIFIED, "/etc/passwd"),
                (CHANGE_ADDED, "/newdir"), (CHANGE_ADDED, "/newdir/f")]
    if os.geteuid() == 0:
        expected.append((CHANGE_DELETED, "/old"))
    assert got == expected


def test_changes_of_a_full_tree(tmp_path: Path) -> None:
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    for root in (lower, upper):
        (root / "etc").mkdir(parents=True)
        (root / "etc/same").write_text("s")
        os.utime(root / "etc/same", (1, 1))
        os.utime(root / "etc", (1, 1))
    (lower / "gone").mkdir()
    (lower / "gone/f").write_text("f")
    (upper / "added").write_text("a")
    assert changes(upper, [lower], full_tree=True) == [(CHANGE_ADDED, "/added"), (CHANGE_DELETED, "/gone")]


def test_changes_never_look_through_a_lower_layers_symlinks(tmp_path: Path) -> None:
    """A lower layer's ``lib -> <host dir>`` must not make an upper ``lib/x`` look modified because
    the host has an ``x``: overlay matches entries by name, never through a link."""
    lower, upper, host = tmp_path / "lower", tmp_path / "upper", tmp_path / "host"
    host.mkdir()
    (host / "x").write_text("host")
    lower.mkdir()
    os.symlink(str(host), lower / "lib")
    (upper / "lib").mkdir(parents=True)  # the container replaced the link with a directory
    (upper / "lib" / "x").write_text("mine")
    assert changes(upper, [lower]) == [(CHANGE_MODIFIED, "/lib"), (CHANGE_ADDED, "/lib/x")]
    assert changes(upper, [tmp_path / "absent"]) == [(CHANGE_ADDED, "/lib"), (CHANGE_ADDED, "/lib/x")]

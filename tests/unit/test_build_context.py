"""The build context and COPY's filesystem semantics, on tmp_path (no daemon, no root)."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from dockyard.core.builder.context import Context, apply_dockerignore, extract
from dockyard.core.builder.files import MULTI_SOURCE_ERROR, CopyOptions, copy_sources, dest_path
from dockyard.errors import InvalidArgument, NotFound

OWN = CopyOptions(owner=(os.getuid(), os.getgid()))


def _tar(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_extract_refuses_escaping_members(tmp_path: Path) -> None:
    (tmp_path / "ctx").mkdir()
    with pytest.raises(InvalidArgument, match="escapes the root"):
        extract(_tar(tmp_path / "bad.tar", {"../evil": b"x"}), tmp_path / "ctx")
    assert not (tmp_path / "evil").exists()


def test_sources_escaping_are_forbidden(tmp_path: Path) -> None:
    root = tmp_path / "ctx"
    root.mkdir()
    (tmp_path / "secret").write_text("s")
    os.symlink(tmp_path / "secret", root / "link")
    ctx = Context(root)
    for source in ("../secret", "link"):
        with pytest.raises(InvalidArgument, match="forbidden path outside the build context"):
            ctx.glob(source)
    with pytest.raises(NotFound):
        ctx.glob("missing")


def test_digest_ignores_mtime_but_sees_content_and_mode(tmp_path: Path) -> None:
    root = tmp_path / "ctx"
    (root / "d").mkdir(parents=True)
    file = root / "d" / "f"
    file.write_text("one")
    first = Context(root).digest(root / "d")
    os.utime(file, (1, 1))
    assert Context(root).digest(root / "d") == first
    os.chmod(file, 0o600)
    assert Context(root).digest(root / "d") != first
    file.write_text("two")
    assert Context(root).digest(root / "d") != first


def test_dockerignore_removes_matches_and_keeps_exceptions(tmp_path: Path) -> None:
    root = tmp_path / "ctx"
    (root / "logs").mkdir(parents=True)
    for name in ("a.log", "keep.log", "logs/x", "src.py"):
        (root / name).write_text(name)
    (root / ".dockerignore").write_text("*.log\n!keep.log\nlogs\n")
    apply_dockerignore(root, "Dockerfile")
    assert sorted(p.name for p in root.rglob("*")) == [".dockerignore", "keep.log", "logs", "src.py"]


def test_copy_directory_semantics(tmp_path: Path) -> None:
    src, rootfs = tmp_path / "src", tmp_path / "rootfs"
    (src / "dir" / "sub").mkdir(parents=True)
    (src / "dir" / "sub" / "f").write_text("f")
    (src / "a").write_text("a")
    (rootfs / "existing").mkdir(parents=True)
    copy_sources(rootfs, [src / "dir"], "/out/", OWN)  # a directory copies its contents
    assert (rootfs / "out" / "sub" / "f").read_text() == "f"
    copy_sources(rootfs, [src / "a"], "/existing", OWN)  # into an existing directory
    assert (rootfs / "existing" / "a").read_text() == "a"
    copy_sources(rootfs, [src / "a"], "/renamed", OWN)  # a file path
    assert (rootfs / "renamed").read_text() == "a"
    with pytest.raises(InvalidArgument, match="must be a directory"):
        copy_sources(rootfs, [src / "a", src / "dir"], "/x", OWN)
    assert MULTI_SOURCE_ERROR.startswith("When using COPY")
    assert dest_path("rel/", "/work") == "/work/rel/" and dest_path(".", "/w") == "/w/"


def test_copy_never_writes_through_symlinks_out_of_the_root(tmp_path: Path) -> None:
    src, rootfs, outside = tmp_path / "src", tmp_path / "rootfs", tmp_path / "outside"
    src.mkdir()
    (src / "f").write_text("data")
    rootfs.mkdir()
    outside.mkdir()
    os.symlink(str(outside), rootfs / "escape")
    copy_sources(rootfs, [src / "f"], "/escape/", OWN)
    assert not (outside / "f").exists()
    assert (rootfs / str(outside).lstrip("/") / "f").read_text() == "data"

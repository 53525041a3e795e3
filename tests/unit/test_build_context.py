"""The build context and COPY's filesystem semantics, on tmp_path (no daemon, no root)."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from dockyard.core.builder import source
from dockyard.core.builder.context import Context, apply_dockerignore, extract
from dockyard.core.builder.files import MULTI_SOURCE_ERROR, CopyOptions, copy_sources, dest_path
from dockyard.core.builder.source import Source
from dockyard.core.rootfs.tree import open_content
from dockyard.errors import InvalidArgument, NotFound

OWN = CopyOptions(owner=(os.getuid(), os.getgid()))


def _in(tree: Path, *given: str) -> list[Source]:
    return [s for g in given for s in source.glob(tree, g)]


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


def test_sources_written_above_the_context_are_forbidden(tmp_path: Path) -> None:
    root = tmp_path / "ctx"
    root.mkdir()
    (tmp_path / "secret").write_text("s")
    ctx = Context(root)
    for given in ("../secret", "../*"):
        with pytest.raises(InvalidArgument, match="forbidden path outside the build context"):
            ctx.glob(given)
    with pytest.raises(NotFound):
        ctx.glob("missing")


@pytest.mark.parametrize("target", ["ABS/secret", "../secret", "../../../../../../ABS/secret"])
def test_symlinks_leading_out_resolve_inside_the_context(tmp_path: Path, target: str) -> None:
    """BuildKit's semantics: the context is a root of its own, so a symlink naming a host path
    names the context's entry of that path (here absent, then present), never the host file."""
    root = tmp_path / "ctx"
    root.mkdir()
    (tmp_path / "secret").write_text("host")
    os.symlink(target.replace("ABS", str(tmp_path)), root / "link")
    ctx = Context(root)
    with pytest.raises(NotFound):
        ctx.glob("link")
    inside = root / (str(tmp_path).lstrip("/") if "ABS" in target else "") / "secret"
    inside.parent.mkdir(parents=True, exist_ok=True)
    inside.write_text("in the context")
    [found] = ctx.glob("link")
    assert found.name == "link" and found.path == "/" + str(inside.relative_to(root))
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    copy_sources(rootfs, [found], "/out/", OWN)
    assert (rootfs / "out" / "link").read_text() == "in the context"


def test_symlinked_parents_and_chains_stay_in_the_tree(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "real").mkdir(parents=True)
    (tree / "real" / "f").write_text("inside")
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "f").write_text("host")
    os.symlink("../../..", tree / "up")  # the tree's top, however far it climbs
    os.symlink("up/real", tree / "a")
    os.symlink("a", tree / "b")  # a chain: b -> a -> up/real -> /real
    for given in ("b/f", "up/real/f", "b/../real/f", "/up/up/b/f"):
        [found] = source.glob(tree, given)
        assert found.path == "/real/f", given
        with found.pinned() as entry:
            assert os.read(open_content(entry), 100) == b"inside"
    assert [s.given for s in source.glob(tree, "b/*")] == ["b/f"]
    assert source.find(tree, "up/..") is not None and source.find(tree, "up/..").path == "/"  # type: ignore[union-attr]


def test_digest_ignores_mtime_but_sees_content_and_mode(tmp_path: Path) -> None:
    root = tmp_path / "ctx"
    (root / "d").mkdir(parents=True)
    file = root / "d" / "f"
    file.write_text("one")
    def digest() -> str:
        ctx = Context(root)
        return ctx.digest(ctx.glob("d")[0])

    first = digest()
    os.utime(file, (1, 1))
    assert digest() == first
    os.chmod(file, 0o600)
    assert digest() != first
    file.write_text("two")
    assert digest() != first


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
    os.symlink("sub/f", src / "dir" / "link")
    copy_sources(rootfs, _in(src, "dir"), "/out/", OWN)  # a directory copies its contents
    assert (rootfs / "out" / "sub" / "f").read_text() == "f"
    assert os.readlink(rootfs / "out" / "link") == "sub/f"  # a symlink inside is copied as a link
    copy_sources(rootfs, _in(src, "a"), "/existing", OWN)  # into an existing directory
    assert (rootfs / "existing" / "a").read_text() == "a"
    copy_sources(rootfs, _in(src, "a"), "/renamed", OWN)  # a file path
    assert (rootfs / "renamed").read_text() == "a"
    with pytest.raises(InvalidArgument, match="must be a directory"):
        copy_sources(rootfs, _in(src, "a", "dir"), "/x", OWN)
    assert MULTI_SOURCE_ERROR.startswith("When using COPY")
    assert dest_path("rel/", "/work") == "/work/rel/" and dest_path(".", "/w") == "/w/"


def test_copy_never_writes_through_symlinks_out_of_the_root(tmp_path: Path) -> None:
    src, rootfs, outside = tmp_path / "src", tmp_path / "rootfs", tmp_path / "outside"
    src.mkdir()
    (src / "f").write_text("data")
    rootfs.mkdir()
    outside.mkdir()
    os.symlink(str(outside), rootfs / "escape")
    copy_sources(rootfs, _in(src, "f"), "/escape/", OWN)
    assert not (outside / "f").exists()
    assert (rootfs / str(outside).lstrip("/") / "f").read_text() == "data"

"""``docker diff``: an upper directory compared with the lower layers, as Docker's change list."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from dockyard.core.layers.apply import lstat_or_none
from dockyard.core.rootfs.tree import Entry, walk

CHANGE_MODIFIED, CHANGE_ADDED, CHANGE_DELETED = 0, 1, 2


def changes(upper: Path, lowers: list[Path], *, full_tree: bool = False) -> list[tuple[int, str]]:
    """Docker's container changes: ``(kind, "/path")`` with kind 0 modified, 1 added, 2 deleted.

    ``upper`` is an overlay upper directory and ``lowers`` the read-only layers beneath, topmost
    first. With ``full_tree`` (copy snapshotter) ``upper`` holds the whole root filesystem and
    ``lowers[0]`` the whole parent: files are compared, and what is missing was deleted.
    """
    result: list[tuple[int, str]] = []
    for rel, st in _walk(upper):
        lower = _lower_stat(lowers, rel)
        if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0 and not full_tree:
            if lower is not None:
                result.append((CHANGE_DELETED, "/" + rel))
        elif lower is None:
            result.append((CHANGE_ADDED, "/" + rel))
        elif not full_tree or _differs(st, lower, upper / rel, lowers[0] / rel):
            result.append((CHANGE_MODIFIED, "/" + rel))
    if full_tree and lowers:
        for rel, _ in _walk(lowers[0]):
            if lstat_or_none(upper / rel) is None:
                result.append((CHANGE_DELETED, "/" + rel))
    result.sort(key=lambda change: change[1].split("/"))
    return _drop_children_of_deleted(result)


def _walk(root: Path) -> Iterator[tuple[str, os.stat_result]]:
    """Every entry below ``root`` with its lstat, by pinned descriptors: a running container
    swapping a directory for a symlink meanwhile cannot make the walk list a host directory."""
    try:
        fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return
        raise
    try:
        for entry in walk(Entry(rel="", name=".", fd=fd, st=os.fstat(fd))):
            if entry.rel:
                yield entry.rel, entry.st
    finally:
        os.close(fd)


def _lower_stat(lowers: list[Path], rel: str) -> os.stat_result | None:
    for lower in lowers:
        st = lstat_or_none(lower / rel)
        if st is None:
            continue
        if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
            return None  # deleted in that layer
        return st
    return None


def _differs(a: os.stat_result, b: os.stat_result, path_a: Path, path_b: Path) -> bool:
    if stat.S_IFMT(a.st_mode) != stat.S_IFMT(b.st_mode) or a.st_mode != b.st_mode:
        return True
    if (a.st_uid, a.st_gid) != (b.st_uid, b.st_gid):
        return True
    if stat.S_ISDIR(a.st_mode):
        return a.st_mtime_ns != b.st_mtime_ns
    if stat.S_ISLNK(a.st_mode):
        return os.readlink(path_a) != os.readlink(path_b)
    return a.st_size != b.st_size or a.st_mtime_ns != b.st_mtime_ns


def _drop_children_of_deleted(result: list[tuple[int, str]]) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    deleted: str | None = None
    for kind, path in result:
        if deleted is not None and path.startswith(deleted + "/"):
            continue
        deleted = path if kind == CHANGE_DELETED else None
        out.append((kind, path))
    return out

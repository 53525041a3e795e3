"""``docker diff``: an upper directory compared with the lower layers, as Docker's change list."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from dockyard.core.rootfs.root import lstat_at, parent_beneath
from dockyard.core.rootfs.tree import Entry, walk

CHANGE_MODIFIED, CHANGE_ADDED, CHANGE_DELETED = 0, 1, 2


def changes(upper: Path, lowers: list[Path], *, full_tree: bool = False) -> list[tuple[int, str]]:
    """Docker's container changes: ``(kind, "/path")`` with kind 0 modified, 1 added, 2 deleted.

    ``upper`` is an overlay upper directory and ``lowers`` the read-only layers beneath, topmost
    first. With ``full_tree`` (copy snapshotter) ``upper`` holds the whole root filesystem and
    ``lowers[0]`` the whole parent: files are compared, and what is missing was deleted.
    """
    with contextlib.ExitStack() as stack:
        tops = [stack.enter_context(_Top.at(p)) for p in (upper, *lowers)]
        result: list[tuple[int, str]] = []
        for rel, st in _walk(upper):
            lower = _lower_stat(tops[1:], rel)
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0 and not full_tree:
                if lower is not None:
                    result.append((CHANGE_DELETED, "/" + rel))
            elif lower is None:
                result.append((CHANGE_ADDED, "/" + rel))
            elif not full_tree or _differs(st, lower, rel, tops[0], tops[1]):
                result.append((CHANGE_MODIFIED, "/" + rel))
        if full_tree and lowers:
            for rel, _ in _walk(lowers[0]):
                if tops[0].lstat(rel) is None:
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


class _Top:
    """A layer directory held open, its entries looked up with no symlink followed
    (:func:`parent_beneath`): the upper dir is the running container's to change meanwhile, and
    a lower layer's link never leads the lookup to the host. A context manager."""

    def __init__(self, fd: int | None) -> None:
        self._fd = fd  # None: the directory does not exist (no entries)

    @classmethod
    def at(cls, path: Path) -> _Top:
        try:
            return cls(os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC))
        except (FileNotFoundError, NotADirectoryError):
            return cls(None)

    def __enter__(self) -> _Top:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)

    def lstat(self, rel: str) -> os.stat_result | None:
        with self._parent(rel) as (fd, name):
            return None if fd < 0 else lstat_at(fd, name)

    def readlink(self, rel: str) -> str | None:
        with self._parent(rel) as (fd, name):
            if fd < 0:
                return None
            try:
                return os.readlink(name, dir_fd=fd)
            except OSError:
                return None  # not a link (or gone): compared as no target

    @contextlib.contextmanager
    def _parent(self, rel: str) -> Iterator[tuple[int, str]]:
        found = parent_beneath(self._fd, rel) if self._fd is not None else None
        fd, name = found if found is not None else (-1, "")
        try:
            yield fd, name
        finally:
            if fd >= 0:
                os.close(fd)


def _lower_stat(lowers: list[_Top], rel: str) -> os.stat_result | None:
    for lower in lowers:
        st = lower.lstat(rel)
        if st is None:
            continue
        if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
            return None  # deleted in that layer
        return st
    return None


def _differs(a: os.stat_result, b: os.stat_result, rel: str, top_a: _Top, top_b: _Top) -> bool:
    if stat.S_IFMT(a.st_mode) != stat.S_IFMT(b.st_mode) or a.st_mode != b.st_mode:
        return True
    if (a.st_uid, a.st_gid) != (b.st_uid, b.st_gid):
        return True
    if stat.S_ISDIR(a.st_mode):
        return a.st_mtime_ns != b.st_mtime_ns
    if stat.S_ISLNK(a.st_mode):
        return top_a.readlink(rel) != top_b.readlink(rel)
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

"""Reading an untrusted tree by descriptors: walking it, and writing what it holds into a tar.

Each entry is pinned with ``O_PATH | O_NOFOLLOW`` relative to its parent's descriptor before it is
looked at, and everything after (its type, its content, its link target, its children) is read from
that descriptor. A directory that becomes a symlink after it was listed is therefore read as the
directory it was, or skipped if it vanished, never followed to the host. Content is read by reopening
the pinned inode through ``/proc/self/fd`` and only for regular files, so a FIFO or a device node
swapped in is never opened. Blocking.
"""

from __future__ import annotations

import logging
import os
import stat
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from dockyard.core.rootfs.root import proc_path

log = logging.getLogger(__name__)

Owners = Callable[[int, int], tuple[int, int]]
# Extended attributes worth keeping in a tar (file capabilities, user.*), never overlay's own.
_KEPT_XATTRS = ("user.", "security.capability")


@dataclass(frozen=True, slots=True)
class Entry:
    """One pinned entry: ``rel`` is its path below the walk's top ("" for the top itself)."""

    rel: str
    name: str
    fd: int  # O_PATH | O_NOFOLLOW: the entry itself, a symlink included
    st: os.stat_result


def pin(dirfd: int, name: str, rel: str = "") -> Entry | None:
    """Pin ``name`` of directory ``dirfd`` (None when it is gone); the caller closes ``fd``."""
    try:
        fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dirfd)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return Entry(rel=rel, name=name, fd=fd, st=os.fstat(fd))


def names(entry: Entry) -> list[str]:
    """The sorted names in a directory entry ([] if it is not one or cannot be listed)."""
    if not stat.S_ISDIR(entry.st.st_mode):
        return []
    fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=entry.fd)
    try:
        return sorted(os.listdir(fd))
    finally:
        os.close(fd)


def walk(top: Entry, enter: Callable[[str], Entry | None] | None = None) -> Iterator[Entry]:
    """``top`` and everything below it, parents first, names sorted. ``enter`` may hand back a
    mount's top for a path below (a volume inside a container's view); the walk takes it over."""
    yield top
    for name in names(top):
        rel = f"{top.rel}/{name}" if top.rel else name
        child = enter(rel) if enter is not None else None
        if child is None:
            child = pin(top.fd, name, rel)
        if child is None:
            continue  # removed while we listed: nothing to read
        try:
            yield from walk(child, enter)
        finally:
            os.close(child.fd)


def tree_size(root: Path) -> int:
    """Bytes of what is below ``root`` that is not a directory (``du``'s apparent size, as moby's
    ``directory.Size``); 0 when ``root`` is absent. Walked by pinned descriptors, so a container
    swapping a directory of its volume or upper dir for a symlink meanwhile cannot make the walk
    measure (and so reveal the size of) a host directory. Blocking."""
    try:
        fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return 0
    try:
        top = Entry(rel="", name=".", fd=fd, st=os.fstat(fd))
        return sum(e.st.st_size for e in walk(top) if not stat.S_ISDIR(e.st.st_mode))
    finally:
        os.close(fd)


def open_content(entry: Entry) -> int:
    """A readable descriptor of a regular file entry: the pinned inode, reopened."""
    fd = os.open(proc_path(entry.fd), os.O_RDONLY | os.O_CLOEXEC | os.O_NOCTTY)
    st = os.fstat(fd)
    if (st.st_dev, st.st_ino) != (entry.st.st_dev, entry.st.st_ino):  # pragma: no cover - kernel
        os.close(fd)
        raise OSError(f"{entry.rel}: changed while read")
    return fd


def link_target(entry: Entry) -> str:
    return os.readlink("", dir_fd=entry.fd)


def xattrs(entry: Entry) -> dict[str, bytes]:
    if stat.S_ISLNK(entry.st.st_mode):
        return {}
    path = proc_path(entry.fd)
    try:
        listed = os.listxattr(path)
    except OSError:
        return {}
    found: dict[str, bytes] = {}
    for key in listed:
        if key.startswith(_KEPT_XATTRS):
            try:
                found[key] = os.getxattr(path, key)
            except OSError:
                continue
    return found


_COPY_BUFFER = 1 << 20


class TarWriter:
    """Entries into a tar stream, hard links kept as links (the first name seen is the target)."""

    def __init__(self, tar: tarfile.TarFile, owners: Owners | None = None, *,
                 keep_xattrs: bool = False) -> None:
        self._tar = tar
        # tarfile copies a member's bytes 16 KiB at a time, each read and write a turn of the GIL;
        # in the daemon's busy threads a 20 MB layer took 4x its bare time that way.
        tar.copybufsize = _COPY_BUFFER  # type: ignore[attr-defined]  # a TarFile attribute typeshed lacks
        self._owners = owners
        self._keep_xattrs = keep_xattrs
        self._inodes: dict[tuple[int, int], str] = {}

    def add(self, entry: Entry, arcname: str) -> None:
        if stat.S_ISSOCK(entry.st.st_mode):
            log.debug("skipping socket %s: tar has no form for it", arcname)  # as tar and moby do
            return
        info = self.info(entry, arcname)
        if info.isreg():
            fd = open_content(entry)
            with os.fdopen(fd, "rb") as content:
                self._tar.addfile(info, content)
        else:
            self._tar.addfile(info)

    def add_tree(self, top: Entry, arcname: str,
                 enter: Callable[[str], Entry | None] | None = None) -> None:
        for entry in walk(top, enter):
            name = arcname if not entry.rel else f"{arcname}/{entry.rel}" if arcname else entry.rel
            self.add(entry, name)

    def info(self, entry: Entry, arcname: str) -> tarfile.TarInfo:
        st = entry.st
        info = tarfile.TarInfo(arcname)
        info.mode = stat.S_IMODE(st.st_mode)
        info.uid, info.gid = self._owners(st.st_uid, st.st_gid) if self._owners else (st.st_uid, st.st_gid)
        info.mtime = st.st_mtime
        kind = stat.S_IFMT(st.st_mode)
        key = (st.st_dev, st.st_ino)
        if kind == stat.S_IFREG and st.st_nlink > 1 and key in self._inodes:
            info.type, info.linkname = tarfile.LNKTYPE, self._inodes[key]
        elif kind == stat.S_IFREG:
            info.type, info.size = tarfile.REGTYPE, st.st_size
            if st.st_nlink > 1:
                self._inodes[key] = arcname
        elif kind == stat.S_IFDIR:
            info.type = tarfile.DIRTYPE
        elif kind == stat.S_IFLNK:
            info.type, info.linkname = tarfile.SYMTYPE, link_target(entry)
        elif kind in (stat.S_IFCHR, stat.S_IFBLK):
            info.type = tarfile.CHRTYPE if kind == stat.S_IFCHR else tarfile.BLKTYPE
            info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        elif kind == stat.S_IFIFO:
            info.type = tarfile.FIFOTYPE
        if self._keep_xattrs:
            found = xattrs(entry)
            if found:
                info.pax_headers = {f"SCHILY.xattr.{k}": v.decode("latin-1") for k, v in found.items()}
        return info

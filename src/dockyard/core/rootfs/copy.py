"""One untrusted tree copied into another, by descriptors on both sides (a volume's copy-up).

The source is walked with :func:`dockyard.core.rootfs.tree.walk` (pinned entries, content read
only from regular files); each entry is recreated below the destination's top with the ``*at``
calls of :mod:`dockyard.core.rootfs.root`, with its owner, mode and times. Blocking.
"""

from __future__ import annotations

import os
import shutil
import stat

from dockyard.core.rootfs.root import Root, set_metadata_at
from dockyard.core.rootfs.tree import Entry, link_target, open_content, walk

_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def copy_into(top: Entry, dest: Root) -> None:
    """Copy what is below directory ``top`` into ``dest``'s top (which keeps its own entries)."""
    dirs: list[tuple[str, int]] = []
    for entry in walk(top):
        if not entry.rel:
            continue
        fd, name = dest.parent(entry.rel)
        try:
            _make(entry, fd, name)
            st = entry.st
            mode = None if stat.S_ISLNK(st.st_mode) else stat.S_IMODE(st.st_mode)
            set_metadata_at(fd, name, owner=(st.st_uid, st.st_gid), mode=mode,
                            mtime_ns=None if stat.S_ISDIR(st.st_mode) else st.st_mtime_ns)
            if stat.S_ISDIR(st.st_mode):
                dirs.append((entry.rel, st.st_mtime_ns))
        finally:
            os.close(fd)
    for rel, mtime in reversed(dirs):  # after their children, which changed them
        fd, name = dest.parent(rel)
        try:
            os.utime(name, ns=(mtime, mtime), dir_fd=fd, follow_symlinks=False)
        finally:
            os.close(fd)


def _make(entry: Entry, fd: int, name: str) -> None:
    kind = stat.S_IFMT(entry.st.st_mode)
    if kind == stat.S_IFDIR:
        os.mkdir(name, 0o700, dir_fd=fd)
    elif kind == stat.S_IFLNK:
        os.symlink(link_target(entry), name, dir_fd=fd)
    elif kind == stat.S_IFREG:
        src = open_content(entry)
        with os.fdopen(src, "rb") as data, os.fdopen(os.open(name, _NEW_FILE, 0o600, dir_fd=fd), "wb") as out:
            shutil.copyfileobj(data, out, 1 << 20)
    elif kind in (stat.S_IFCHR, stat.S_IFBLK, stat.S_IFIFO):
        os.mknod(name, kind | 0o600, entry.st.st_rdev, dir_fd=fd)
    # Sockets are not copied: a socket file means nothing without the process that bound it.

"""A directory tree the daemon does not trust, reached only through a descriptor of its top.

A :class:`Root` is a container's rootfs, a snapshot being unpacked, a volume, a build context. Every
lookup below it is one ``openat2(RESOLVE_IN_ROOT)``: symlinks are followed as a process chrooted
there would follow them, and nothing it does meanwhile (renames, symlink swaps) can lead the lookup
out. What is then done to an entry is done through the parent's descriptor and the entry's bare
name (``mkdirat``, ``symlinkat``, ``linkat``, ``mknodat``, ``unlinkat``, ``fchownat`` with
``AT_SYMLINK_NOFOLLOW``) or through the entry's own descriptor (``fchmod``, ``futimens``), never by a
host path that the tree could redirect between a check and a use. Blocking.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from pathlib import Path
from types import TracebackType

from dockyard.core.rootfs.openat2 import IN_ROOT, RESOLVE_NO_SYMLINKS, STEP, openat2
from dockyard.errors import InvalidArgument

_DIR = os.O_DIRECTORY | os.O_PATH
_CACHE_MAX = 256
_MAX_LINKS = 40  # the kernel's MAXSYMLINKS


def parts_of(path: str) -> list[str]:
    return [p for p in path.split("/") if p not in ("", ".")]


def proc_path(fd: int) -> str:
    """The magic link of ``fd``: a way to reach an ``O_PATH`` descriptor's inode (chmod, reopen)."""
    return f"/proc/self/fd/{fd}"


def lstat_at(dirfd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dirfd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def remove_at(dirfd: int, name: str) -> None:
    """Remove ``name`` (a whole tree if a directory) from the directory ``dirfd``; absent is fine."""
    st = lstat_at(dirfd, name)
    if st is None:
        return
    if stat.S_ISDIR(st.st_mode):
        # shutil's fd-based rmtree (dir_fd, Python 3.11) opens each level with O_NOFOLLOW.
        shutil.rmtree(name, dir_fd=dirfd)
    else:
        os.unlink(name, dir_fd=dirfd)


def parent_beneath(top: int, rel: str) -> tuple[int, str] | None:
    """The directory holding ``rel`` below directory ``top`` (a new descriptor, the caller's) and
    the entry's name, looked up with no symlink followed (``RESOLVE_BENEATH | NO_SYMLINKS``): None
    when a component is missing, not a directory, or a symlink. Overlay matches an upper entry with
    the lower one of the same names, never through a link: this is that lookup."""
    head, _, name = "/".join(parts_of(rel)).rpartition("/")
    try:
        return openat2(top, head or ".", _DIR, 0, STEP), name
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.EXDEV):
            return None
        raise


def lstat_beneath(top: Path, rel: str) -> os.stat_result | None:
    """The lstat of ``rel`` below directory ``top``, no symlink followed on the way (see above)."""
    try:
        fd = os.open(top, _DIR | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        found = parent_beneath(fd, rel)
    finally:
        os.close(fd)
    if found is None:
        return None
    try:
        return lstat_at(*found)
    finally:
        os.close(found[0])


def chmod_at(dirfd: int, name: str, mode: int) -> None:
    """chmod of ``name`` itself: Linux has no ``fchmodat(AT_SYMLINK_NOFOLLOW)`` before 6.6, so the
    entry is pinned with ``O_PATH | O_NOFOLLOW`` and changed through its descriptor's magic link."""
    fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dirfd)
    try:
        if stat.S_ISLNK(os.fstat(fd).st_mode):
            return  # symlinks have no mode of their own
        os.chmod(proc_path(fd), mode)
    finally:
        os.close(fd)


def set_metadata_at(dirfd: int, name: str, *, owner: tuple[int, int] | None, mode: int | None,
                    mtime_ns: int | None) -> None:
    """Owner, then mode (chown clears set-id bits), then times of ``name`` itself."""
    if owner is not None:
        os.chown(name, owner[0], owner[1], dir_fd=dirfd, follow_symlinks=False)
    if mode is not None:
        chmod_at(dirfd, name, mode)
    if mtime_ns is not None:
        os.utime(name, ns=(mtime_ns, mtime_ns), dir_fd=dirfd, follow_symlinks=False)


def write_in_place(path: Path, text: str) -> None:
    """Rewrite one of the daemon's own files that a container sees through a bind mount
    (``/etc/hosts``): truncated in place, so the mount keeps showing it, and never through a
    symlink, whoever managed to leave one there."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


class Root:
    """The top of an untrusted tree, held open; a context manager that closes it."""

    def __init__(self, fd: int, *, through_symlinks: bool = True) -> None:
        self.fd = fd
        # Layers refuse to write through a symlink at all (a layer never needs to); everything
        # else follows symlinks inside the root, as a chrooted process would.
        self._resolve = IN_ROOT if through_symlinks else IN_ROOT | RESOLVE_NO_SYMLINKS
        self._dirs: dict[str, int] = {}

    @classmethod
    def at(cls, host_path: Path | str, *, through_symlinks: bool = True) -> Root:
        """Open a tree whose top the daemon itself chose (its own directory, a mount it made)."""
        return cls(os.open(host_path, _DIR | os.O_CLOEXEC), through_symlinks=through_symlinks)

    def close(self) -> None:
        self.forget()
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Root:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def open(self, path: str, flags: int, mode: int = 0) -> int:
        """A new descriptor of ``path`` resolved inside the root (the caller closes it)."""
        return openat2(self.fd, "/".join(parts_of(path)) or ".", flags, mode, self._resolve)

    def forget(self) -> None:
        """Drop cached directory descriptors: after a removal a cached path may name another dir."""
        for fd in self._dirs.values():
            os.close(fd)
        self._dirs.clear()

    def directory(self, path: str, *, create: bool = False, mode: int = 0o755,
                  owner: tuple[int, int] | None = None, _links: int = 0) -> int:
        """A cached ``O_PATH`` descriptor of directory ``path`` (borrowed: valid until
        :meth:`forget`), its missing components made (``mode``, ``owner``) when ``create``."""
        key = "/".join(parts_of(path))
        cached = self._dirs.get(key)
        if cached is not None:
            return cached
        try:
            fd = self.open(key, _DIR)
        except FileNotFoundError:
            if not create or not key:
                raise
            fd = self._make(key, mode, owner, _links)
        if len(self._dirs) >= _CACHE_MAX:
            self.forget()
        self._dirs[key] = fd
        return fd

    def _make(self, key: str, mode: int, owner: tuple[int, int] | None, links: int) -> int:
        head, _, name = key.rpartition("/")
        if name == "..":
            raise InvalidArgument(f"invalid path {key!r}")
        parent = self.directory(head, create=True, mode=mode, owner=owner, _links=links)
        try:
            os.mkdir(name, mode, dir_fd=parent)
            # mkdir's mode is cut by the umask: set it (and the owner) as asked.
            set_metadata_at(parent, name, owner=owner, mode=mode, mtime_ns=None)
        except FileExistsError:
            pass  # made meanwhile, or a symlink: the lookup below decides
        try:
            return openat2(parent, name, _DIR, 0, STEP)
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.ENOTDIR, errno.EXDEV):
                raise
        # A symlink: to a directory, followed in the root; dangling, its target is made, as
        # MkdirAll on a path resolved in the root does (moby's builder).
        if self._resolve & RESOLVE_NO_SYMLINKS or links >= _MAX_LINKS:
            raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), key)
        try:
            return self.open(key, _DIR)
        except FileNotFoundError:
            target = os.readlink(name, dir_fd=parent)
        return os.dup(self.directory(target if target.startswith("/") else f"{head}/{target}",
                                     create=True, mode=mode, owner=owner, _links=links + 1))

    def replaceable(self, dirfd: int, name: str) -> bool:
        """Every entry of a plain tree may be replaced (a container's view has mounted files)."""
        return True

    def parent(self, path: str, *, create: bool = False, owner: tuple[int, int] | None = None
               ) -> tuple[int, str]:
        """A descriptor (the caller's to close) of the directory holding ``path``, and its name."""
        parts = parts_of(path)
        if not parts or parts[-1] == "..":
            raise InvalidArgument(f"invalid path {path!r}: it names no entry")
        return os.dup(self.directory("/".join(parts[:-1]), create=create, owner=owner)), parts[-1]

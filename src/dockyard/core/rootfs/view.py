"""A container's filesystem as a process in it sees it: the rootfs with volumes and binds over it.

The rootfs and every mount source are opened once (the daemon chose those paths: its own overlay
mount point, a volume's ``_data``, a bind source checked at create). A container path is then
walked one component at a time from those descriptors: each step is ``openat2`` of one name below
the directory already held, with no symlink followed by the kernel (``RESOLVE_BENEATH |
RESOLVE_NO_SYMLINKS``); a symlink is read from its directory's descriptor and its target walked
the same way from the container's ``/`` (absolute) or from where it stands; ``..`` pops our own
stack of descriptors, so it never climbs above ``/``; and a path that reaches a mount's destination
continues on that mount's descriptor. What the container renames or swaps meanwhile can make a
step fail (it is retried, then reported as not found), never lead it to the host. Blocking.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from dockyard.core.rootfs.openat2 import STEP, openat2
from dockyard.core.rootfs.root import lstat_at, parts_of, set_metadata_at
from dockyard.core.rootfs.tree import Entry, pin
from dockyard.errors import Forbidden, InvalidArgument, NotFound

_MAX_LINKS = 40  # the kernel's MAXSYMLINKS; also bounds the retries of a raced step
_DIR = os.O_PATH | os.O_DIRECTORY


@dataclass(frozen=True, slots=True)
class Mounted:
    """A volume, a bind, or a daemon-made file (``/etc/hosts``) at ``destination``."""

    destination: str
    source: Path
    rw: bool = True


@dataclass(frozen=True, slots=True)
class Found:
    """The result of a walk: ``name`` in directory ``fd`` ("." when the path is a mount's top)."""

    path: str  # the container path, symlinks resolved
    fd: int  # O_PATH directory descriptor, the caller's (closed by View.find's context)
    name: str

    def lstat(self) -> os.stat_result | None:
        return lstat_at(self.fd, self.name)


@dataclass(frozen=True, slots=True)
class _Top:
    fd: int
    name: str  # "." for a directory mount; the file's name for a file mount
    rw: bool


class View:
    """The walkable view of one container; ``label`` names it in errors. A context manager."""

    def __init__(self, rootfs: Path, mounts: list[Mounted], *, label: str,
                 readonly_rootfs: bool = False) -> None:
        self._label = label
        self._readonly_rootfs = readonly_rootfs
        self._root = os.open(rootfs, _DIR | os.O_CLOEXEC)
        self._mounts: dict[str, _Top] = {}
        try:
            for m in mounts:
                dest = "/" + "/".join(parts_of(m.destination))
                if m.source.is_dir():
                    self._mounts[dest] = _Top(os.open(m.source, _DIR | os.O_CLOEXEC), ".", m.rw)
                elif m.source.exists():
                    parent = os.open(m.source.parent, _DIR | os.O_CLOEXEC)
                    self._mounts[dest] = _Top(parent, m.source.name, m.rw)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        for top in self._mounts.values():
            os.close(top.fd)
        self._mounts.clear()
        if self._root >= 0:
            os.close(self._root)
            self._root = -1

    def __enter__(self) -> View:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def missing(self, path: str) -> NotFound:
        return NotFound(f"Could not find the file {path} in container {self._label}")

    @contextmanager
    def find(self, path: str, *, follow_last: bool) -> Iterator[Found]:
        """Walk ``path``; the last component need not exist. NotFound (Docker's text) otherwise."""
        try:
            found = self._walk(path, follow_last)
        except OSError as exc:
            raise self.missing(path) from exc
        try:
            yield found
        finally:
            os.close(found.fd)

    def _covering(self, path: str) -> str | None:
        """The destination of the deepest mount holding container ``path`` (resolved)."""
        return max((d for d in self._mounts if path == d or path.startswith(d.rstrip("/") + "/")),
                   key=len, default=None)

    def check_writable(self, path: str) -> None:
        """Forbidden (Docker's texts) when ``path`` lies on a read-only mount or rootfs."""
        best = self._covering(path)
        if best is not None and not self._mounts[best].rw:
            raise Forbidden(f"mounted volume is marked read-only: {best}")
        if best is None and self._readonly_rootfs:
            raise Forbidden("container rootfs is marked read-only")

    def entering(self, base: str) -> _Entering:
        """The ``enter`` of a :func:`dockyard.core.rootfs.tree.walk` from container path ``base``:
        the walk goes on into the volumes and binds mounted below it."""
        return _Entering(self, base)

    def mount_at(self, path: str) -> _Top | None:
        return self._mounts.get(path)

    # Destination (dockyard.core.rootfs.unpack): a member's parent, walked afresh each time.
    def parent(self, path: str, *, create: bool = False, owner: tuple[int, int] | None = None
               ) -> tuple[int, str]:
        parts = parts_of(path)
        if not parts or parts[-1] == "..":
            raise InvalidArgument(f"invalid path {path!r}: it names no entry")
        head = "/" + "/".join(parts[:-1])
        fd, where = self._directory(head, create, owner, path)
        top = self._mounts.get(f"{where.rstrip('/')}/{parts[-1]}")
        if top is None:
            return fd, parts[-1]
        # The entry is a mount's top: the volume itself, or a mounted file (never replaced).
        os.close(fd)
        self.check_writable(f"{where.rstrip('/')}/{parts[-1]}")
        return os.dup(top.fd), top.name

    def forget(self) -> None:
        """Nothing is cached: every member's parent is walked again, as the container may move it."""

    def replaceable(self, dirfd: int, name: str) -> bool:
        """False for a file mounted over the rootfs (``/etc/hosts``): it is never unlinked."""
        st = os.fstat(dirfd)
        return not any(top.name == name and (st.st_dev, st.st_ino) == _inode(top.fd)
                       for top in self._mounts.values() if top.name != ".")

    def _directory(self, path: str, create: bool, owner: tuple[int, int] | None, asked: str
                   ) -> tuple[int, str]:
        """A descriptor of directory ``path`` (made if asked), and its container path resolved."""
        try:
            found = self._walk(path, True)
        except FileNotFoundError:
            if not create or path == "/":
                raise self.missing(asked) from None
            parent, _ = self._directory(path.rsplit("/", 1)[0] or "/", create, owner, asked)
            try:
                os.mkdir(path.rsplit("/", 1)[-1], 0o755, dir_fd=parent)
                set_metadata_at(parent, path.rsplit("/", 1)[-1], owner=owner, mode=0o755, mtime_ns=None)
            except FileExistsError:
                pass
            finally:
                os.close(parent)
            return self._directory(path, False, owner, asked)
        except OSError as exc:
            raise self.missing(asked) from exc
        try:
            self.check_writable(found.path)
            if found.name == ".":
                return os.dup(found.fd), found.path
            try:
                return openat2(found.fd, found.name, _DIR, 0, STEP), found.path
            except FileNotFoundError:
                if not create:
                    raise self.missing(asked) from None
                return self._make(found, owner, asked), found.path
            except OSError as exc:
                raise self.missing(asked) from exc
        finally:
            os.close(found.fd)

    def _make(self, found: Found, owner: tuple[int, int] | None, asked: str) -> int:
        try:
            os.mkdir(found.name, 0o755, dir_fd=found.fd)
            set_metadata_at(found.fd, found.name, owner=owner, mode=0o755, mtime_ns=None)
        except FileExistsError:
            pass
        try:
            return openat2(found.fd, found.name, _DIR, 0, STEP)
        except OSError as exc:
            raise self.missing(asked) from exc

    def _walk(self, path: str, follow_last: bool) -> Found:
        pending = parts_of(path)
        names: list[str] = []
        fds = [os.dup(self._root)]
        links = 0
        try:
            while pending:
                part = pending.pop(0)
                if part == "..":
                    if names:
                        names.pop()
                        os.close(fds.pop())
                    continue
                last = not pending
                here = "/" + "/".join([*names, part])
                top = self._mounts.get(here)
                if top is not None:
                    if top.name != ".":  # a file mount: nothing below it
                        if not last:
                            raise OSError(errno.ENOTDIR, "not a directory", here)
                        return Found(here, os.dup(top.fd), top.name)
                    names.append(part)
                    fds.append(os.dup(top.fd))
                    continue
                st = lstat_at(fds[-1], part)
                if st is None:
                    if last:
                        return Found(here, os.dup(fds[-1]), part)
                    raise FileNotFoundError(errno.ENOENT, "no such file or directory", here)
                if stat.S_ISLNK(st.st_mode) and (follow_last or not last):
                    links += 1
                    if links > _MAX_LINKS:
                        raise OSError(errno.ELOOP, "too many levels of symbolic links", path)
                    try:
                        target = os.readlink(part, dir_fd=fds[-1])
                    except OSError:
                        pending.insert(0, part)  # no longer a symlink: look again
                        continue
                    if target.startswith("/"):
                        names.clear()
                        for fd in fds[1:]:
                            os.close(fd)
                        del fds[1:]
                    pending[:0] = parts_of(target)
                    continue
                if last:
                    return Found(here, os.dup(fds[-1]), part)
                try:
                    fd = openat2(fds[-1], part, _DIR, 0, STEP)
                except OSError as exc:
                    if exc.errno not in (errno.ELOOP, errno.ENOTDIR, errno.EXDEV) or links >= _MAX_LINKS:
                        raise
                    links += 1  # swapped since the lstat: look again
                    pending.insert(0, part)
                    continue
                names.append(part)
                fds.append(fd)
            # Ended on a directory we hold ("/", "..", a mount's top): the entry is "." of it.
            return Found("/" + "/".join(names), os.dup(fds[-1]), ".")
        finally:
            for fd in fds:
                os.close(fd)


def resolve(tree: Path, path: str) -> tuple[str, os.stat_result] | None:
    """``path`` in a plain ``tree`` (no mounts) with every symlink resolved inside it, the last
    one too: its path from the tree's top ("/a/b") and its lstat; None when nothing is there.
    The tree's own ``ln -s /etc/shadow x`` or ``ln -s ../../.. x`` names the tree's entries."""
    with View(tree, [], label=str(tree)) as view:
        try:
            with view.find(path, follow_last=True) as found:
                return found.path, os.stat(found.name, dir_fd=found.fd, follow_symlinks=False)
        except (NotFound, FileNotFoundError, NotADirectoryError):
            return None


def _inode(fd: int) -> tuple[int, int]:
    st = os.fstat(fd)
    return st.st_dev, st.st_ino


class _Entering:
    """The ``enter`` callback of a tree walk rooted at container path ``base``."""

    def __init__(self, view: View, base: str) -> None:
        self._view = view
        self._base = base.rstrip("/")

    def __call__(self, rel: str) -> Entry | None:
        top = self._view.mount_at(f"{self._base}/{rel}")
        return None if top is None else pin(top.fd, top.name, rel)

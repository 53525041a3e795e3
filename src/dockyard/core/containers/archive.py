"""``docker cp`` and ``docker export``: a container's filesystem as a user inside it sees it.

The view is the container's rootfs with its volumes, bind mounts and the daemon-made ``/etc``
files laid over it (tmpfs mounts live only in the container's mount namespace and are not reachable
from here). Every path is walked by descriptors inside that view (:mod:`dockyard.core.rootfs.view`):
symlinks are followed inside the container's root, never out of it, whatever the container does
meanwhile, so a copy need not pause it. Everything here blocks: callers run it in a worker thread.
"""

from __future__ import annotations

import datetime as dt
import os
import posixpath
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from dockyard.core.containers.model import Container, ContainerPaths
from dockyard.core.containers.mounts import MountPoint
from dockyard.core.rootfs.root import Root
from dockyard.core.rootfs.tree import TarWriter, names, pin
from dockyard.core.rootfs.unpack import UnpackOptions, unpack
from dockyard.core.rootfs.view import Mounted, View
from dockyard.core.runtime.userns import UsernsRemap
from dockyard.errors import InvalidArgument, NotFound

# Go's os.FileMode type bits: the CLI decodes X-Docker-Container-Path-Stat's "mode" with them.
_GO_DIR, _GO_SYMLINK, _GO_DEVICE, _GO_PIPE, _GO_SOCKET = 1 << 31, 1 << 27, 1 << 26, 1 << 25, 1 << 24
_GO_SETUID, _GO_SETGID, _GO_CHARDEV, _GO_STICKY = 1 << 23, 1 << 22, 1 << 21, 1 << 20


@dataclass(frozen=True, slots=True)
class PathStat:
    """Docker's ``PathStat`` (``GET/HEAD /containers/{id}/archive``)."""

    name: str
    size: int
    mode: int  # Go os.FileMode
    mtime: str
    link_target: str


def go_file_mode(st_mode: int) -> int:
    mode = st_mode & 0o777
    kind = stat.S_IFMT(st_mode)
    mode |= {stat.S_IFDIR: _GO_DIR, stat.S_IFLNK: _GO_SYMLINK, stat.S_IFIFO: _GO_PIPE,
             stat.S_IFSOCK: _GO_SOCKET, stat.S_IFBLK: _GO_DEVICE,
             stat.S_IFCHR: _GO_DEVICE | _GO_CHARDEV}.get(kind, 0)
    if st_mode & stat.S_ISUID:
        mode |= _GO_SETUID
    if st_mode & stat.S_ISGID:
        mode |= _GO_SETGID
    if st_mode & stat.S_ISVTX:
        mode |= _GO_STICKY
    return mode


class ContainerFs:
    """The filesystem of one container: ``rootfs`` (mounted) with ``mounts`` over it. Each
    operation opens the view afresh and closes it, so the object holds no descriptors."""

    def __init__(self, rootfs: Path, mounts: list[MountPoint], *, readonly_rootfs: bool = False,
                 remap: UsernsRemap | None = None) -> None:
        self.rootfs = rootfs
        self._mounts = [Mounted(m.destination, Path(m.source), m.rw)
                        for m in mounts if m.type in ("bind", "volume") and m.source]
        self._readonly_rootfs = readonly_rootfs
        # A remapped container's files are owned by host ids in its range: the tar shows them as
        # the container sees them, and what is copied in gets the host ids (moby's IdentityMapping).
        self._remap = remap

    def view(self, container: str) -> View:
        return View(self.rootfs, self._mounts, label=container, readonly_rootfs=self._readonly_rootfs)

    def resolve(self, path: str, container: str, *, follow_last: bool) -> str:
        """``path`` with its symlinks resolved inside the container (the last one only if asked)."""
        with self.view(container) as view, view.find(path, follow_last=follow_last) as found:
            return found.path

    def stat(self, path: str, container: str) -> PathStat:
        with self.view(container) as view:
            return self._stat(view, path, container)

    def _stat(self, view: View, path: str, container: str) -> PathStat:
        with view.find(path, follow_last=False) as found:
            st = found.lstat()
            resolved = found.path
            try:
                link = os.readlink(found.name, dir_fd=found.fd) if st and stat.S_ISLNK(st.st_mode) else ""
            except OSError:
                st = None  # no longer a symlink: it changed under us, as if it had vanished
        if st is None:
            raise view.missing(path)
        link_target = ""
        if stat.S_ISLNK(st.st_mode):
            try:
                with view.find(resolved, follow_last=True) as target:
                    link_target = target.path
            except NotFound:
                # Dangling through a missing directory: the target as written, made absolute
                # (moby's FollowSymlinkInScope does not need the target to exist either).
                link_target = posixpath.normpath(posixpath.join(posixpath.dirname(resolved), link))
        name = "." if path.endswith("/.") else (posixpath.basename(resolved) or "/")
        mtime = dt.datetime.fromtimestamp(st.st_mtime, dt.UTC).isoformat().replace("+00:00", "Z")
        return PathStat(name=name, size=st.st_size, mode=go_file_mode(st.st_mode), mtime=mtime,
                        link_target=link_target)

    def write_archive(self, path: str, container: str, out: BinaryIO) -> PathStat:
        """A tar of ``path`` (a symlink itself, not its target) named by its base name."""
        owners = self._remap.unshift if self._remap is not None else None
        with self.view(container) as view:
            info = self._stat(view, path, container)
            # "/dir/." names the directory's contents: entries "./…", as moby's SplitPathDirEntry.
            name = info.name if info.name != "/" else "."
            with view.find(path, follow_last=False) as found:
                top = pin(found.fd, found.name)
                resolved = found.path
            if top is None:
                raise view.missing(path)
            try:
                with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                    TarWriter(tar, owners).add_tree(top, name, view.entering(resolved))
            finally:
                os.close(top.fd)
        return info

    def extract(self, path: str, container: str, archive: BinaryIO | Path, *,
                no_overwrite_dir_non_dir: bool = False, owner: tuple[int, int] | None = None) -> None:
        """Unpack a tar into directory ``path`` (``PUT /containers/{id}/archive``)."""
        with self.view(container) as view:
            with view.find(path, follow_last=True) as found:
                st = found.lstat()
                dest = found.path
            if st is None:
                raise view.missing(path)
            if not stat.S_ISDIR(st.st_mode):
                raise InvalidArgument("extraction point is not a directory")
            view.check_writable(dest)
            options = UnpackOptions(owner=owner, no_overwrite_dir_non_dir=no_overwrite_dir_non_dir,
                                    shift=self._remap.shift if self._remap is not None else None,
                                    base=dest)
            unpack(archive, view, options)


def container_fs(rootfs: Path, container: Container, paths: ContainerPaths,
                 remap: UsernsRemap | None = None) -> ContainerFs:
    """The view ``docker cp`` works on: the daemon-made /etc files count as mounts too."""
    files = [MountPoint(type="bind", destination=dest, source=str(source))
             for dest, source in (("/etc/hostname", paths.hostname), ("/etc/hosts", paths.hosts),
                                  ("/etc/resolv.conf", paths.resolv_conf)) if source.exists()]
    return ContainerFs(rootfs, [*files, *container.mounts],
                       readonly_rootfs=container.host.readonly_rootfs, remap=remap)


def write_export(rootfs: Path, out: BinaryIO, remap: UsernsRemap | None = None) -> None:
    """``docker export``: the merged filesystem, entries relative to its root."""
    owners = remap.unshift if remap is not None else None
    with Root.at(rootfs) as root, tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        writer = TarWriter(tar, owners)
        top = pin(root.fd, ".")
        assert top is not None
        try:
            for name in names(top):
                child = pin(root.fd, name, name)
                if child is not None:
                    try:
                        writer.add_tree(child, "")
                    finally:
                        os.close(child.fd)
        finally:
            os.close(top.fd)

"""``docker cp`` and ``docker export``: a container's filesystem as a user inside it sees it.

The view is the container's rootfs with its volumes and bind mounts laid over it (tmpfs mounts live
only in the container's mount namespace and are not reachable from here). Paths are resolved as
moby's ``ResolvePath`` does: symlinks are followed inside the container's root, never out of it,
and every component is mapped to the host through the deepest mount that covers it. Everything
here blocks: callers run it in a worker thread.
"""

from __future__ import annotations

import datetime as dt
import os
import posixpath
import shutil
import stat
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from dockyard.core.containers.model import Container, ContainerPaths
from dockyard.core.containers.mounts import MountPoint, covering
from dockyard.core.runtime.userns import UsernsRemap
from dockyard.errors import Forbidden, InvalidArgument, NotFound

_MAX_LINKS = 40
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


def _parts(path: str) -> list[str]:
    return [p for p in path.split("/") if p not in ("", ".")]


class ContainerFs:
    """The filesystem of one container: ``rootfs`` (mounted) with ``mounts`` over it."""

    def __init__(self, rootfs: Path, mounts: list[MountPoint], *, readonly_rootfs: bool = False,
                 remap: UsernsRemap | None = None) -> None:
        self._rootfs = rootfs
        self._mounts = [m for m in mounts if m.type in ("bind", "volume") and m.source]
        self._readonly_rootfs = readonly_rootfs
        # A remapped container's files are owned by host ids in its range: the tar shows them as
        # the container sees them, and what is copied in gets the host ids (moby's IdentityMapping).
        self._remap = remap

    def host_path(self, path: str) -> Path:
        point, rest = covering(self._mounts, posixpath.normpath("/" + "/".join(_parts(path))))
        base = Path(point.source) if point is not None else self._rootfs
        host = base / rest if rest else base
        # The one guard between a container path and the host: never leave the mount's base.
        if host != base and base not in host.parents:
            raise InvalidArgument(f"path {path} escapes the container's filesystem")
        return host

    def resolve(self, path: str, *, follow_last: bool) -> str:
        """``path`` with its symlinks resolved inside the container (the last one only if asked)."""
        pending = _parts(path)
        resolved: list[str] = []
        links = 0
        while pending:
            part = pending.pop(0)
            if part == "..":
                if resolved:
                    resolved.pop()
                continue
            host = self.host_path("/".join([*resolved, part]))
            if (pending or follow_last) and host.is_symlink():
                links += 1
                if links > _MAX_LINKS:
                    raise InvalidArgument(f"too many levels of symbolic links: {path}")
                target = os.readlink(host)
                if target.startswith("/"):
                    resolved = []
                pending = _parts(target) + pending
                continue
            resolved.append(part)
        return "/" + "/".join(resolved)

    def _found(self, path: str, container: str) -> tuple[str, Path, os.stat_result]:
        resolved = self.resolve(path, follow_last=False)
        host = self.host_path(resolved)
        try:
            return resolved, host, host.lstat()
        except FileNotFoundError as exc:
            raise NotFound(f"Could not find the file {path} in container {container}") from exc

    def stat(self, path: str, container: str) -> PathStat:
        resolved, host, st = self._found(path, container)
        link_target = ""
        if stat.S_ISLNK(st.st_mode):
            link_target = self.resolve(resolved, follow_last=True)
        name = "." if path.endswith("/.") else (posixpath.basename(resolved) or "/")
        mtime = dt.datetime.fromtimestamp(st.st_mtime, dt.UTC).isoformat().replace("+00:00", "Z")
        return PathStat(name=name, size=st.st_size, mode=go_file_mode(st.st_mode), mtime=mtime,
                        link_target=link_target)

    def write_archive(self, path: str, container: str, out: BinaryIO) -> PathStat:
        """A tar of ``path`` (a symlink itself, not its target) named by its base name."""
        info = self.stat(path, container)
        _, host, _ = self._found(path, container)
        # "/dir/." names the directory's contents: entries "./…", as moby's SplitPathDirEntry.
        name = info.name if info.name != "/" else "."
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            tar.add(str(host), arcname=name, recursive=True, filter=_owner_filter(self._remap))
        return info

    def extract(self, path: str, container: str, archive: BinaryIO, *,
                no_overwrite_dir_non_dir: bool = False, owner: tuple[int, int] | None = None) -> None:
        """Unpack a tar into directory ``path`` (``PUT /containers/{id}/archive``)."""
        dest = self.resolve(path, follow_last=True)
        host = self.host_path(dest)
        if not host.exists():
            raise NotFound(f"Could not find the file {path} in container {container}")
        if not host.is_dir():
            raise InvalidArgument("extraction point is not a directory")
        self._check_writable(dest)
        dirs: list[tuple[Path, tarfile.TarInfo]] = []
        with tarfile.open(fileobj=archive, mode="r|*") as tar:
            for member in tar:
                target = self._member_target(dest, member.name)
                if target is None:
                    continue
                _place(tar, member, target, self, dest, no_overwrite_dir_non_dir)
                _set_owner_mode(target, member, owner, self._remap)
                if member.isdir():
                    dirs.append((target, member))
                elif not member.issym():
                    os.utime(target, (member.mtime, member.mtime))
        for target, member in reversed(dirs):
            os.utime(target, (member.mtime, member.mtime))

    def _check_writable(self, dest: str) -> None:
        point, _ = covering(self._mounts, dest)
        if point is not None and not point.rw:
            raise Forbidden(f"mounted volume is marked read-only: {point.destination}")
        if point is None and self._readonly_rootfs:
            raise Forbidden("container rootfs is marked read-only")

    def _member_target(self, dest: str, name: str) -> Path | None:
        rel = posixpath.normpath(name.lstrip("/"))
        if rel in (".", "") or rel.startswith("../") or rel == "..":
            return None if rel in (".", "") else _refuse(name)
        parent = self.resolve(posixpath.join(dest, posixpath.dirname(rel)), follow_last=True)
        return self.host_path(parent) / posixpath.basename(rel)


def container_fs(rootfs: Path, container: Container, paths: ContainerPaths,
                 remap: UsernsRemap | None = None) -> ContainerFs:
    """The view ``docker cp`` works on: the daemon-made /etc files count as mounts too."""
    files = [MountPoint(type="bind", destination=dest, source=str(source))
             for dest, source in (("/etc/hostname", paths.hostname), ("/etc/hosts", paths.hosts),
                                  ("/etc/resolv.conf", paths.resolv_conf)) if source.exists()]
    return ContainerFs(rootfs, [*files, *container.mounts],
                       readonly_rootfs=container.host.readonly_rootfs, remap=remap)


def _refuse(name: str) -> Path:
    raise InvalidArgument(f"invalid archive entry: {name!r} escapes the destination")


def _anonymous_owner(info: tarfile.TarInfo) -> tarfile.TarInfo:
    # Numeric owners only: a host's user names mean nothing inside the container.
    info.uname = info.gname = ""
    return info


def _owner_filter(remap: UsernsRemap | None) -> Callable[[tarfile.TarInfo], tarfile.TarInfo]:
    if remap is None:
        return _anonymous_owner

    def unshifted(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid, info.gid = remap.unshift(info.uid, info.gid)
        return _anonymous_owner(info)

    return unshifted


def _place(tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path, fs: ContainerFs, dest: str,
           no_overwrite: bool) -> None:
    existing = target.is_dir() and not target.is_symlink()
    if target.exists() or target.is_symlink():
        if no_overwrite and existing != member.isdir():
            kinds = ("directory", "non-directory") if existing else ("non-directory", "directory")
            raise InvalidArgument(f"cannot overwrite {kinds[0]} {target.name!r} with {kinds[1]} "
                                  f"{member.name!r}")
        if not (existing and member.isdir()):
            shutil.rmtree(target) if existing else target.unlink()
    if member.isdir():
        target.mkdir(exist_ok=True)
    elif member.issym():
        os.symlink(member.linkname, target)
    elif member.islnk():
        source = fs.host_path(fs.resolve(posixpath.join(dest, member.linkname.lstrip("/")),
                                         follow_last=False))
        os.link(source, target)
    elif member.isfile():
        data = tar.extractfile(member)
        assert data is not None
        with target.open("wb") as out:
            shutil.copyfileobj(data, out)
    elif member.isfifo():
        os.mkfifo(target)
    elif member.ischr() or member.isblk():
        kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
        os.mknod(target, kind | 0o600, os.makedev(member.devmajor, member.devminor))


def _set_owner_mode(target: Path, member: tarfile.TarInfo, owner: tuple[int, int] | None,
                    remap: UsernsRemap | None) -> None:
    uid, gid = owner if owner is not None else (member.uid, member.gid)
    if remap is not None:
        uid, gid = remap.shift(uid, gid)
    os.chown(target, uid, gid, follow_symlinks=False)
    if not member.issym():
        os.chmod(target, member.mode & 0o7777)


def write_export(rootfs: Path, out: BinaryIO, remap: UsernsRemap | None = None) -> None:
    """``docker export``: the merged filesystem, entries relative to its root."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for entry in sorted(rootfs.iterdir()):
            tar.add(str(entry), arcname=entry.name, recursive=True, filter=_owner_filter(remap))

"""Tar streams unpacked into an untrusted tree: layers, image archives, build contexts, ``docker cp``.

One streaming pass over libarchive's entries (it reads every tar dialect and undoes gzip, bzip2, xz
and zstd). Each entry is placed through its parent's descriptor (:meth:`Root.parent`): files are
created ``O_CREAT | O_EXCL | O_NOFOLLOW`` and their owner, mode and times set through the new
descriptor; links, device nodes and FIFOs are made with the ``*at`` calls and never opened. So a
symlink an archive (or the container) planted never redirects a write, a hard link's target is
always an entry of the same tree, and a device node stays a node inside it.

Refused with :class:`InvalidArgument`: ``..`` above the top, absolute names where the format has
none, whiteouts of ``.``/``..``/nothing, hard links across trees, content beyond ``limit`` bytes (a
decompression bomb) and a full disk, so that callers can discard the half-made tree and answer 400.
"""

from __future__ import annotations

import enum
import errno
import logging
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from dockyard.core.rootfs.root import lstat_at, parts_of, proc_path, remove_at, set_metadata_at
from dockyard.errors import InvalidArgument

log = logging.getLogger(__name__)

WHITEOUT_PREFIX = ".wh."
OPAQUE_WHITEOUT = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_BLOCK = 1 << 20  # bytes libarchive reads, and copies out, per call
_PAGE = 4096


class Whiteouts(enum.Enum):
    """How to apply OCI whiteouts."""

    OVERLAY = "overlay"  # write overlayfs whiteouts into an upper directory
    DELETE = "delete"  # delete from a full tree (copy snapshotter)
    REFUSE = "refuse"  # not a layer (e.g. the members of a docker-archive): keep names as they are


class Destination(Protocol):
    """Where entries go: a :class:`Root`, or a container's view with its mounts."""

    def parent(self, path: str, *, create: bool = False, owner: tuple[int, int] | None = None
               ) -> tuple[int, str]: ...

    def forget(self) -> None: ...

    def replaceable(self, dirfd: int, name: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class UnpackOptions:
    whiteouts: Whiteouts = Whiteouts.REFUSE
    refuse_absolute: bool = False
    special_files: bool = True  # device nodes and FIFOs (a build context drops them, as Docker)
    chown: bool = field(default_factory=lambda: os.geteuid() == 0)
    owner: tuple[int, int] | None = None  # every entry's owner instead of the archive's
    shift: Callable[[int, int], tuple[int, int]] | None = None  # userns remap of the archive's ids
    no_overwrite_dir_non_dir: bool = False
    limit: int | None = None  # bytes of file content, at most
    base: str = ""  # the directory below the destination's top that names are relative to


@dataclass
class _State:
    dest: Destination
    options: UnpackOptions
    written: set[str] = field(default_factory=set)
    dirs: list[tuple[str, int]] = field(default_factory=list)
    size: int = 0
    stale: bool = False


def clean_member(name: str, *, refuse_absolute: bool) -> str:
    """The member path relative to the top, or :class:`InvalidArgument` when it escapes."""
    if refuse_absolute and name.startswith("/"):
        raise InvalidArgument(f"invalid archive member {name!r}: absolute path")
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise InvalidArgument(f"invalid archive member {name!r}: path escapes the root")
            parts.pop()
        else:
            parts.append(part)
    return "/".join(parts)


TAR_FORMAT = "tar"


def unpack(source: Path | BinaryIO, dest: Destination, options: UnpackOptions) -> int:
    """Unpack the tar at ``source`` (a path or a readable file) into ``dest``; return the bytes of
    file content written."""
    import libarchive  # on first use: ~2 MB the daemon need not hold until it unpacks

    state = _State(dest=dest, options=options)
    if isinstance(source, Path) and source.stat().st_size == 0:
        return 0  # no bytes at all: an empty archive, as Go's archive/tar reads it
    # Tar only (ustar, pax, GNU), under any compression filter: Docker's layers, contexts and
    # copies are tars, and libarchive's default would also take zip, cpio, ISO, 7z and more.
    reader = (libarchive.file_reader(str(source), format_name=TAR_FORMAT, block_size=_BLOCK)
              if isinstance(source, Path)
              else libarchive.stream_reader(source, format_name=TAR_FORMAT, block_size=_BLOCK))
    try:
        with reader as archive:
            for entry in archive:
                if state.stale:
                    dest.forget()
                    state.stale = False
                _entry(state, entry)
        # Directory times last: creating their children changed them.
        for path, mtime in reversed(state.dirs):
            fd, name = dest.parent(path)
            try:
                os.utime(name, ns=(mtime, mtime), dir_fd=fd, follow_symlinks=False)
            finally:
                os.close(fd)
    except libarchive.ArchiveError as exc:
        raise InvalidArgument(f"archive/tar: invalid tar header: {exc}") from exc
    except OSError as exc:
        raise refusal(exc) from exc
    finally:
        dest.forget()
    return state.size


def refusal(exc: OSError) -> InvalidArgument:
    """An OS error while unpacking, as the client's error: the archive (or the disk) is at fault."""
    where = f" {exc.filename}" if exc.filename else ""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return InvalidArgument(f"failed to unpack{where}: no space left on device")
    if exc.errno == errno.EXDEV:
        return InvalidArgument(f"invalid hard link{where}: link across filesystems (mounts)")
    if exc.errno == errno.ELOOP:
        return InvalidArgument(f"invalid archive member{where}: path escapes the root through a symlink")
    if exc.errno == errno.ENOTDIR:
        return InvalidArgument(f"invalid archive member{where}: parent is not a directory")
    return InvalidArgument(f"failed to unpack{where}: {exc.strerror or exc}")


def _owner(state: _State, entry: Any) -> tuple[int, int] | None:
    opts = state.options
    if not opts.chown:
        return None
    uid, gid = opts.owner if opts.owner is not None else (int(entry.uid), int(entry.gid))
    return opts.shift(uid, gid) if opts.shift is not None else (uid, gid)


def _entry(state: _State, entry: Any) -> None:
    opts = state.options
    rel = clean_member(entry.pathname, refuse_absolute=opts.refuse_absolute)
    if not rel:
        return  # the top itself ("./"): it keeps its own owner and mode
    base = rel.rsplit("/", 1)[-1]
    if opts.whiteouts is not Whiteouts.REFUSE and base.startswith(WHITEOUT_PREFIX):
        _whiteout(state, rel, base)
        return
    if (entry.ischr or entry.isblk or entry.isfifo) and not opts.special_files:
        return
    path = "/".join([*parts_of(opts.base), rel])
    fd, name = state.dest.parent(path, create=True, owner=opts.owner)
    try:
        state.written.add(rel)
        _place(state, entry, fd, name, path)
    except FileExistsError as exc:
        # O_EXCL met an entry made after we cleared the name: something else writes here.
        raise InvalidArgument(f"invalid archive member {entry.pathname!r}: changed while unpacked") from exc
    finally:
        os.close(fd)


def _clear(state: _State, fd: int, name: str, entry: Any, path: str) -> os.stat_result | None:
    """Make room for ``entry`` at ``name``; return what stays (an existing directory for a dir)."""
    existing = lstat_at(fd, name)
    if existing is None:
        return None
    if name == "." and not entry.isdir:  # a mount's top (docker cp): never removed
        raise InvalidArgument(f"cannot overwrite directory {entry.pathname!r} with non-directory")
    is_dir = stat.S_ISDIR(existing.st_mode)
    if state.options.no_overwrite_dir_non_dir and is_dir != bool(entry.isdir):
        # moby's texts (pkg/archive Unpack), with the container's paths.
        kinds = ("directory", "non-directory") if is_dir else ("non-directory", "directory")
        dest = "/" + "/".join(parts_of(state.options.base))
        where = "/" + path.lstrip("/")
        raise InvalidArgument(f'cannot overwrite {kinds[0]} "{where}" with {kinds[1]} "{dest}"')
    if is_dir and entry.isdir:
        return existing
    if not state.dest.replaceable(fd, name):
        # A file bind-mounted into the container (/etc/hosts): Docker's unlink meets EBUSY too.
        raise InvalidArgument(f"unlinkat /{path.lstrip('/')}: device or resource busy")
    remove_at(fd, name)
    state.stale = True
    return None


def _place(state: _State, entry: Any, fd: int, name: str, path: str) -> None:
    owner = _owner(state, entry)
    mode = stat.S_IMODE(entry.mode)
    mtime = int(entry.mtime or 0) * 1_000_000_000
    kept = _clear(state, fd, name, entry, path)
    if entry.isdir:
        if kept is None:
            os.mkdir(name, 0o700, dir_fd=fd)
        set_metadata_at(fd, name, owner=owner, mode=mode, mtime_ns=None)
        state.dirs.append((path, mtime))
        return
    if entry.isreg:
        _write_file(state, entry, fd, name, owner, mode, mtime)
        return
    if entry.issym:
        os.symlink(entry.linkpath, name, dir_fd=fd)
        set_metadata_at(fd, name, owner=owner, mode=None, mtime_ns=mtime)
        return
    if entry.islnk:
        _hardlink(state, entry, fd, name)
        return  # a hard link shares its target's metadata
    if entry.ischr or entry.isblk:
        kind = stat.S_IFCHR if entry.ischr else stat.S_IFBLK
        os.mknod(name, kind | 0o600, os.makedev(entry.rdevmajor, entry.rdevminor), dir_fd=fd)
    elif entry.isfifo:
        os.mkfifo(name, 0o600, dir_fd=fd)
    else:
        log.warning("skipping unsupported archive member %s", entry.pathname)
        return
    set_metadata_at(fd, name, owner=owner, mode=mode, mtime_ns=mtime)


def _write_file(state: _State, entry: Any, dirfd: int, name: str, owner: tuple[int, int] | None,
                mode: int, mtime: int) -> None:
    limit = state.options.limit
    fd = os.open(name, _FILE_FLAGS, 0o600, dir_fd=dirfd)
    with os.fdopen(fd, "wb") as out:
        # libarchive-c reads a page at a time by default, a ctypes call and a turn of the GIL each.
        # Its buffer is made per entry: sized to the file, so small files stay cheap.
        for block in entry.get_blocks(min(max(entry.size or 0, _PAGE), _BLOCK)):
            state.size += len(block)
            if limit is not None and state.size > limit:
                raise InvalidArgument(
                    f"archive too large: more than {limit} bytes unpacked (the daemon's max-unpack-size)")
            out.write(block)
        out.flush()
        if owner is not None:
            os.fchown(fd, *owner)
        os.fchmod(fd, mode)
        os.utime(fd, ns=(mtime, mtime))


def _hardlink(state: _State, entry: Any, fd: int, name: str) -> None:
    rel = clean_member(entry.linkpath, refuse_absolute=False)
    if not rel:
        raise InvalidArgument(f"invalid hard link {entry.linkpath!r}: target is the root")
    missing = InvalidArgument(f"invalid hard link {entry.linkpath!r}: target does not exist")
    try:
        src_fd, src_name = state.dest.parent("/".join([*parts_of(state.options.base), rel]))
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise missing from exc
    try:
        # No AT_SYMLINK_FOLLOW: a link to a symlink links the symlink, never what it points at.
        os.link(src_name, name, src_dir_fd=src_fd, dst_dir_fd=fd, follow_symlinks=False)
    except FileNotFoundError as exc:
        raise missing from exc
    finally:
        os.close(src_fd)


def _whiteout(state: _State, rel: str, base: str) -> None:
    hidden = base[len(WHITEOUT_PREFIX):]
    fd, _ = state.dest.parent(rel, create=True)
    try:
        if base == OPAQUE_WHITEOUT:
            _opaque(state, rel, fd)
        elif hidden.startswith(WHITEOUT_PREFIX):
            log.debug("ignoring whiteout metadata %s", rel)  # aufs' .wh..wh.plnk and the like
        elif hidden in ("", ".", ".."):
            raise InvalidArgument(f"invalid whiteout {rel!r}: it names no entry")
        else:
            remove_at(fd, hidden)
            state.stale = True
            if state.options.whiteouts is Whiteouts.OVERLAY:
                os.mknod(hidden, stat.S_IFCHR | 0o000, os.makedev(0, 0), dir_fd=fd)
    finally:
        os.close(fd)


def _opaque(state: _State, rel: str, fd: int) -> None:
    if state.options.whiteouts is Whiteouts.OVERLAY:
        os.setxattr(proc_path(fd), OPAQUE_XATTR, b"y")
        return
    prefix = rel.rsplit("/", 1)[0] + "/" if "/" in rel else ""
    listing = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=fd)
    try:
        children = os.listdir(listing)
    finally:
        os.close(listing)
    for child in children:
        # Entries this very layer wrote before its opaque marker stay.
        if prefix + child not in state.written:
            remove_at(fd, child)
            state.stale = True

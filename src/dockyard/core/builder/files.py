"""COPY and ADD into a mounted root filesystem, with Docker's directory semantics. Blocking.

- A directory source copies its contents, not itself; a file goes to ``dest`` itself unless
  ``dest`` ends with ``/`` (or ``.``) or is an existing directory, then to ``dest/<name>``.
- Several sources need a ``dest`` ending with ``/``. Missing parents are created (0755).
- Owners are 0:0 unless ``--chown``; ``--chmod`` sets the mode of everything copied.
- Writes are resolved inside the root (symlinks in ``dest`` never lead out of it).
- ADD extracts a local tar (plain, gzip, bzip2, xz) into ``dest`` as a directory.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path

from dockyard.core.builder.ignore import Matcher
from dockyard.core.builder.source import Source
from dockyard.core.rootfs.root import Root, lstat_at, remove_at, set_metadata_at
from dockyard.core.rootfs.tree import Entry, link_target, names, open_content, pin
from dockyard.core.rootfs.unpack import UnpackOptions, unpack
from dockyard.errors import InvalidArgument

MULTI_SOURCE_ERROR = ("When using COPY with more than one source file, the destination must be a "
                      "directory and end with a /")
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True, slots=True)
class CopyOptions:
    owner: tuple[int, int] | None = None  # --chown as (uid, gid); None: 0:0
    mode: int | None = None  # --chmod
    extract: bool = False  # ADD: unpack local archives
    parents: bool = False  # --parents: keep each source's path as the Dockerfile gives it
    exclude: tuple[str, ...] = ()  # --exclude: .dockerignore-style patterns, relative to each source

    def excluded(self, rel: str) -> bool:
        return bool(self.exclude) and Matcher(list(self.exclude)).excluded(rel)


def dest_path(dest: str, workdir: str) -> str:
    """``dest`` made absolute against the WORKDIR, keeping a trailing slash."""
    trailing = dest.endswith("/") or dest.endswith("/.") or dest == "."
    absolute = dest if dest.startswith("/") else posixpath.join(workdir or "/", dest)
    absolute = posixpath.normpath(absolute)
    return absolute.rstrip("/") + "/" if trailing else absolute


def is_dir(rootfs: Path, path: str) -> bool:
    """Whether container ``path`` is a directory, symlinks followed inside ``rootfs`` only."""
    with Root.at(rootfs) as root:
        try:
            os.close(root.open(path, os.O_PATH | os.O_DIRECTORY))
        except OSError:
            return False
        return True


def copy_sources(rootfs: Path, sources: list[Source], dest: str, options: CopyOptions) -> None:
    """Copy ``sources`` (entries of the context or of another stage) to container path ``dest``.

    Sources are read through descriptors pinned inside their own tree (a symlink there never
    makes the copy read a host file); every write goes through :class:`Root` of ``rootfs`` (a
    symlink an earlier step left at the destination is followed inside the rootfs only)."""
    into_dir = dest.endswith("/")
    if len(sources) > 1 and not into_dir:
        raise InvalidArgument(MULTI_SOURCE_ERROR)
    into_dir = into_dir or is_dir(rootfs, dest)
    with Root.at(rootfs) as root:
        for source in [s for s in sources if not options.excluded(s.name)]:
            with source.pinned() as entry:
                _copy_source(root, source, entry, dest, into_dir, options)


def _copy_source(root: Root, source: Source, entry: Entry, dest: str, into_dir: bool,
                 options: CopyOptions) -> None:
    base_dir = dest
    if options.parents:
        base_dir = posixpath.join(dest, posixpath.dirname(source.given))
    if stat.S_ISDIR(entry.st.st_mode):
        _directory(root, base_dir, options)
        if options.parents:
            base_dir = posixpath.join(base_dir, source.name)
            _copy_entry(root, entry, base_dir, options)
        _copy_tree(root, entry, base_dir, options)
    elif options.extract and stat.S_ISREG(entry.st.st_mode) and _is_archive(entry):
        _directory(root, dest, options)
        _extract(root, entry, dest)
    else:
        into = into_dir or options.parents
        _copy_entry(root, entry, posixpath.join(base_dir, source.name) if into else base_dir, options)


def write_file(rootfs: Path, content: bytes, dest: str, options: CopyOptions, mode: int = 0o644) -> None:
    """Write a file (a heredoc or a downloaded URL) at container path ``dest`` inside ``rootfs``."""
    with Root.at(rootfs) as root:
        fd, name = root.parent(dest, create=True, owner=options.owner or (0, 0))
        try:
            existing = lstat_at(fd, name)
            if existing is not None and stat.S_ISDIR(existing.st_mode):
                raise InvalidArgument(f"cannot replace directory {dest.strip('/')} with a file")
            if existing is not None:
                os.unlink(name, dir_fd=fd)
            out = os.open(name, _NEW_FILE, 0o600, dir_fd=fd)
            with os.fdopen(out, "wb") as f:
                f.write(content)
                f.flush()
                os.fchown(out, *(options.owner or (0, 0)))
                os.fchmod(out, options.mode if options.mode is not None else mode)
        finally:
            os.close(fd)


def _directory(root: Root, path: str, options: CopyOptions) -> None:
    """Make directory ``path`` and its missing parents (0755, the --chown owner or root)."""
    root.directory(path, create=True, owner=options.owner or (0, 0))


def _copy_entry(root: Root, entry: Entry, out: str, options: CopyOptions) -> None:
    st = entry.st
    owner = options.owner or (0, 0)
    if out.strip("/") == "":
        return  # the rootfs's own top: it keeps its owner and mode
    fd, name = root.parent(out, create=True, owner=owner)
    try:
        existing = lstat_at(fd, name)
        if existing is not None:
            keep = stat.S_ISDIR(st.st_mode) and (stat.S_ISDIR(existing.st_mode) or _is_dir_link(root, out))
            if not keep:
                remove_at(fd, name)
                root.forget()
                existing = None
        if stat.S_ISLNK(st.st_mode):
            os.symlink(link_target(entry), name, dir_fd=fd)
            set_metadata_at(fd, name, owner=owner, mode=None, mtime_ns=None)
            return
        if stat.S_ISDIR(st.st_mode):
            if existing is None:
                os.mkdir(name, 0o755, dir_fd=fd)
            if existing is None or stat.S_ISDIR(existing.st_mode):
                mode = options.mode if options.mode is not None else stat.S_IMODE(st.st_mode)
                set_metadata_at(fd, name, owner=owner, mode=mode, mtime_ns=st.st_mtime_ns)
            return
        _copy_file(entry, fd, name, owner, options)
    finally:
        os.close(fd)


def _is_dir_link(root: Root, path: str) -> bool:
    """A symlink to a directory inside the root: COPY of a directory goes into it (Docker's)."""
    try:
        os.close(root.open(path, os.O_PATH | os.O_DIRECTORY))
    except OSError:
        return False
    return True


def _copy_file(entry: Entry, dirfd: int, name: str, owner: tuple[int, int], options: CopyOptions) -> None:
    st = entry.st
    mode = options.mode if options.mode is not None else stat.S_IMODE(st.st_mode)
    if not stat.S_ISREG(st.st_mode):
        # A node or FIFO of another stage: made as what it is, never opened.
        os.mknod(name, stat.S_IFMT(st.st_mode) | 0o600, st.st_rdev, dir_fd=dirfd)
        set_metadata_at(dirfd, name, owner=owner, mode=mode, mtime_ns=st.st_mtime_ns)
        return
    out = os.open(name, _NEW_FILE, 0o600, dir_fd=dirfd)
    with os.fdopen(out, "wb") as f, os.fdopen(open_content(entry), "rb") as data:
        shutil.copyfileobj(data, f, 1 << 20)
        f.flush()
        os.fchown(out, *owner)
        os.fchmod(out, mode)
        os.utime(out, ns=(st.st_atime_ns, st.st_mtime_ns))


def _copy_tree(root: Root, top: Entry, target: str, options: CopyOptions, rel: str = "") -> None:
    """What directory ``top`` holds, each child pinned from ``top``'s descriptor (never followed)."""
    for name in names(top):
        child_rel = f"{rel}/{name}" if rel else name
        if options.excluded(child_rel):
            continue
        child = pin(top.fd, name, child_rel)
        if child is None:
            continue
        try:
            out = posixpath.join(target, name)
            _copy_entry(root, child, out, options)
            if stat.S_ISDIR(child.st.st_mode):
                _copy_tree(root, child, out, options, child_rel)
        finally:
            os.close(child.fd)
    if target.strip("/"):
        st = top.st
        fd, name = root.parent(target)
        try:
            if (found := lstat_at(fd, name)) is not None and stat.S_ISDIR(found.st_mode):
                os.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=fd, follow_symlinks=False)
        finally:
            os.close(fd)


def _is_archive(entry: Entry) -> bool:
    with os.fdopen(open_content(entry), "rb") as f:
        try:
            return tarfile.is_tarfile(f)
        except OSError:
            return False


def _extract(root: Root, archive: Entry, target: str) -> None:
    """ADD of a local tar: unpacked into ``target``, its links kept inside the rootfs."""
    with os.fdopen(open_content(archive), "rb") as f:
        unpack(f, root, UnpackOptions(base=target))

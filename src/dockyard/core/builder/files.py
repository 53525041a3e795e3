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
from dockyard.core.runtime.users import resolve_in_root
from dockyard.errors import InvalidArgument

MULTI_SOURCE_ERROR = ("When using COPY with more than one source file, the destination must be a "
                      "directory and end with a /")


@dataclass(frozen=True, slots=True)
class CopyOptions:
    owner: tuple[int, int] | None = None  # --chown as (uid, gid); None: 0:0
    mode: int | None = None  # --chmod
    extract: bool = False  # ADD: unpack local archives
    parents_of: Path | None = None  # --parents: keep each source's path below this root
    exclude: tuple[str, ...] = ()  # --exclude: .dockerignore-style patterns, relative to each source

    def excluded(self, rel: str) -> bool:
        return bool(self.exclude) and Matcher(list(self.exclude)).excluded(rel)


def dest_path(dest: str, workdir: str) -> str:
    """``dest`` made absolute against the WORKDIR, keeping a trailing slash."""
    trailing = dest.endswith("/") or dest.endswith("/.") or dest == "."
    absolute = dest if dest.startswith("/") else posixpath.join(workdir or "/", dest)
    absolute = posixpath.normpath(absolute)
    return absolute.rstrip("/") + "/" if trailing else absolute


def copy_sources(rootfs: Path, sources: list[Path], dest: str, options: CopyOptions) -> None:
    into_dir = dest.endswith("/")
    target = resolve_in_root(rootfs, dest)
    if len(sources) > 1 and not into_dir:
        raise InvalidArgument(MULTI_SOURCE_ERROR)
    into_dir = into_dir or target.is_dir()
    for source in [s for s in sources if not options.excluded(s.name)]:
        base_dir = target
        if options.parents_of is not None:
            rel_parent = source.parent.relative_to(options.parents_of)
            base_dir = resolve_in_root(rootfs, posixpath.join(dest, str(rel_parent)))
        if source.is_dir() and not source.is_symlink():
            _make_dirs(rootfs, base_dir, options)
            if options.parents_of is not None:
                base_dir = base_dir / source.name
                _copy_entry(source, base_dir, options)
            _copy_tree(rootfs, source, base_dir, options)
        elif options.extract and _is_archive(source):
            _make_dirs(rootfs, target, options)
            extract_archive(rootfs, source, target)
        else:
            out = base_dir / source.name if (into_dir or options.parents_of is not None) else base_dir
            _make_dirs(rootfs, out.parent, options)
            _copy_entry(source, out, options)


def write_file(rootfs: Path, content: bytes, dest: Path, options: CopyOptions, mode: int = 0o644) -> None:
    """Write a file (a heredoc or a downloaded URL) at ``dest`` inside ``rootfs``."""
    _make_dirs(rootfs, dest.parent, options)
    if dest.is_dir() and not dest.is_symlink():
        raise InvalidArgument(f"cannot replace directory {dest.relative_to(rootfs)} with a file")
    dest.write_bytes(content)
    os.chmod(dest, options.mode if options.mode is not None else mode)
    uid, gid = options.owner or (0, 0)
    os.lchown(dest, uid, gid)


def _make_dirs(rootfs: Path, directory: Path, options: CopyOptions) -> None:
    missing: list[Path] = []
    current = directory
    while not current.exists() and current != rootfs:
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        path.mkdir(mode=0o755)
        os.chmod(path, 0o755)
        uid, gid = options.owner or (0, 0)
        os.lchown(path, uid, gid)


def _copy_entry(source: Path, out: Path, options: CopyOptions) -> None:
    st = source.lstat()
    if out.is_dir() and not out.is_symlink() and not stat.S_ISDIR(st.st_mode):
        shutil.rmtree(out)
    elif (out.is_symlink() or out.exists()) and not out.is_dir():
        out.unlink()
    if stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(source), out)
    elif stat.S_ISDIR(st.st_mode):
        out.mkdir(exist_ok=True)
    else:
        shutil.copyfile(source, out, follow_symlinks=False)
    uid, gid = options.owner or (0, 0)
    os.lchown(out, uid, gid)
    if not stat.S_ISLNK(st.st_mode):
        os.chmod(out, options.mode if options.mode is not None else stat.S_IMODE(st.st_mode))
        os.utime(out, ns=(st.st_atime_ns, st.st_mtime_ns))


def _copy_tree(rootfs: Path, source: Path, target: Path, options: CopyOptions, rel: str = "") -> None:
    for name in sorted(os.listdir(source)):
        child = source / name
        child_rel = f"{rel}/{name}" if rel else name
        if options.excluded(child_rel):
            continue
        out = target / name
        if out.is_symlink() and child.is_dir() and not child.is_symlink():
            out = resolve_in_root(rootfs, "/" + str(out.relative_to(rootfs)))
        _copy_entry(child, out, options)
        if child.is_dir() and not child.is_symlink():
            _copy_tree(rootfs, child, out, options, child_rel)
    st = source.stat()
    if target != rootfs and target.is_dir():
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))


def _is_archive(path: Path) -> bool:
    if not path.is_file():
        return False
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False


def extract_archive(rootfs: Path, archive: Path, target: Path) -> None:
    """Unpack ``archive`` into ``target``; every member's parent is resolved inside ``rootfs``."""
    with tarfile.open(archive, mode="r:*") as tar:
        for member in tar:
            name = posixpath.normpath(member.name.lstrip("/"))
            if name in (".", ""):
                continue
            if name == ".." or name.startswith("../"):
                raise InvalidArgument(f"invalid archive entry {member.name!r}: outside the destination")
            inner = "/" + str(target.relative_to(rootfs)) + "/" + posixpath.dirname(name)
            parent = resolve_in_root(rootfs, inner)
            parent.mkdir(parents=True, exist_ok=True)
            member.name = str((parent / posixpath.basename(name)).relative_to(rootfs))
            if member.islnk():
                link = "/" + str(target.relative_to(rootfs)) + "/" + member.linkname.lstrip("/")
                member.linkname = str(resolve_in_root(rootfs, link).relative_to(rootfs))
            tar.extract(member, rootfs, set_attrs=True, numeric_owner=True, filter="fully_trusted")

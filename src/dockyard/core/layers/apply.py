"""Layers: tar streams applied to directories, and directories compared back into changes.

A *layer* is a tar of the files one step added, changed or deleted. Deletions travel as OCI
*whiteouts*: ``.wh.<name>`` hides ``<name>`` of the layers below, ``.wh..wh..opq`` hides a whole
directory's lower contents. On disk, overlayfs spells the same thing as a character device 0/0 and
the ``trusted.overlay.opaque=y`` xattr. A snapshotter whose directories are full trees (the copy
snapshotter) applies a whiteout by deleting instead.

Extraction refuses every entry that would land outside the root: ``..`` components, hard links
to outside, and writes through a symbolic link. Everything here is blocking and pure (no
database, no services): callers run it in a worker thread.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import os
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import libarchive

from dockyard.core.ids import Digest
from dockyard.errors import InvalidArgument

log = logging.getLogger(__name__)

WHITEOUT_PREFIX = ".wh."
OPAQUE_WHITEOUT = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
_CHUNK = 1 << 20
# Magic numbers of the compressions a layer or an import may use (gzip, bzip2, xz, zstd).
_COMPRESSED_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd")


class Whiteouts(enum.Enum):
    """How to apply OCI whiteouts."""

    OVERLAY = "overlay"  # write overlayfs whiteouts into an upper directory
    DELETE = "delete"  # delete from a full tree (copy snapshotter)
    REFUSE = "refuse"  # not a layer (e.g. the members of a docker-archive): keep names as they are


@dataclass
class _Apply:
    root: Path
    whiteouts: Whiteouts
    refuse_absolute: bool
    is_root: bool = field(default_factory=lambda: os.geteuid() == 0)
    written: set[str] = field(default_factory=set)
    dir_times: list[tuple[Path, int]] = field(default_factory=list)
    size: int = 0


def is_compressed(path: Path) -> bool:
    with path.open("rb") as f:
        head = f.read(6)
    return any(head.startswith(magic) for magic in _COMPRESSED_MAGIC)


def normalize_layer(src: Path, dest: Path) -> Digest:
    """Write the uncompressed tar stream of ``src`` to ``dest``; return its DiffID.

    libarchive's ``raw`` format detects and undoes gzip, bzip2, xz or zstd; a plain tar is copied.
    """
    h = hashlib.sha256()
    with dest.open("wb") as out:
        if is_compressed(src):
            try:
                with libarchive.file_reader(str(src), format_name="raw") as archive:
                    for entry in archive:
                        for block in entry.get_blocks():
                            out.write(block)
                            h.update(block)
            except libarchive.ArchiveError as exc:
                raise InvalidArgument(f"archive/tar: invalid compressed stream: {exc}") from exc
        else:
            with src.open("rb") as f:
                while chunk := f.read(_CHUNK):
                    out.write(chunk)
                    h.update(chunk)
        out.flush()
        os.fsync(out.fileno())
    return Digest("sha256:" + h.hexdigest())


def apply_layer(tar_path: Path, root: Path, *, whiteouts: Whiteouts, refuse_absolute: bool = False) -> int:
    """Extract ``tar_path`` (any compression) into ``root``; return the bytes of file content written.

    Raises :class:`InvalidArgument` for an entry that escapes ``root``; what was written before
    stays, so callers extract into a directory they discard on failure.
    """
    state = _Apply(root=root, whiteouts=whiteouts, refuse_absolute=refuse_absolute)
    root.mkdir(parents=True, exist_ok=True)
    try:
        with libarchive.file_reader(str(tar_path)) as archive:
            for entry in archive:
                _apply_entry(state, entry)
    except libarchive.ArchiveError as exc:
        raise InvalidArgument(f"archive/tar: invalid tar header: {exc}") from exc
    # Directory times last: creating their children changed them.
    for directory, mtime in reversed(state.dir_times):
        os.utime(directory, (mtime, mtime), follow_symlinks=False)
    return state.size


def clean_member(name: str, *, refuse_absolute: bool) -> str:
    """The member path relative to the root, or :class:`InvalidArgument` when it escapes."""
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


def _safe_parent(state: _Apply, rel: str) -> Path:
    """Create the parent directories of ``rel`` under the root, refusing to pass a symlink."""
    current = state.root
    for part in rel.split("/")[:-1]:
        current = current / part
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            os.mkdir(current, 0o755)
            continue
        if stat.S_ISLNK(st.st_mode):
            raise InvalidArgument(f"invalid archive member {rel!r}: path escapes the root through a symlink")
        if not stat.S_ISDIR(st.st_mode):
            raise InvalidArgument(f"invalid archive member {rel!r}: parent is not a directory")
    return current


def _remove(path: Path) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _apply_entry(state: _Apply, entry: Any) -> None:
    rel = clean_member(entry.pathname, refuse_absolute=state.refuse_absolute)
    if not rel:
        return  # the root itself ("./"): keep the snapshot's own root directory
    base = rel.rsplit("/", 1)[-1]
    if state.whiteouts is not Whiteouts.REFUSE and base.startswith(WHITEOUT_PREFIX):
        _apply_whiteout(state, rel, base)
        return
    parent = _safe_parent(state, rel)
    target = parent / base
    state.written.add(rel)
    existing = lstat_or_none(target)
    if entry.isdir:
        if existing is not None and not stat.S_ISDIR(existing.st_mode):
            _remove(target)
            existing = None
        if existing is None:
            os.mkdir(target, 0o700)
        _set_metadata(state, target, entry)
        state.dir_times.append((target, int(entry.mtime or 0)))
        return
    if existing is not None:
        _remove(target)
    if entry.issym:
        os.symlink(entry.linkpath, target)
    elif entry.islnk:
        _hardlink(state, entry.linkpath, target)
        return  # a hard link shares its target's metadata
    elif entry.isreg:
        _write_file(state, target, entry)
    elif entry.ischr or entry.isblk:
        kind = stat.S_IFCHR if entry.ischr else stat.S_IFBLK
        os.mknod(target, kind | 0o600, os.makedev(entry.rdevmajor, entry.rdevminor))
    elif entry.isfifo:
        os.mkfifo(target, 0o600)
    else:
        log.warning("skipping unsupported archive member %s", rel)
        return
    _set_metadata(state, target, entry)


def lstat_or_none(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def _write_file(state: _Apply, target: Path, entry: Any) -> None:
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as f:
        for block in entry.get_blocks():
            f.write(block)
            state.size += len(block)


def _hardlink(state: _Apply, linkpath: str, target: Path) -> None:
    rel = clean_member(linkpath, refuse_absolute=False)
    if not rel:
        raise InvalidArgument(f"invalid hard link {linkpath!r}: target is the root")
    source = _safe_parent(state, rel) / rel.rsplit("/", 1)[-1]
    try:
        os.link(source, target, follow_symlinks=False)
    except FileNotFoundError as exc:
        raise InvalidArgument(f"invalid hard link {linkpath!r}: target does not exist") from exc


def _set_metadata(state: _Apply, target: Path, entry: Any) -> None:
    if state.is_root:
        os.chown(target, entry.uid, entry.gid, follow_symlinks=False)
    if not entry.issym:
        # chown clears setuid bits, so the mode comes after it.
        os.chmod(target, stat.S_IMODE(entry.mode))
    if not entry.isdir:
        mtime = int(entry.mtime or 0)
        os.utime(target, (mtime, mtime), follow_symlinks=False)


def _apply_whiteout(state: _Apply, rel: str, base: str) -> None:
    parent = _safe_parent(state, rel)
    if base == OPAQUE_WHITEOUT:
        if state.whiteouts is Whiteouts.OVERLAY:
            os.setxattr(parent, OPAQUE_XATTR, b"y")
        else:
            prefix = rel.rsplit("/", 1)[0] + "/" if "/" in rel else ""
            for child in list(parent.iterdir()):
                # Entries this very layer wrote before its opaque marker stay.
                if prefix + child.name not in state.written:
                    _remove(child)
        return
    hidden = parent / base[len(WHITEOUT_PREFIX):]
    _remove(hidden)
    if state.whiteouts is Whiteouts.OVERLAY:
        os.mknod(hidden, stat.S_IFCHR | 0o000, os.makedev(0, 0))

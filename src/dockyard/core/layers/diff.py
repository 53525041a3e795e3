"""Directories back into layers: the tar of what a container (or a build step) changed.

The inverse of :func:`dockyard.core.layers.apply.apply_layer`. From an overlay upper directory, a
character device 0/0 becomes the OCI whiteout ``.wh.<name>`` and a directory marked
``trusted.overlay.opaque=y`` is followed by ``.wh..wh..opq``. From a full tree (the copy
snapshotter) the changes are found by comparing with the parent, as ``docker diff`` does.
Blocking: callers run it in a worker thread.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from dockyard.core.layers.apply import OPAQUE_WHITEOUT, OPAQUE_XATTR, WHITEOUT_PREFIX
from dockyard.core.layers.changes import CHANGE_DELETED, changes
from dockyard.core.rootfs.root import Root, proc_path
from dockyard.core.rootfs.tree import Entry, TarWriter, pin, walk

_Owners = Callable[[int, int], tuple[int, int]] | None


@dataclass(frozen=True, slots=True)
class LayerTar:
    """A layer tar just written, and its DiffID, taken as it was written (no second read)."""

    path: Path
    diff_id: str


class _Hashing:
    """A file written through, its sha256 kept on the way."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self.sha256 = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        return self._out.write(data)

    def tell(self) -> int:
        return self._out.tell()


def write_layer(upper: Path, lowers: list[Path], dest: Path, *, full_tree: bool = False,
                owners: Callable[[int, int], tuple[int, int]] | None = None) -> LayerTar:
    """Write to ``dest`` an uncompressed layer tar of the changes in ``upper`` over ``lowers``
    (with ``owners`` mapping each entry's uid and gid: a remapped container's, shifted back).

    Entries are in a stable order with their own mtimes, so the same changes give the same bytes
    (and so the same DiffID, which keeps build cache keys stable). ``upper`` may belong to a
    running container (``commit --pause=false``): it is read by pinned descriptors
    (:mod:`dockyard.core.rootfs.tree`), so nothing it swaps in can bring a host file into the layer."""
    with dest.open("wb") as out:
        hashing = _Hashing(out)
        with tarfile.open(fileobj=hashing, mode="w", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
            writer = TarWriter(tar, owners, keep_xattrs=True)
            if full_tree:
                _write_compared(tar, writer, upper, lowers)
            else:
                _write_upper(tar, writer, upper)
        out.flush()
        os.fsync(out.fileno())
    return LayerTar(dest, "sha256:" + hashing.sha256.hexdigest())


def _write_upper(tar: tarfile.TarFile, writer: TarWriter, upper: Path) -> None:
    with Root.at(upper) as root:
        top = pin(root.fd, ".")
        assert top is not None
        try:
            for entry in walk(top):
                if not entry.rel:
                    continue
                parent, _, name = entry.rel.rpartition("/")
                if stat.S_ISCHR(entry.st.st_mode) and entry.st.st_rdev == 0:
                    tar.addfile(_whiteout_info(f"{parent}/{WHITEOUT_PREFIX}{name}".lstrip("/")))
                    continue
                writer.add(entry, entry.rel)
                if stat.S_ISDIR(entry.st.st_mode) and _is_opaque(entry):
                    tar.addfile(_whiteout_info(f"{entry.rel}/{OPAQUE_WHITEOUT}"))
        finally:
            os.close(top.fd)


def _write_compared(tar: tarfile.TarFile, writer: TarWriter, upper: Path, lowers: list[Path]) -> None:
    with Root.at(upper, through_symlinks=False) as root:
        for kind, path in changes(upper, lowers, full_tree=True):
            rel = Path(path.lstrip("/"))
            if kind == CHANGE_DELETED:
                parent = "" if rel.parent == Path(".") else f"{rel.parent}/"
                tar.addfile(_whiteout_info(f"{parent}{WHITEOUT_PREFIX}{rel.name}"))
                continue
            fd, name = root.parent(str(rel))
            try:
                entry = pin(fd, name, str(rel))
            finally:
                os.close(fd)
            if entry is not None:
                try:
                    writer.add(entry, str(rel))
                finally:
                    os.close(entry.fd)


def _is_opaque(entry: Entry) -> bool:
    try:
        return os.getxattr(proc_path(entry.fd), OPAQUE_XATTR) == b"y"
    except OSError:
        return False


def _whiteout_info(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.REGTYPE
    info.size = 0
    info.mode = 0o600
    return info

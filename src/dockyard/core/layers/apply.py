"""Layers: tar streams applied to directories.

A *layer* is a tar of the files one step added, changed or deleted. Deletions travel as OCI
*whiteouts*: ``.wh.<name>`` hides ``<name>`` of the layers below, ``.wh..wh..opq`` hides a whole
directory's lower contents. On disk, overlayfs spells the same thing as a character device 0/0 and
the ``trusted.overlay.opaque=y`` xattr. A snapshotter whose directories are full trees (the copy
snapshotter) applies a whiteout by deleting instead.

The unpacking itself is :mod:`dockyard.core.rootfs.unpack`: every entry placed through descriptors
of the root, never a host path. A layer may not write through a symlink at all (a layer tool never
needs to; following one inside the root is what a build context or ``docker cp`` does). Everything
here is blocking and pure (no database, no services): callers run it in a worker thread.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from dockyard.core.ids import Digest
from dockyard.core.rootfs.root import Root
from dockyard.core.rootfs.unpack import (
    OPAQUE_WHITEOUT,
    OPAQUE_XATTR,
    WHITEOUT_PREFIX,
    UnpackOptions,
    Whiteouts,
    clean_member,
    refusal,
    unpack,
)
from dockyard.errors import InvalidArgument

__all__ = ["OPAQUE_WHITEOUT", "OPAQUE_XATTR", "WHITEOUT_PREFIX", "Whiteouts", "apply_layer",
           "clean_member", "is_compressed", "normalize_layer"]

_CHUNK = 1 << 20
# Magic numbers of the compressions a layer or an import may use (gzip, bzip2, xz, zstd).
_COMPRESSED_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd")


def is_compressed(path: Path) -> bool:
    with path.open("rb") as f:
        head = f.read(6)
    return any(head.startswith(magic) for magic in _COMPRESSED_MAGIC)


def normalize_layer(src: Path, dest: Path, limit: int | None = None) -> Digest:
    """Write the uncompressed tar stream of ``src`` to ``dest``; return its DiffID.

    libarchive's ``raw`` format detects and undoes gzip, bzip2, xz or zstd; a plain tar is copied.
    More than ``limit`` bytes uncompressed is refused before the disk fills (a decompression bomb).
    """
    try:
        return _normalize(src, dest, limit)
    except OSError as exc:
        raise refusal(exc) from exc  # a full disk: the caller discards ``dest``


def _normalize(src: Path, dest: Path, limit: int | None) -> Digest:
    import libarchive  # on first use: ~2 MB the daemon need not hold until it unpacks

    h = hashlib.sha256()
    written = 0
    with dest.open("wb") as out:
        if is_compressed(src):
            try:
                with libarchive.file_reader(str(src), format_name="raw") as archive:
                    for entry in archive:
                        for block in entry.get_blocks():
                            written += len(block)
                            if limit is not None and written > limit:
                                raise InvalidArgument(
                                    f"layer too large: more than {limit} bytes uncompressed "
                                    "(the daemon's max-unpack-size)")
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


def apply_layer(tar_path: Path, root: Path, *, whiteouts: Whiteouts, refuse_absolute: bool = False,
                limit: int | None = None) -> int:
    """Extract ``tar_path`` (any compression) into ``root``; return the bytes of file content written.

    Raises :class:`InvalidArgument` for an entry that escapes ``root``, a bad whiteout, more than
    ``limit`` bytes or a full disk; what was written before stays, so callers extract into a
    directory they discard on failure.
    """
    root.mkdir(parents=True, exist_ok=True)
    with Root.at(root, through_symlinks=False) as tree:
        return unpack(tar_path, tree, UnpackOptions(whiteouts=whiteouts, refuse_absolute=refuse_absolute,
                                                    limit=limit))


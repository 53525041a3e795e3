"""Bringing layers in: tar -> content blob (its DiffID) -> committed snapshot (its ChainID).

Every step registers its undo on the caller's :class:`contextlib.ExitStack`; the caller pops them
all once the image record is committed, so a failed import or load leaves the store as it was.
Blocking: called from a worker thread.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from dockyard.core.content import ContentStore
from dockyard.core.ids import ChainId, Digest, chain_ids
from dockyard.core.images.store import LAYER_MEDIA_TYPE, ImageStore, LayerRecord
from dockyard.core.layers.apply import Whiteouts, apply_layer, is_compressed, normalize_layer
from dockyard.core.layers.snapshots import Snapshotter
from dockyard.core.rootfs.unpack import refusal
from dockyard.errors import InvalidArgument

log = logging.getLogger(__name__)


class Unpacker:
    def __init__(self, *, content: ContentStore, snapshotter: Snapshotter, store: ImageStore,
                 limit: int | None = None) -> None:
        self._limit = limit  # uncompressed bytes per layer (daemon.json max-unpack-size)
        self._content = content
        self._snapshotter = snapshotter
        self._store = store

    def ingest(self, src: Path, undo: ExitStack, expected: str | None = None, *,
               consume: bool = False, known: str | None = None) -> Digest:
        """Store the uncompressed tar of ``src`` as a blob; its digest is the layer's DiffID.
        With ``consume``, an uncompressed ``src`` is moved into the store (one hashing pass, no
        copy): for temporary tars the caller would delete anyway; ``known`` is the sha256 the daemon
        itself took of such a tar while writing it (no hashing pass then)."""
        if consume and not is_compressed(src):
            return self._ingest_plain(src, undo, expected, known)
        fd, tmp_name = tempfile.mkstemp(dir=self._content.ingest_dir, prefix="layer-")
        tmp = Path(tmp_name)
        os.close(fd)
        try:
            diff_id = normalize_layer(src, tmp, self._limit)
            if expected is not None and diff_id != expected:
                raise InvalidArgument(
                    f"invalid diffID for layer: expected {expected!r}, got {diff_id!r}")
            existed = self._content.exists(diff_id)
            self._content.ingest_file(tmp, diff_id)
        finally:
            tmp.unlink(missing_ok=True)
        if not existed:
            undo.callback(self._delete_blob_if_unused, diff_id)
        return diff_id

    def _ingest_plain(self, src: Path, undo: ExitStack, expected: str | None, known: str | None) -> Digest:
        if self._limit is not None and src.stat().st_size > self._limit:
            raise InvalidArgument(f"layer too large: more than {self._limit} bytes uncompressed "
                                  "(the daemon's max-unpack-size)")
        try:
            diff_id = self._content.ingest_file(src, None, known=known)
        except OSError as exc:
            raise refusal(exc) from exc
        if expected is not None and diff_id != expected:
            raise InvalidArgument(f"invalid diffID for layer: expected {expected!r}, got {diff_id!r}")
        undo.callback(self._delete_blob_if_unused, diff_id)
        return diff_id

    def _delete_blob_if_unused(self, digest: Digest) -> None:
        if digest not in self._store.referenced_blobs():
            self._content.delete(digest)

    def has_snapshot(self, chain_id: ChainId) -> bool:
        return self._snapshotter.exists(chain_id)

    def delete_blob_if_unused(self, digest: Digest) -> None:
        self._delete_blob_if_unused(digest)

    def unpack(self, diff_ids: list[Digest], undo: ExitStack, keys: list[str], *,
               blobs: dict[Digest, tuple[Digest, str]] | None = None,
               done: Callable[[Digest], None] | None = None,
               adopt: tuple[Digest, str] | None = None) -> list[LayerRecord]:
        """Make sure a committed snapshot exists for every layer prefix; return the layer records.

        The keys of the ``unpacks`` rows written are appended to ``keys``: the caller deletes them
        in the transaction that records the image. ``blobs`` maps a DiffID to the (compressed) blob
        a pull stored and its media type; other layers are the uncompressed blob named by their
        DiffID. ``done`` is told of each layer unpacked. ``adopt`` is (DiffID, active snapshot key)
        of a top layer whose files already lie in that snapshot, prepared on the layer below (a
        build step's): it is committed as it is instead of unpacking the tar again.
        """
        records: list[LayerRecord] = []
        parent: ChainId | None = None
        for diff_id, chain_id in zip(diff_ids, chain_ids(list(diff_ids)), strict=True):
            known = self._store.layer(chain_id)
            if known is not None and self._snapshotter.exists(chain_id):
                records.append(known)
            elif adopt is not None and adopt[0] == diff_id and diff_id == diff_ids[-1]:
                size = self._adopt(adopt[1], chain_id, undo)
                records.append(LayerRecord(chain_id, diff_id, diff_id, size, LAYER_MEDIA_TYPE))
            else:
                blob, media_type = (blobs or {}).get(diff_id, (diff_id, LAYER_MEDIA_TYPE))
                size = self._unpack_one(blob, chain_id, parent, undo, keys)
                records.append(LayerRecord(chain_id, diff_id, blob, size, media_type))
            if done is not None:
                done(diff_id)
            parent = chain_id
        return records

    def _unpack_one(self, blob: Digest, chain_id: ChainId, parent: ChainId | None,
                    undo: ExitStack, keys: list[str]) -> int:
        key = f"unpack-{secrets.token_hex(8)}"
        # Recorded first: after a crash, open() finds the row and removes what it names.
        self._store.begin_unpack(key, chain_id)
        undo.callback(self._store.end_unpack, key)
        keys.append(key)
        existed = self._snapshotter.exists(chain_id)
        try:
            mounts = self._snapshotter.prepare(key, parent)
            # An overlay upper holds only this layer's files: deletions become overlay
            # whiteouts. Any other snapshotter hands out a full tree: deletions delete.
            mode = Whiteouts.OVERLAY if mounts and mounts[0].type == "overlay" else Whiteouts.DELETE
            size = apply_layer(self._content.path(blob), self._snapshotter.upper_dir(key), whiteouts=mode,
                               limit=self._limit)
            self._snapshotter.commit(chain_id, key)
        except BaseException:
            self._snapshotter.remove(key)
            raise
        if not existed:
            undo.callback(self._remove_snapshot_if_unused, chain_id)
        log.debug("unpacked layer %s as %s (%d bytes)", blob, chain_id, size)
        return size

    def _adopt(self, key: str, chain_id: ChainId, undo: ExitStack) -> int:
        """Commit active ``key`` as ``chain_id``: a rename, where unpacking would copy every byte."""
        existed = self._snapshotter.exists(chain_id)
        size = _content_bytes(self._snapshotter.upper_dir(key))
        self._snapshotter.commit(chain_id, key)
        if not existed:
            undo.callback(self._remove_snapshot_if_unused, chain_id)
        log.debug("adopted snapshot %s as %s (%d bytes)", key, chain_id, size)
        return size

    def _remove_snapshot_if_unused(self, chain_id: ChainId) -> None:
        if chain_id not in self._store.referenced_chain_ids():
            self._snapshotter.remove(chain_id)


def _content_bytes(root: Path) -> int:
    """Bytes of regular files under ``root``, each inode once (as a layer's unpacked size)."""
    seen: set[int] = set()
    total = 0
    for directory, _dirs, files in os.walk(root):
        for name in files:
            try:
                st = os.lstat(os.path.join(directory, name))
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode) and st.st_ino not in seen:
                seen.add(st.st_ino)
                total += st.st_size
    return total

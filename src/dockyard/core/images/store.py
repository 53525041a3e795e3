"""Image records in SQLite: images, references (tags and repo digests), layers, unpacks.

Tables (owned by the image service):

- ``images``: one row per image; ``id`` is the config digest, ``config`` the config bytes as stored
  (also a blob in the content store), ``chain_ids`` a JSON list, bottom layer first.
- ``image_refs``: normalised reference -> image id. A tag (``docker.io/library/busybox:latest``)
  or a repo digest (``docker.io/library/busybox@sha256:…``).
- ``layers``: chain id -> diff id, the blob holding the uncompressed tar, its media type and the
  unpacked size. A layer row exists only while an image uses it.
- ``unpacks``: active snapshots being filled; a row left after a crash names what to clean up.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

from dockyard.core.ids import ChainId, Digest, ImageId
from dockyard.core.images.model import Image
from dockyard.core.metadata import Metadata
from dockyard.core.timestamps import now_rfc3339

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS images (
        id TEXT PRIMARY KEY, config TEXT NOT NULL, chain_ids TEXT NOT NULL, size INTEGER NOT NULL,
        manifest TEXT, last_tag_time TEXT, added TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS image_refs (
        ref TEXT PRIMARY KEY, image_id TEXT NOT NULL REFERENCES images(id))""",
    "CREATE INDEX IF NOT EXISTS image_refs_by_image ON image_refs(image_id)",
    """CREATE TABLE IF NOT EXISTS layers (
        chain_id TEXT PRIMARY KEY, diff_id TEXT NOT NULL, blob TEXT NOT NULL,
        media_type TEXT NOT NULL, size INTEGER NOT NULL)""",
    "CREATE TABLE IF NOT EXISTS unpacks (key TEXT PRIMARY KEY, chain_id TEXT NOT NULL)",
)

LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar"


@dataclass(frozen=True, slots=True)
class LayerRecord:
    """An unpacked layer: its *ChainID*, *DiffID*, the content blob of its tar and sizes."""

    chain_id: ChainId
    diff_id: Digest
    blob: Digest
    size: int
    media_type: str = LAYER_MEDIA_TYPE


class ImageStore:
    """Queries and changes of the image tables; multi-step changes take a transaction."""

    def __init__(self, db: Metadata) -> None:
        self._db = db

    def ensure_schema(self) -> None:
        self._db.ensure_schema(SCHEMA)

    # ---- reading ----
    def _image(self, row: sqlite3.Row) -> Image:
        config = json.loads(row["config"])
        refs = [r["ref"] for r in self._db.query(
            "SELECT ref FROM image_refs WHERE image_id = ? ORDER BY ref", (row["id"],))]
        return Image(
            id=ImageId(row["id"]),
            config=config,
            chain_ids=tuple(ChainId(c) for c in json.loads(row["chain_ids"])),
            repo_tags=tuple(r for r in refs if "@" not in r),
            repo_digests=tuple(r for r in refs if "@" in r),
            created=str(config.get("created") or row["added"]),
            size=int(row["size"]),
        )

    def get(self, image_id: str) -> Image | None:
        row = self._db.query_one("SELECT * FROM images WHERE id = ?", (image_id,))
        return self._image(row) if row is not None else None

    def all(self) -> list[Image]:
        return [self._image(r) for r in self._db.query("SELECT * FROM images ORDER BY added DESC")]

    def count(self) -> int:
        row = self._db.query_one("SELECT COUNT(*) AS n FROM images")
        return int(row["n"]) if row is not None else 0

    def ids_with_prefix(self, hex_prefix: str) -> list[ImageId]:
        like = "sha256:" + hex_prefix.replace("%", "").replace("_", "") + "%"
        return [ImageId(r["id"]) for r in self._db.query("SELECT id FROM images WHERE id LIKE ?", (like,))]

    def image_of_ref(self, ref: str) -> ImageId | None:
        row = self._db.query_one("SELECT image_id FROM image_refs WHERE ref = ?", (ref,))
        return ImageId(row["image_id"]) if row is not None else None

    def refs_of(self, image_id: str) -> list[str]:
        return [r["ref"] for r in self._db.query(
            "SELECT ref FROM image_refs WHERE image_id = ? ORDER BY ref", (image_id,))]

    def last_tag_time(self, image_id: str) -> str | None:
        row = self._db.query_one("SELECT last_tag_time FROM images WHERE id = ?", (image_id,))
        return str(row["last_tag_time"]) if row is not None and row["last_tag_time"] else None

    def manifest_of(self, image_id: str) -> str | None:
        row = self._db.query_one("SELECT manifest FROM images WHERE id = ?", (image_id,))
        return str(row["manifest"]) if row is not None and row["manifest"] else None

    def layer(self, chain_id: str) -> LayerRecord | None:
        row = self._db.query_one("SELECT * FROM layers WHERE chain_id = ?", (chain_id,))
        if row is None:
            return None
        return LayerRecord(ChainId(row["chain_id"]), Digest(row["diff_id"]), Digest(row["blob"]),
                           int(row["size"]), str(row["media_type"]))

    def referenced_chain_ids(self) -> set[str]:
        used: set[str] = set()
        for row in self._db.query("SELECT chain_ids FROM images"):
            used.update(json.loads(row["chain_ids"]))
        return used

    def referenced_blobs(self) -> set[str]:
        blobs = {r["id"] for r in self._db.query("SELECT id FROM images")}
        blobs.update(r["manifest"] for r in self._db.query(
            "SELECT manifest FROM images WHERE manifest IS NOT NULL"))
        blobs.update(r["blob"] for r in self._db.query("SELECT blob FROM layers"))
        return blobs

    def unpacks(self) -> list[tuple[str, str]]:
        return [(r["key"], r["chain_id"]) for r in self._db.query("SELECT key, chain_id FROM unpacks")]

    # ---- changing ----
    def begin_unpack(self, key: str, chain_id: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO unpacks (key, chain_id) VALUES (?, ?)", (key, chain_id))

    def end_unpack(self, key: str) -> None:
        self._db.execute("DELETE FROM unpacks WHERE key = ?", (key,))

    def add_image(self, image_id: str, config_bytes: bytes, layers: Iterable[LayerRecord],
                  refs: Iterable[str], *, manifest: str | None = None,
                  unpack_keys: Iterable[str] = ()) -> list[str]:
        """Record an image, its layers and references in one transaction.

        Returns the references that moved here from another image (those images may now be
        dangling). An image already present keeps its row; only references are added.
        """
        layers = list(layers)
        moved: list[str] = []
        now = now_rfc3339()
        with self._db.transaction() as tx:
            for layer in layers:
                tx.execute("INSERT OR IGNORE INTO layers (chain_id, diff_id, blob, media_type, size)"
                           " VALUES (?, ?, ?, ?, ?)", (layer.chain_id, layer.diff_id, layer.blob,
                                                      layer.media_type, layer.size))
            tx.execute("INSERT OR IGNORE INTO images (id, config, chain_ids, size, manifest, added)"
                       " VALUES (?, ?, ?, ?, ?, ?)",
                       (image_id, config_bytes.decode(), json.dumps([la.chain_id for la in layers]),
                        sum(la.size for la in layers), manifest, now))
            for ref in refs:
                moved += self._set_ref(tx, ref, image_id, now)
            for key in unpack_keys:
                tx.execute("DELETE FROM unpacks WHERE key = ?", (key,))
        return moved

    def _set_ref(self, tx: sqlite3.Connection, ref: str, image_id: str, now: str) -> list[str]:
        row = tx.execute("SELECT image_id FROM image_refs WHERE ref = ?", (ref,)).fetchone()
        tx.execute("INSERT OR REPLACE INTO image_refs (ref, image_id) VALUES (?, ?)", (ref, image_id))
        if "@" not in ref:
            tx.execute("UPDATE images SET last_tag_time = ? WHERE id = ?", (now, image_id))
        if row is not None and row["image_id"] != image_id:
            return [ref]
        return []

    def set_ref(self, ref: str, image_id: str) -> None:
        with self._db.transaction() as tx:
            self._set_ref(tx, ref, image_id, now_rfc3339())

    def delete_ref(self, ref: str) -> None:
        self._db.execute("DELETE FROM image_refs WHERE ref = ?", (ref,))

    def delete_image(self, image_id: str) -> list[LayerRecord]:
        """Delete the image row and its references; return the layers no other image uses."""
        with self._db.transaction() as tx:
            row = tx.execute("SELECT chain_ids FROM images WHERE id = ?", (image_id,)).fetchone()
            if row is None:
                return []
            tx.execute("DELETE FROM image_refs WHERE image_id = ?", (image_id,))
            tx.execute("DELETE FROM images WHERE id = ?", (image_id,))
            used: set[str] = set()
            for other in tx.execute("SELECT chain_ids FROM images").fetchall():
                used.update(json.loads(other["chain_ids"]))
            freed: list[LayerRecord] = []
            for chain_id in reversed(json.loads(row["chain_ids"])):
                if chain_id in used:
                    continue
                layer = tx.execute("SELECT * FROM layers WHERE chain_id = ?", (chain_id,)).fetchone()
                if layer is not None:
                    freed.append(LayerRecord(ChainId(layer["chain_id"]), Digest(layer["diff_id"]),
                                             Digest(layer["blob"]), int(layer["size"])))
                    tx.execute("DELETE FROM layers WHERE chain_id = ?", (chain_id,))
        return freed

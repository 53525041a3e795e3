"""Image records in SQLite: images, references (tags and repo digests), layers, unpacks.

Tables (owned by the image service):

- ``images``: one row per image; ``id`` is the config digest, ``config`` the config bytes as stored
  (also a blob in the content store), ``chain_ids`` a JSON list, bottom layer first.
- ``image_refs``: normalised reference -> image id. A tag (``docker.io/library/busybox:latest``)
  or a repo digest (``docker.io/library/busybox@sha256:…``).
- ``layers``: chain id -> diff id, the blob holding the uncompressed tar, its media type and the
  unpacked size. A layer row exists only while an image uses it.
- ``unpacks``: active snapshots being filled; a row left after a crash names what to clean up.

``images.delta_of`` names the image whose config ``config`` is a delta against (core/images/delta.py):
a build step's config is stored as what it adds, and such an image has no config blob; a full config
is read back with :meth:`ImageStore.config_bytes`. Deleting an image rebases the deltas made on it.

``images.parent`` is the image this one was built on and ``history_key``/``history_len`` what finds
it (core/images/lineage.py); they are filled when an image is added, and by :meth:`ensure_schema`
for rows of a store made before the columns existed.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from dockyard.core.ids import ChainId, Digest, ImageId
from dockyard.core.images import delta, lineage
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

# Added after the first release: ALTERed into existing stores, then indexed.
LINEAGE_COLUMNS = (("history_key", "TEXT"), ("history_len", "INTEGER"), ("parent", "TEXT"),
                   ("delta_of", "TEXT"))
LINEAGE_INDEXES = (
    "CREATE INDEX IF NOT EXISTS images_by_delta_of ON images(delta_of)",
    "CREATE INDEX IF NOT EXISTS images_by_history_key ON images(history_key)",
    "CREATE INDEX IF NOT EXISTS images_by_parent ON images(parent)",
)
# SQLite's default limit of bound parameters is 999 on old builds: look prefixes up in batches.
_BATCH = 500
# Full configs of delta images lately read: a build reads each step's parent right after making it,
# so a short memory makes each read one patch instead of a walk down to the base image.
_MEMORY = 16

LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar"

# An image and its parents, nearest first, through the parent index. A parent's history is strictly
# shorter than its child's, which also ends the walk should the index ever hold a cycle.
_ANCESTORS = (
    "WITH RECURSIVE up(id, parent, history_len, depth) AS ("
    " SELECT id, parent, COALESCE(history_len, 0), 0 FROM images WHERE id = ?"
    " UNION ALL SELECT i.id, i.parent, COALESCE(i.history_len, 0), up.depth + 1"
    " FROM images i JOIN up ON i.id = up.parent WHERE COALESCE(i.history_len, 0) < up.history_len)")


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
        self._memory: OrderedDict[str, str] = OrderedDict()
        self._memory_lock = threading.Lock()

    def ensure_schema(self) -> None:
        self._db.ensure_schema(SCHEMA)
        with self._db.transaction() as tx:
            have = {r["name"] for r in tx.execute("PRAGMA table_info(images)").fetchall()}
            for name, kind in LINEAGE_COLUMNS:
                if name not in have:
                    tx.execute(f"ALTER TABLE images ADD COLUMN {name} {kind}")
            for statement in LINEAGE_INDEXES:
                tx.execute(statement)
            self._index_lineage(tx)

    def _index_lineage(self, tx: sqlite3.Connection) -> None:
        """Fill the lineage columns of rows that predate them: keys first (one config in memory at a
        time), then each row's parent through the index, as :meth:`add_image` does."""
        todo = [r["id"] for r in tx.execute("SELECT id FROM images WHERE history_len IS NULL").fetchall()]
        for image_id in todo:
            config = self._config(image_id)
            keys = lineage.prefix_keys(config)
            tx.execute("UPDATE images SET history_key = ?, history_len = ? WHERE id = ?",
                       (keys[-1] if keys else None, len(keys), image_id))
        for image_id in todo:
            row = tx.execute("SELECT chain_ids FROM images WHERE id = ?", (image_id,)).fetchone()
            parent = self._find_parent(tx, image_id, self._config(image_id), json.loads(row["chain_ids"]))
            tx.execute("UPDATE images SET parent = ? WHERE id = ?", (parent, image_id))

    # ---- configs stored as deltas ----
    def config_bytes(self, image_id: str) -> bytes:
        """The image config's bytes, whose digest is the image ID (a delta is applied)."""
        row = self._db.query_one("SELECT config, delta_of FROM images WHERE id = ?", (image_id,))
        if row is None:
            raise KeyError(image_id)
        if row["delta_of"] is None:
            return str(row["config"]).encode()
        return self._full_text(image_id).encode()

    def _config(self, image_id: str) -> dict[str, Any]:
        return dict(json.loads(self.config_bytes(image_id)))

    def _full_text(self, image_id: str) -> str:
        """Walk the deltas down to a full config (or one remembered), then patch back up."""
        patches: list[tuple[str, str]] = []
        current: str | None = image_id
        base: str | None = None
        while current is not None:
            with self._memory_lock:
                base = self._memory.get(current)
            if base is not None:
                break
            row = self._db.query_one("SELECT config, delta_of FROM images WHERE id = ?", (current,))
            if row is None:
                raise KeyError(f"config of {image_id}: {current} is missing")
            if row["delta_of"] is None:
                base = str(row["config"])
                break
            patches.append((current, str(row["config"])))
            current = str(row["delta_of"])
        assert base is not None
        if not patches:
            return base
        # Patched as one parsed config, encoded once: a text per step would make reading a deep
        # step's config grow with the square of its depth (6 s at 2,000 steps).
        config = json.loads(base)
        for _, patch in reversed(patches):
            config = delta.apply(config, json.loads(patch))
        text = delta.encode(config).decode()
        self._remember(image_id, text)
        return text

    def _remember(self, image_id: str, text: str) -> None:
        with self._memory_lock:
            self._memory[image_id] = text
            self._memory.move_to_end(image_id)
            while len(self._memory) > _MEMORY:
                self._memory.popitem(last=False)

    def _listed_configs(self, rows: list[sqlite3.Row]) -> dict[str, dict[str, Any]]:
        """Every row's config without history, each delta applied once to its parent's: parents
        first, and a parent's config kept only until its last delta child is made."""
        by_id = {str(r["id"]): r for r in rows}
        children: dict[str, list[str]] = {}
        for r in rows:
            if r["delta_of"] is not None:
                children.setdefault(str(r["delta_of"]), []).append(str(r["id"]))
        out: dict[str, dict[str, Any]] = {}
        for r in rows:
            if r["delta_of"] is not None and str(r["delta_of"]) in by_id:
                continue  # made from its parent below
            config = json.loads(r["config"]) if r["delta_of"] is None else self._config(str(r["id"]))
            config.pop("history", None)
            out[str(r["id"])] = config
            todo = [str(r["id"])]
            while todo:
                parent_id = todo.pop()
                for child_id in children.get(parent_id, ()):
                    patch = delta.without_history(json.loads(by_id[child_id]["config"]))
                    out[child_id] = delta.apply(json.loads(json.dumps(out[parent_id])), patch)
                    todo.append(child_id)
        return out

    # ---- reading ----
    def _image(self, row: sqlite3.Row, *, history: bool = True,
               config: dict[str, Any] | None = None) -> Image:
        if config is None:
            config = json.loads(row["config"]) if row["delta_of"] is None else self._config(row["id"])
        if not history:
            config.pop("history", None)
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

    def exists(self, image_id: str) -> bool:
        return self._db.query_one("SELECT 1 FROM images WHERE id = ?", (image_id,)) is not None

    def get(self, image_id: str, *, parsed: dict[str, Any] | None = None) -> Image | None:
        """The image; ``parsed`` its config when the caller just made it (not read back)."""
        row = self._db.query_one("SELECT * FROM images WHERE id = ?", (image_id,))
        return self._image(row, config=parsed) if row is not None else None

    def all(self) -> list[Image]:
        """Every image, for listing and pruning, without its history: a long build's images repeat
        all earlier steps' entries each, so the histories of all images together grow with the square
        of the steps (one image at a time, with history, is :meth:`get`)."""
        rows = self._db.query("SELECT * FROM images ORDER BY added DESC")
        configs = self._listed_configs(rows)
        return [self._image(r, history=False, config=configs[str(r["id"])]) for r in rows]

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

    def repo_digests_with_chains(self) -> list[tuple[str, list[str]]]:
        """Every repo digest reference with the chain IDs of its image, without reading configs."""
        return [(str(r["ref"]), json.loads(r["chain_ids"])) for r in self._db.query(
            "SELECT r.ref, i.chain_ids FROM image_refs r JOIN images i ON r.image_id = i.id"
            " WHERE r.ref LIKE '%@%' ORDER BY r.ref")]

    def parent_of(self, image_id: str) -> ImageId | None:
        """The image ``image_id`` was built on; None for a base image."""
        row = self._db.query_one("SELECT parent FROM images WHERE id = ?", (image_id,))
        return ImageId(row["parent"]) if row is not None and row["parent"] else None

    def ancestors(self, image_id: str) -> list[tuple[ImageId, int, list[str]]]:
        """(ID, history length, references) of each image below ``image_id`` on its parent chain,
        nearest first, from the parent index in two queries: no config is read, so a 2,000-step
        build's chain costs what its rows do."""
        chain = self._db.query(_ANCESTORS + " SELECT id, history_len FROM up WHERE depth > 0 ORDER BY depth",
                               (image_id,))
        refs: dict[str, list[str]] = {}
        for row in self._db.query(_ANCESTORS + " SELECT r.image_id, r.ref FROM image_refs r"
                                  " JOIN up ON r.image_id = up.id WHERE up.depth > 0 ORDER BY r.ref",
                                  (image_id,)):
            refs.setdefault(str(row["image_id"]), []).append(str(row["ref"]))
        return [(ImageId(r["id"]), int(r["history_len"]), refs.get(str(r["id"]), [])) for r in chain]

    def children_of(self, image_id: str) -> list[ImageId]:
        rows = self._db.query("SELECT id FROM images WHERE parent = ?", (image_id,))
        return [ImageId(r["id"]) for r in rows]

    def parent_ids(self) -> set[str]:
        """The IDs of the images another image was built on."""
        return {r["parent"] for r in self._db.query(
            "SELECT DISTINCT parent FROM images WHERE parent IS NOT NULL")}

    def unpacks(self) -> list[tuple[str, str]]:
        return [(r["key"], r["chain_id"]) for r in self._db.query("SELECT key, chain_id FROM unpacks")]

    # ---- changing ----
    def begin_unpack(self, key: str, chain_id: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO unpacks (key, chain_id) VALUES (?, ?)", (key, chain_id))

    def end_unpack(self, key: str) -> None:
        self._db.execute("DELETE FROM unpacks WHERE key = ?", (key,))

    def add_image(self, image_id: str, config_bytes: bytes, layers: Iterable[LayerRecord],
                  refs: Iterable[str], *, manifest: str | None = None,
                  unpack_keys: Iterable[str] = (), parent: str | None = None,
                  delta_text: str | None = None, parsed: dict[str, Any] | None = None) -> list[str]:
        """Record an image, its layers and references in one transaction.

        ``parent`` is the image a commit extended (a hint: it saves hashing a deep history);
        ``delta_text`` the config as a delta against it (:func:`delta.make`), stored instead of the
        full config; ``parsed`` the config already parsed, when the caller has it.
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
            chain_ids: list[str] = [la.chain_id for la in layers]
            delta_of = parent if delta_text is not None and parent is not None and tx.execute(
                "SELECT 1 FROM images WHERE id = ?", (parent,)).fetchone() else None
            added = tx.execute("INSERT OR IGNORE INTO images (id, config, chain_ids, size, manifest, added,"
                               " delta_of) VALUES (?, ?, ?, ?, ?, ?, ?)",
                               (image_id, delta_text if delta_of else config_bytes.decode(),
                                json.dumps(chain_ids), sum(la.size for la in layers), manifest, now,
                                delta_of)).rowcount
            if added and delta_of:
                self._remember(image_id, config_bytes.decode())
            if added:
                self._link(tx, image_id, parsed if parsed is not None else json.loads(config_bytes),
                           chain_ids, parent)
            for ref in refs:
                moved += self._set_ref(tx, ref, image_id, now)
            for key in unpack_keys:
                tx.execute("DELETE FROM unpacks WHERE key = ?", (key,))
        return moved

    def _find_parent(self, tx: sqlite3.Connection, image_id: str, config: dict[str, Any],
                     chain_ids: list[str]) -> str | None:
        """The image whose history is the longest strict prefix of this one's and whose layers are
        this one's lowest: an indexed lookup of the prefix keys, longest first."""
        keys = lineage.prefix_keys(config)[:-1]
        best: tuple[int, str] | None = None
        for start in range(0, len(keys), _BATCH):
            batch = keys[start:start + _BATCH]
            marks = ",".join("?" * len(batch))
            rows = tx.execute(f"SELECT id, chain_ids, history_len FROM images WHERE history_key IN ({marks})"
                              " AND id != ?", (*batch, image_id)).fetchall()
            for row in rows:
                if lineage.extends(chain_ids, json.loads(row["chain_ids"])) and (
                        best is None or row["history_len"] > best[0]):
                    best = (int(row["history_len"]), str(row["id"]))
        return best[1] if best is not None else None

    def _lineage_from_hint(self, tx: sqlite3.Connection, config: dict[str, Any], chain_ids: list[str],
                           hint: str | None) -> tuple[str, int, str] | None:
        """(key, length, parent) from the image a commit says it extends by one history entry, without
        rehashing the whole history; None when there is no such hint or it does not fit."""
        row = tx.execute("SELECT history_key, history_len, chain_ids FROM images WHERE id = ?",
                         (hint,)).fetchone() if hint else None
        length = len(config.get("history") or [])
        if (row is None or not row["history_key"] or row["history_len"] != length - 1
                or not lineage.extends(chain_ids, json.loads(row["chain_ids"]))):
            return None
        assert hint is not None
        return lineage.extend_key(row["history_key"], config, length - 1), length, hint

    def _link(self, tx: sqlite3.Connection, image_id: str, config: dict[str, Any],
              chain_ids: list[str], hint: str | None = None) -> None:
        """Index a new image: its keys and parent, and adopt the parent's children it now sits under
        (an image loaded after its own descendants, e.g. a base saved and loaded separately)."""
        hinted = self._lineage_from_hint(tx, config, chain_ids, hint)
        parent: str | None
        if hinted is not None:
            key, length, parent = hinted
        else:
            keys = lineage.prefix_keys(config)
            key, length = (keys[-1] if keys else ""), len(keys)
            parent = self._find_parent(tx, image_id, config, chain_ids)
        tx.execute("UPDATE images SET history_key = ?, history_len = ?, parent = ? WHERE id = ?",
                   (key or None, length, parent, image_id))
        if not length:
            return
        prefix = json.dumps(chain_ids)[:-1]  # '["a", "b"' matches '["a", "b", "c"]' and '["a", "b"]'
        pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        siblings = tx.execute(
            "SELECT id, chain_ids FROM images WHERE parent IS ? AND id != ? AND history_len > ?"
            " AND chain_ids LIKE ? ESCAPE '\\'", (parent, image_id, length, pattern)).fetchall()
        for row in siblings:
            if not lineage.extends(json.loads(row["chain_ids"]), chain_ids):
                continue
            if lineage.prefix_keys(self._config(row["id"]))[length - 1] == key:
                tx.execute("UPDATE images SET parent = ? WHERE id = ?", (image_id, row["id"]))

    def _rebase_deltas(self, tx: sqlite3.Connection, image_id: str, delta_of: str | None) -> None:
        """Before ``image_id`` goes: the deltas made on it become deltas on its own base (or full
        configs when it had none), so every config still reads back to the same bytes."""
        for child in tx.execute("SELECT id FROM images WHERE delta_of = ?", (image_id,)).fetchall():
            full = self.config_bytes(child["id"])
            text = (delta.make(self._config(delta_of), json.loads(full), full)
                    if delta_of is not None else None)
            tx.execute("UPDATE images SET config = ?, delta_of = ? WHERE id = ?",
                       (text if text is not None else full.decode(), delta_of if text is not None else None,
                        child["id"]))
        with self._memory_lock:
            self._memory.pop(image_id, None)

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
            row = tx.execute("SELECT chain_ids, parent, delta_of FROM images WHERE id = ?",
                             (image_id,)).fetchone()
            if row is None:
                return []
            self._rebase_deltas(tx, image_id, row["delta_of"])
            # Its children move to its own parent: the next-longest prefix of their history.
            tx.execute("UPDATE images SET parent = ? WHERE parent = ?", (row["parent"], image_id))
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

"""The image service: Docker's image verbs over the content store, snapshots and metadata.

Resolution follows Docker: a name (``busybox``, ``busybox:latest``, ``docker.io/library/busybox``),
a repo digest (``busybox@sha256:…``), a full ID (with or without ``sha256:``) or a unique ID prefix.
Changes are serialised by one lock; blocking work (tar, hashing, copies) runs in worker threads.
"""

from __future__ import annotations

import asyncio
import builtins
import dataclasses
import fnmatch
import json
import logging
import re
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from dockyard.config import DaemonConfig
from dockyard.core.content import ContentStore
from dockyard.core.downloads import Fetcher, normalise_url
from dockyard.core.events import EventBus
from dockyard.core.ids import Digest, ImageId, chain_ids, digest_of, hex_of, is_full_hex_id
from dockyard.core.images import archive, delta
from dockyard.core.images.commit import CommitOptions, child_config_parsed
from dockyard.core.images.importer import import_config
from dockyard.core.images.model import Image, ImageUser
from dockyard.core.images.reference import Reference, familiar, parse, parse_repository
from dockyard.core.images.remove import Remover
from dockyard.core.images.store import ImageStore
from dockyard.core.images.unpack import Unpacker
from dockyard.core.layers.snapshots import Snapshotter
from dockyard.core.metadata import Metadata
from dockyard.core.timestamps import unix_seconds
from dockyard.errors import InvalidArgument, NotFound, Unimplemented

log = logging.getLogger(__name__)

ImageUsers = Callable[[ImageId], Awaitable[list[ImageUser]]]
Filters = dict[str, list[str]]
Records = list[dict[str, str]]
Images = list[Image]
LayerProgress = Callable[[str, int], None]  # (short chain ID, bytes) of a layer taken in
_HEX_PREFIX = re.compile(r"^(?:sha256:)?([0-9a-f]{1,64})$")


async def _no_users(image_id: ImageId) -> list[ImageUser]:
    return []


class ImageService:
    def __init__(self, *, config: DaemonConfig, db: Metadata, content: ContentStore,
                 snapshotter: Snapshotter, fetcher: Fetcher | None = None,
                 events: EventBus | None = None) -> None:
        self._config = config
        self._events = events or EventBus()
        self._fetcher = fetcher
        self._content = content
        self._snapshotter = snapshotter
        self._store = ImageStore(db)
        self._unpacker = Unpacker(content=content, snapshotter=snapshotter, store=self._store,
                                 limit=config.max_unpack_size)
        self._users: ImageUsers = _no_users
        self._lock = asyncio.Lock()
        self._remover = Remover(store=self._store, content=content, snapshotter=snapshotter,
                                users=lambda image_id: self._users(image_id))

    # ---- lifecycle ----
    async def open(self) -> None:
        self._store.ensure_schema()
        await asyncio.to_thread(self._recover)

    async def close(self) -> None:
        return None

    def _recover(self) -> None:
        """Undo what a crash left half done: ingests, unpacks, unreferenced blobs."""
        self._content.cleanup_ingest()
        used_chains = self._store.referenced_chain_ids()
        for key, chain_id in self._store.unpacks():
            log.info("removing unpack %s left by a crash", key)
            self._snapshotter.remove(key)
            if chain_id not in used_chains:
                self._snapshotter.remove(chain_id)
            self._store.end_unpack(key)
        used_blobs = self._store.referenced_blobs()
        for digest in self._content.list():
            if digest not in used_blobs:
                log.info("removing unreferenced blob %s", digest)
                self._content.delete(digest)
        self._config.tmp_dir.mkdir(parents=True, exist_ok=True)
        for leftover in self._config.tmp_dir.glob("images-*"):
            shutil.rmtree(leftover, ignore_errors=True)

    @property
    def lock(self) -> asyncio.Lock:
        """Serialises changes of the image records; pull takes it to record what it brought in."""
        return self._lock

    def set_image_users(self, fn: ImageUsers) -> None:
        """The container service tells which containers use an image; removal consults it."""
        self._users = fn

    # ---- reading ----
    async def inspect(self, ref: str) -> Image:
        return self.resolve(ref)

    def resolve(self, ref: str) -> Image:
        image_id = self._resolve_id(ref)
        image = self._store.get(image_id)
        if image is None:
            raise NotFound(f"No such image: {ref}")
        return image

    def _resolve_id(self, ref: str) -> ImageId:
        if ref.startswith("sha256:") and is_full_hex_id(ref[7:]) and self._store.exists(ref):
            return ImageId(ref)
        if is_full_hex_id(ref) and self._store.exists("sha256:" + ref):
            return ImageId("sha256:" + ref)
        parsed: Reference | None = None
        parse_error: InvalidArgument | None = None
        try:
            parsed = parse(ref) if not ref.startswith("sha256:") else None
        except InvalidArgument as exc:
            parse_error = exc
        if parsed is not None:
            found = self._store.image_of_ref(str(parsed.with_default_tag()))
            if found is not None:
                return found
        match = _HEX_PREFIX.match(ref)
        if match:
            ids = self._store.ids_with_prefix(match.group(1))
            if len(ids) == 1:
                return ids[0]
            if len(ids) > 1:
                raise InvalidArgument(f"multiple IDs found with provided prefix: {match.group(1)}")
        if parse_error is not None:
            # As moby's GetImage: a reference that does not parse is the caller's error (400).
            raise parse_error
        shown = parsed.with_default_tag().familiar() if parsed is not None else ref
        raise NotFound(f"No such image: {shown}")

    async def count(self) -> int:
        return self._store.count()

    async def list(self, *, all: bool = False, filters: Filters | None = None) -> Images:
        images = self._store.all()
        if not all:
            images = _without_intermediates(images, self._store.parent_ids())
        for key, values in (filters or {}).items():
            images = self._filter(images, key, values)
        return images

    def _filter(self, images: Images, key: str, values: builtins.list[str]) -> Images:
        if key == "dangling":
            want = values[-1].lower() in ("true", "1")
            return [i for i in images if (not i.repo_tags) == want]
        if key == "reference":
            # As moby: only the matching tags are listed, so `docker images busybox` shows no row
            # for another repository's tag of the same image.
            matched = [(i, tuple(t for t in i.repo_tags if any(_ref_matches(v, t) for v in values)))
                       for i in images]
            return [dataclasses.replace(i, repo_tags=tags) for i, tags in matched if tags]
        if key == "label":
            return [i for i in images if all(i.has_label(v) for v in values)]
        if key in ("before", "since"):
            pivot = self.resolve(values[-1])
            if key == "before":
                return [i for i in images if i.created < pivot.created]
            return [i for i in images if i.created > pivot.created]
        if key == "until":
            return images  # handled by prune; listing accepts and ignores it as Docker 28 does
        raise InvalidArgument(f"invalid filter '{key}'")

    async def history(self, ref: str) -> builtins.list[dict[str, Any]]:
        image = self.resolve(ref)
        layer_sizes = [self._layer_size(c) for c in image.chain_ids]
        items: builtins.list[dict[str, Any]] = []
        for entry in image.config.get("history") or []:
            size = 0 if entry.get("empty_layer") or not layer_sizes else layer_sizes.pop(0)
            items.append({"Id": "<missing>", "Created": unix_seconds(entry.get("created") or image.created),
                          "CreatedBy": entry.get("created_by", ""), "Tags": None, "Size": size,
                          "Comment": entry.get("comment", "")})
        if not items:
            items.append({"Id": "<missing>", "Created": unix_seconds(image.created), "CreatedBy": "",
                          "Tags": None, "Size": image.size, "Comment": ""})
        items.reverse()
        items[0]["Id"] = image.id
        items[0]["Tags"] = [familiar(t) for t in image.repo_tags] or None
        self._name_local_parents(image, items)
        return items

    def _name_local_parents(self, image: Image, items: builtins.list[dict[str, Any]]) -> None:
        """Rows whose entry is the top of a local parent's history (an intermediate build step, the
        image a build or commit started from) show that parent's ID and tags, as dockerd's; only
        entries of no local image (pulled layers) stay ``<missing>``. The parent index gives each
        parent's history length, so no parent's config is read."""
        for parent_id, history_len, refs in self._store.ancestors(image.id):
            row = len(items) - history_len
            if 0 < row < len(items):
                tags = [familiar(r) for r in refs if "@" not in r]
                items[row]["Id"] = parent_id
                items[row]["Tags"] = tags or None

    def _layer_size(self, chain_id: str) -> int:
        layer = self._store.layer(chain_id)
        return layer.size if layer is not None else 0

    def last_tag_time(self, image: Image) -> str | None:
        return self._store.last_tag_time(image.id)

    # ---- changing ----
    async def tag(self, ref: str, repo: str, tag: str | None) -> None:
        async with self._lock:
            image = self.resolve(ref)
            target = parse_repository(repo, tag)
            self._store.set_ref(str(target), image.id)
            log.info("tagged %s as %s", image.id, target)
        self._events.publish("image", "tag", image.id, {"name": familiar(str(target))})

    async def remove(self, ref: str, *, force: bool = False, prune: bool = True) -> Records:
        async with self._lock:
            image = self.resolve(ref)
            records = await self._remover.remove(image, ref, force=force, prune=prune)
        for record in records:  # moby: untag per reference, delete per image
            action, value = next(iter(record.items()))
            self._events.publish("image", "untag" if action == "Untagged" else "delete",
                                 image.id if action == "Untagged" else value, {"name": value})
        return records

    async def prune(self, *, dangling_only: bool = True,
                    filters: Filters | None = None) -> tuple[Records, int]:
        async with self._lock:
            return await self._remover.prune(dangling_only=dangling_only, filters=filters or {})

    async def import_(self, tar_path: Path, *, repo: str | None, tag: str | None, changes: builtins.list[str],
                      message: str, platform: str | None) -> Image:
        target = parse_repository(repo, tag) if repo else None
        async with self._lock:
            image_id = await asyncio.to_thread(self._import_sync, tar_path, target, changes, message,
                                               platform)
        log.info("imported %s%s", image_id, f" as {target}" if target else "")
        self._events.publish("image", "import", image_id,
                             {"name": familiar(str(target)) if target else image_id})
        return self.resolve(image_id)

    async def import_url(self, url: str, *, repo: str | None, tag: str | None,
                         changes: builtins.list[str], message: str, platform: str | None) -> Image:
        """``docker import <url>``: the daemon fetches the tar, then imports it as from a file."""
        if self._fetcher is None:
            raise Unimplemented("this engine was built without a URL fetcher")
        url = normalise_url(url)
        parse_repository(repo, tag) if repo else None  # a bad name fails before the download
        self._config.tmp_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="images-fetch-", dir=self._config.tmp_dir) as tmp:
            path = Path(tmp) / "rootfs.tar"
            await self._fetcher.fetch(url, path)
            return await self.import_(path, repo=repo, tag=tag, changes=changes,
                                      message=message or f"Imported from {url}", platform=platform)

    def _import_sync(self, tar_path: Path, target: Reference | None, changes: builtins.list[str],
                     message: str, platform: str | None) -> ImageId:
        with ExitStack() as undo:
            diff_id = self._unpacker.ingest(tar_path, undo)
            keys: builtins.list[str] = []
            layers = self._unpacker.unpack([diff_id], undo, keys)
            config = import_config(diff_id, changes=changes, message=message, platform_spec=platform)
            image_id = self._write_config(config, undo)
            refs = [str(target)] if target else []
            self._store.add_image(image_id, config, layers, refs, unpack_keys=keys)
            undo.pop_all()
        return image_id

    async def commit(self, parent: Image | None, layer_tar: Path | None, options: CommitOptions, *,
                     repo: str | None = None, tag: str | None = None, snapshot: str | None = None,
                     diff_id: str | None = None) -> Image:
        """A new image: ``parent``'s layers plus ``layer_tar`` (None for a config-only step),
        with ``options.config`` as its container config. All or nothing, as import. ``snapshot``
        is an active snapshot on ``parent``'s top layer holding ``layer_tar``'s files: it becomes
        the layer's snapshot (or is left alone when the layer is already there)."""
        target = parse_repository(repo, tag) if repo else None
        async with self._lock:
            image_id, child = await asyncio.to_thread(self._commit_sync, parent, layer_tar, options, target,
                                                      snapshot, diff_id)
        log.info("committed %s%s", image_id, f" as {target}" if target else "")
        image = self._store.get(image_id, parsed=child)
        if image is None:
            raise NotFound(f"No such image: {image_id}")
        return image

    def _commit_sync(self, parent: Image | None, layer_tar: Path | None, options: CommitOptions,
                     target: Reference | None, snapshot: str | None = None,
                     known: str | None = None) -> tuple[ImageId, dict[str, Any]]:
        with ExitStack() as undo:
            # The layer tar is the caller's temporary file (a build step's or a commit's diff).
            diff_id = (self._unpacker.ingest(layer_tar, undo, consume=True, known=known)
                       if layer_tar is not None else None)
            child, config = child_config_parsed(parent.config if parent else None, options, diff_id)
            diff_ids = child["rootfs"]["diff_ids"]
            keys: builtins.list[str] = []
            adopt = (diff_id, snapshot) if diff_id is not None and snapshot is not None else None
            layers = self._unpacker.unpack(diff_ids, undo, keys, adopt=adopt)
            # A step's config is stored as what it adds to its parent's, with no blob (issue 9).
            delta_text = delta.make(parent.config, child, config) if parent is not None else None
            image_id = (ImageId(digest_of(config)) if delta_text is not None
                        else self._write_config(config, undo))
            self._store.add_image(image_id, config, layers, [str(target)] if target else [],
                                  unpack_keys=keys, parent=parent.id if parent else None,
                                  delta_text=delta_text, parsed=child)
            undo.pop_all()
        return image_id, child

    def _write_config(self, config: bytes, undo: ExitStack) -> ImageId:
        existed = self._content.exists(digest_of(config))
        image_id = ImageId(self._content.write(config))
        if not existed:
            undo.callback(self._content.delete, image_id)
        return image_id

    async def load(self, tar_path: Path, *, progress: LayerProgress | None = None) -> builtins.list[str]:
        """``docker load``; ``progress(short chain ID, bytes)`` is called (from a worker thread)
        as each layer is taken in."""
        async with self._lock:
            lines = await asyncio.to_thread(self._load_sync, tar_path, progress)
        for line in lines:
            if line.startswith("Loaded image"):
                name = line.split(": ", 1)[1]
                self._events.publish("image", "load", self.resolve(name).id, {"name": name})
        return lines

    def _load_sync(self, tar_path: Path, progress: LayerProgress | None) -> builtins.list[str]:
        workdir = Path(tempfile.mkdtemp(prefix="images-load-", dir=self._config.tmp_dir))
        try:
            archive.extract(tar_path, workdir, self._config.max_unpack_size)
            found = archive.read(workdir)
            with ExitStack() as undo:
                lines: builtins.list[str] = []
                for item in found:
                    lines += self._load_one(item, undo, progress)
                undo.pop_all()
            return lines
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def _load_one(self, item: archive.ArchivedImage, undo: ExitStack,
                  progress: LayerProgress | None) -> builtins.list[str]:
        try:
            config = json.loads(item.config_bytes)
            diff_ids = [Digest(str(d)) for d in config["rootfs"]["diff_ids"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidArgument(f"invalid image config: {exc}") from exc
        if len(diff_ids) != len(item.layers):
            raise InvalidArgument(f"invalid manifest, layers length mismatch: expected {len(diff_ids)},"
                                  f" got {len(item.layers)}")
        chains = chain_ids([str(d) for d in diff_ids])
        for path, diff_id, chain_id in zip(item.layers, diff_ids, chains, strict=True):
            self._unpacker.ingest(path, undo, expected=diff_id)
            if progress is not None:
                progress(hex_of(chain_id)[:12], path.stat().st_size)
        keys: builtins.list[str] = []
        layers = self._unpacker.unpack(diff_ids, undo, keys)
        image_id = self._write_config(item.config_bytes, undo)
        refs = [str(parse(name).with_default_tag()) for name in item.names]
        previous = {ref: self._store.image_of_ref(ref) for ref in refs}
        existed = self._store.get(image_id) is not None
        self._store.add_image(image_id, item.config_bytes, layers, refs, unpack_keys=keys)
        undo.callback(self._undo_add, image_id, previous, existed)
        lines: builtins.list[str] = []
        for ref, old in previous.items():
            if old is not None and old != image_id:
                lines.append(f"The image {familiar(ref)} already exists, renaming the old one with ID"
                             f" {old} to empty string")
        lines += [f"Loaded image: {familiar(ref)}" for ref in refs] or [f"Loaded image ID: {image_id}"]
        return lines

    def _undo_add(self, image_id: str, previous: dict[str, ImageId | None], existed: bool) -> None:
        for ref, old in previous.items():
            if old is None:
                self._store.delete_ref(ref)
            else:
                self._store.set_ref(ref, old)
        if not existed:
            self._store.delete_image(image_id)

    async def save(self, refs: builtins.list[str], out_path: Path) -> None:
        images: dict[str, archive.SavedImage] = {}
        for ref in refs:
            image = self.resolve(ref)
            tags = self._tags_named_by(ref, image)
            prev = images.get(image.id)
            if prev is not None:
                tags = tuple(dict.fromkeys(prev.tags + tags))
            images[image.id] = self._saved(image, tags)
        await asyncio.to_thread(archive.write, list(images.values()), out_path)
        for image_id in images:
            self._events.publish("image", "save", image_id, {"name": image_id})

    def _tags_named_by(self, ref: str, image: Image) -> tuple[str, ...]:
        """The tags to write for ``ref``: the one named, none when ``ref`` is an ID."""
        if _HEX_PREFIX.match(ref) and not any(familiar(t).split(":")[0] == ref for t in image.repo_tags):
            return ()
        try:
            wanted = str(parse(ref).with_default_tag())
        except InvalidArgument:
            return ()
        return (wanted,) if wanted in image.repo_tags else ()

    def _saved(self, image: Image, tags: tuple[str, ...]) -> archive.SavedImage:
        layers: builtins.list[archive.SavedLayer] = []
        for chain_id in image.chain_ids:
            layer = self._store.layer(chain_id)
            if layer is None:
                raise NotFound(f"layer {chain_id} of image {image.id} is missing")
            path = self._content.path(layer.blob)
            compressed = layer.blob != layer.diff_id  # a pulled layer keeps the registry's blob
            layers.append(archive.SavedLayer(layer.diff_id, path, path.stat().st_size,
                                             layer.blob if compressed else "",
                                             _oci_layer_type(layer.media_type) if compressed
                                             else archive.OCI_LAYER))
        config = self._store.config_bytes(image.id)
        return archive.SavedImage(image.id, config, tuple(layers), tags,
                                  tuple(familiar(t) for t in tags))


def _oci_layer_type(media_type: str) -> str:
    """The OCI name of a stored layer's media type (Docker's gzip type has an OCI twin)."""
    if media_type.endswith("zstd"):
        return archive.OCI_LAYER + "+zstd"
    if media_type.endswith("gzip"):
        return archive.OCI_LAYER + "+gzip"
    return archive.OCI_LAYER


def _ref_matches(pattern: str, ref: str) -> bool:
    """Docker's ``reference`` filter: a glob on the familiar name, with or without the tag."""
    shown = familiar(ref)
    name = shown.rsplit(":", 1)[0] if "@" not in shown else shown.split("@", 1)[0]
    return fnmatch.fnmatchcase(shown, pattern) or fnmatch.fnmatchcase(name, pattern)


def _without_intermediates(images: Images, parents: set[str]) -> Images:
    """Docker lists an untagged image that another image was built on only with ``-a``."""
    return [i for i in images if i.repo_tags or i.repo_digests or i.id not in parents]

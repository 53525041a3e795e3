"""Pull: a copy from a registry into the image store.

resolve the reference to a manifest (an index picks the platform) → fetch the config → per layer:
skip it when its ChainID is already unpacked, reuse its blob when the content store has it, else
download it (a bounded pool, verified while streaming, resumed after a break) → unpack in order →
record the image, its tag and its repo digest in one transaction. Every step registers its undo, so
a failed or interrupted pull leaves no image, no blob and no snapshot behind.
"""

from __future__ import annotations

import asyncio
import json
import logging
from contextlib import ExitStack
from dataclasses import dataclass

from dockyard.core.content import ContentStore
from dockyard.core.distribution.download import Downloader
from dockyard.core.distribution.extract import ExtractionWatcher, LayerBlob
from dockyard.core.distribution.manifests import (
    ImageManifest,
    index_entries,
    is_index,
    media_type_of,
    parse_manifest,
    select_platform,
)
from dockyard.core.distribution.model import Descriptor, Platform, Repository
from dockyard.core.distribution.pool import run_all
from dockyard.core.distribution.progress import ProgressSink, short_id
from dockyard.core.distribution.registry import Registry
from dockyard.core.distribution.verify import hash_layer_file
from dockyard.core.ids import ChainId, Digest, ImageId, chain_ids, digest_of
from dockyard.core.images.reference import Reference
from dockyard.core.images.store import ImageStore
from dockyard.core.images.unpack import Unpacker
from dockyard.errors import InvalidArgument

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PullResult:
    image_id: ImageId
    digest: str  # of the manifest or index the reference named
    updated: bool  # False: the reference already named this image


@dataclass(frozen=True, slots=True)
class _Resolved:
    digest: str
    manifest: ImageManifest
    manifest_bytes: bytes
    config: bytes
    diff_ids: list[Digest]


class Puller:
    def __init__(self, *, registry: Registry, content: ContentStore, store: ImageStore,
                 unpacker: Unpacker, lock: asyncio.Lock, concurrency: int = 3) -> None:
        self._registry = registry
        self._content = content
        self._store = store
        self._unpacker = unpacker
        self._lock = lock
        self._downloader = Downloader(registry=registry, content=content)
        self._pool = asyncio.Semaphore(concurrency)

    async def pull(self, ref: Reference, repo: Repository, platform: Platform,
                   sink: ProgressSink) -> PullResult:
        resolved = await self._resolve(ref, repo, platform)
        # Only now, as moby: an unknown name or refused credentials is an HTTP error, not a stream one.
        sink.status(f"Pulling from {ref.path}", ref.tag or ref.digest or "")
        refs = [str(ref)] if ref.tag else []
        refs.append(f"{ref.name}@{resolved.digest}")
        image_id = ImageId(digest_of(resolved.config))
        updated = self._store.image_of_ref(refs[0]) != image_id  # the name pulled moved
        with ExitStack() as undo:
            blobs = await self._fetch_layers(repo, resolved, sink, undo)
            async with self._lock:
                await asyncio.to_thread(self._commit, resolved, blobs, refs, sink, undo)
            undo.pop_all()
        log.info("pulled %s as %s (%s)", ref, image_id, resolved.digest)
        return PullResult(image_id, resolved.digest, updated)

    # ---- manifests ----
    async def _manifest(self, repo: Repository, reference: str, expected: str | None,
                        declared_hint: str = "") -> tuple[bytes, str, str]:
        data, declared = await self._registry.get_manifest(repo, reference)
        digest = digest_of(data)
        if expected is not None and digest != expected:
            raise InvalidArgument(f"manifest verification failed for digest {expected}")
        return data, media_type_of(data, declared or declared_hint), digest

    async def _resolve(self, ref: Reference, repo: Repository, platform: Platform) -> _Resolved:
        reference = ref.digest or ref.tag or "latest"
        data, media, top_digest = await self._manifest(repo, reference, ref.digest)
        if is_index(media):
            entry = select_platform(index_entries(data), platform, str(ref))
            data, media, _ = await self._manifest(repo, entry.digest, entry.digest, entry.media_type)
        manifest = parse_manifest(data, media)
        config = await self._small_blob(repo, manifest.config)
        try:
            diff_ids = [Digest(str(d)) for d in json.loads(config)["rootfs"]["diff_ids"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidArgument(f"invalid image config {manifest.config.digest}: {exc}") from exc
        if len(diff_ids) != len(manifest.layers):
            raise InvalidArgument("layers from manifest don't match image configuration")
        return _Resolved(top_digest, manifest, data, config, diff_ids)

    async def _small_blob(self, repo: Repository, desc: Descriptor) -> bytes:
        if self._content.exists(desc.digest):
            return await asyncio.to_thread(self._content.read, desc.digest)
        data = b"".join([chunk async for chunk in self._registry.fetch_blob(repo, desc.digest)])
        if digest_of(data) != desc.digest:
            raise InvalidArgument(f"blob verification failed for digest {desc.digest}")
        return data

    # ---- layers ----
    async def _fetch_layers(self, repo: Repository, resolved: _Resolved, sink: ProgressSink,
                            undo: ExitStack) -> dict[Digest, tuple[Digest, str]]:
        """Bring in every missing layer blob; return DiffID -> (blob digest, media type)."""
        blobs: dict[Digest, tuple[Digest, str]] = {}
        chains = chain_ids(list(resolved.diff_ids))
        jobs = []
        for desc, diff_id, chain_id in zip(resolved.manifest.layers, resolved.diff_ids, chains, strict=True):
            if self._unpacked(chain_id):
                sink.status("Already exists", short_id(desc.digest))
                continue
            blobs[diff_id] = (Digest(desc.digest), desc.media_type)
            sink.status("Pulling fs layer", short_id(desc.digest))
            jobs.append((desc, diff_id))
        await run_all(self._fetch_layer(repo, desc, diff_id, sink, undo) for desc, diff_id in jobs)
        return blobs

    def _unpacked(self, chain_id: ChainId) -> bool:
        return self._store.layer(chain_id) is not None and self._unpacker.has_snapshot(chain_id)

    async def _fetch_layer(self, repo: Repository, desc: Descriptor, diff_id: Digest,
                           sink: ProgressSink, undo: ExitStack) -> None:
        if desc.urls:
            raise InvalidArgument(f"layer {desc.digest} is a foreign layer: not supported")
        if self._content.exists(desc.digest):
            # A blob already here (another image shares it): no second download.
            _, actual = await asyncio.to_thread(hash_layer_file, self._content.path(desc.digest))
        else:
            # Registered before the download: a cancelled download may still land its blob.
            undo.callback(self._unpacker.delete_blob_if_unused, Digest(desc.digest))
            if self._pool.locked():
                sink.status("Waiting", short_id(desc.digest))
            async with self._pool:
                actual = await self._downloader.download(repo, desc, sink)
        if actual != diff_id:
            raise InvalidArgument("layers from manifest don't match image configuration")
        sink.status("Download complete", short_id(desc.digest))

    # ---- recording (worker thread, images lock held) ----
    def _commit(self, resolved: _Resolved, blobs: dict[Digest, tuple[Digest, str]], refs: list[str],
                sink: ProgressSink, undo: ExitStack) -> None:
        sizes = {d.digest: d.size for d in resolved.manifest.layers}
        watched = [LayerBlob(self._content.path(blobs[d][0]), short_id(blobs[d][0]), sizes[blobs[d][0]])
                   for d in dict.fromkeys(resolved.diff_ids) if d in blobs]
        with ExtractionWatcher(watched, sink) as watcher:
            def done(diff_id: Digest) -> None:
                if diff_id in blobs:
                    short = short_id(blobs[diff_id][0])
                    watcher.finish(short)
                    sink.status("Pull complete", short)

            keys: list[str] = []
            layers = self._unpacker.unpack(resolved.diff_ids, undo, keys, blobs=blobs, done=done)
        image_id = self._write_blob(resolved.config, undo)
        manifest_digest = self._write_blob(resolved.manifest_bytes, undo)
        self._store.add_image(image_id, resolved.config, layers, refs, manifest=manifest_digest,
                              unpack_keys=keys)

    def _write_blob(self, data: bytes, undo: ExitStack) -> str:
        existed = self._content.exists(digest_of(data))
        digest = self._content.write(data)
        if not existed:
            undo.callback(self._unpacker.delete_blob_if_unused, digest)
        return digest


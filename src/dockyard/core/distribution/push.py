"""Push: a copy of a local image to a registry.

Per layer (top first, as Docker shows them): skip it when the repository has the blob, mount it
from another repository of the same registry that we pulled it from, else upload it (a layer kept
uncompressed is gzipped first, reproducibly: the same tar always gives the same blob). Then the
config, then the manifest by tag. An image pulled here is pushed with its original manifest, so
its digest stays the same.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import logging
import shutil
import tempfile
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from dockyard.core.content import ContentStore
from dockyard.core.distribution.manifests import media_type_of, parse_manifest, schema2_manifest
from dockyard.core.distribution.model import (
    DOCKER_LAYER_GZIP,
    DOCKER_MANIFEST,
    Descriptor,
    Repository,
    compression_of,
)
from dockyard.core.distribution.pool import run_all
from dockyard.core.distribution.progress import ProgressEvent, ProgressSink, short_id
from dockyard.core.distribution.registry import Registry
from dockyard.core.ids import digest_of
from dockyard.core.images.model import Image
from dockyard.core.images.reference import parse
from dockyard.core.images.store import ImageStore, LayerRecord
from dockyard.errors import NotFound

log = logging.getLogger(__name__)

_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class PushResult:
    tag: str
    digest: str
    size: int


@dataclass(frozen=True, slots=True)
class _Blob:
    desc: Descriptor
    path: Path
    diff_id: str


class Pusher:
    def __init__(self, *, registry: Registry, content: ContentStore, store: ImageStore, tmp_dir: Path,
                 concurrency: int = 5) -> None:
        self._registry = registry
        self._content = content
        self._store = store
        self._tmp_dir = tmp_dir
        self._pool = asyncio.Semaphore(concurrency)

    async def push(self, image: Image, repo: Repository, tag: str, sink: ProgressSink) -> PushResult:
        self._tmp_dir.mkdir(parents=True, exist_ok=True)
        async with AsyncExitStack() as stack:
            workdir = Path(tempfile.mkdtemp(prefix="images-push-", dir=self._tmp_dir))
            stack.callback(shutil.rmtree, workdir, True)
            records = [self._layer(c) for c in image.chain_ids]
            for record in reversed(records):
                sink.status("Preparing", short_id(record.diff_id))
            blobs = await run_all(self._push_layer(repo, image, r, workdir, sink) for r in records)
            config = await asyncio.to_thread(self._store.config_bytes, image.id)
            await self._push_bytes(repo, config, image.id, workdir)
            manifest, media_type = self._manifest(image, config, [b.desc for b in blobs])
            await self._registry.put_manifest(repo, tag, manifest, media_type)
        digest = digest_of(manifest)
        self._store.set_ref(f"{repo.host}/{repo.path}@{digest}", image.id)
        log.info("pushed %s to %s/%s:%s (%s)", image.id, repo.host, repo.path, tag, digest)
        return PushResult(tag, digest, len(manifest))

    def _layer(self, chain_id: str) -> LayerRecord:
        record = self._store.layer(chain_id)
        if record is None:
            raise NotFound(f"layer {chain_id} is missing from the image store")
        return record

    async def _push_layer(self, repo: Repository, image: Image, record: LayerRecord, workdir: Path,
                          sink: ProgressSink) -> _Blob:
        short = short_id(record.diff_id)
        if self._pool.locked():
            sink.status("Waiting", short)
        async with self._pool:
            blob = await asyncio.to_thread(self._blob_of, record, workdir)
            if await self._registry.blob_size(repo, blob.desc.digest) is not None:
                sink.status("Layer already exists", short)
                return blob
            source = self._mount_source(repo, record)
            if source is not None and await self._registry.mount_blob(repo, blob.desc.digest, source):
                sink.status(f"Mounted from {source}", short)
                return blob
            total = blob.desc.size

            def progress(sent: int) -> None:
                sink(ProgressEvent("Pushing", short, sent, total))

            await self._registry.upload_blob(repo, blob.desc.digest, blob.path, progress)
            sink.status("Pushed", short)
            return blob

    def _blob_of(self, record: LayerRecord, workdir: Path) -> _Blob:
        """The blob to push for a layer: the stored compressed blob, or the tar gzipped now."""
        path = self._content.path(record.blob)
        if compression_of(record.media_type) != "none":
            media = DOCKER_LAYER_GZIP if record.media_type.endswith("gzip") else record.media_type
            return _Blob(Descriptor(media, record.blob, path.stat().st_size), path, record.diff_id)
        out = workdir / record.blob.split(":")[1]
        with path.open("rb") as src, out.open("wb") as raw:
            hashed = HashingFile(raw)
            # mtime=0 and no file name: the same tar always compresses to the same digest.
            with gzip.GzipFile(filename="", mode="wb", fileobj=hashed, mtime=0, compresslevel=6) as gz:
                shutil.copyfileobj(src, gz, _CHUNK)
        return _Blob(Descriptor(DOCKER_LAYER_GZIP, hashed.digest, hashed.size), out, record.diff_id)

    def _mount_source(self, repo: Repository, record: LayerRecord) -> str | None:
        """Another repository of the same registry that has this layer, known by a repo digest.

        Matched by DiffID: a layer we gzip is gzipped reproducibly, so the same DiffID pushed
        before is the same blob; a wrong guess only costs the upload the mount falls back to.
        """
        for repo_digest, chain_ids in self._store.repo_digests_with_chains():
            ref = parse(repo_digest)
            if ref.domain != repo.host or ref.path == repo.path:
                continue
            layers = (self._store.layer(c) for c in chain_ids)
            if any(layer is not None and layer.diff_id == record.diff_id for layer in layers):
                return ref.path
        return None

    async def _push_bytes(self, repo: Repository, data: bytes, digest: str, workdir: Path) -> None:
        if await self._registry.blob_size(repo, digest) is not None:
            return
        path = workdir / digest.split(":")[1]
        await asyncio.to_thread(path.write_bytes, data)
        await self._registry.upload_blob(repo, digest, path, lambda sent: None)

    def _manifest(self, image: Image, config: bytes, layers: list[Descriptor]) -> tuple[bytes, str]:
        stored = self._store.manifest_of(image.id)
        if stored is not None and self._content.exists(stored):
            data = self._content.read(stored)
            media = media_type_of(data, "")
            manifest = parse_manifest(data, media)
            if [d.digest for d in manifest.layers] == [d.digest for d in layers]:
                return data, media
        return schema2_manifest(config, image.id, layers), DOCKER_MANIFEST


class HashingFile:
    """A write-only file that hashes what passes through it."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self._hash.update(data)
        self.size += len(data)
        return self._raw.write(data)

    def flush(self) -> None:
        self._raw.flush()

    @property
    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()

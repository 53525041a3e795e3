"""The distribution service: Docker's pull, push, login, distribution inspect and search verbs.

Pull and push are copies between a registry (the :class:`Registry` Protocol) and the image store;
this module turns references and credentials into registry targets and reports the statuses
Docker's clients print (``Digest: …``, ``Status: Downloaded newer image for …``).
"""

from __future__ import annotations

import json
import logging
import platform as host_machine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockyard.core.content import ContentStore
from dockyard.core.distribution.manifests import index_entries, is_index, media_type_of, parse_manifest
from dockyard.core.distribution.model import AuthConfig, Platform, Repository, host_platform, parse_platform
from dockyard.core.distribution.progress import ProgressEvent, ProgressSink
from dockyard.core.distribution.pull import Puller
from dockyard.core.distribution.push import Pusher
from dockyard.core.distribution.registry import Registry
from dockyard.core.events import EventBus
from dockyard.core.ids import digest_of
from dockyard.core.images.reference import DEFAULT_DOMAIN, Reference, parse
from dockyard.core.images.service import ImageService
from dockyard.core.images.store import ImageStore
from dockyard.core.images.unpack import Unpacker
from dockyard.core.layers.snapshots import Snapshotter
from dockyard.core.metadata import Metadata
from dockyard.errors import InvalidArgument, NotFound

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PullRequest:
    """``POST /images/create?fromImage=&tag=&platform=``; an empty tag on a bare name means all tags."""

    image: str
    tag: str = ""
    platform: str = ""
    auth: AuthConfig = AuthConfig()


class DistributionService:
    def __init__(self, *, registry: Registry, images: ImageService, content: ContentStore,
                 db: Metadata, snapshotter: Snapshotter, tmp_dir: Path,
                 max_concurrent_downloads: int = 3, max_concurrent_uploads: int = 5,
                 events: EventBus | None = None, max_unpack_size: int | None = None) -> None:
        self._registry = registry
        self._events = events or EventBus()
        self._images = images
        self._host = host_platform(host_machine.machine())
        store = ImageStore(db)
        unpacker = Unpacker(content=content, snapshotter=snapshotter, store=store, limit=max_unpack_size)
        self._puller = Puller(registry=registry, content=content, store=store, unpacker=unpacker,
                              lock=images.lock, concurrency=max_concurrent_downloads)
        self._pusher = Pusher(registry=registry, content=content, store=store, tmp_dir=tmp_dir,
                              concurrency=max_concurrent_uploads)

    @property
    def host_platform(self) -> Platform:
        return self._host

    async def close(self) -> None:
        await self._registry.close()

    async def pull(self, request: PullRequest, sink: ProgressSink) -> None:
        ref = _pull_reference(request.image, request.tag)
        wanted = parse_platform(request.platform, self._host)
        if ref.tag is None and ref.digest is None:
            tags = await self._registry.list_tags(self._repo(ref, request.auth))
            if not tags:
                raise NotFound(f"no tags found for {ref.familiar()}")
            for tag in tags:
                await self._pull_one(ref.with_tag(tag), request.auth, wanted, sink)
            sink.status(f"Status: Downloaded newer image for {ref.familiar_name}")
            return
        await self._pull_one(ref, request.auth, wanted, sink)

    async def _pull_one(self, ref: Reference, auth: AuthConfig, wanted: Platform,
                        sink: ProgressSink) -> None:
        result = await self._puller.pull(ref, self._repo(ref, auth), wanted, sink)
        sink.status(f"Digest: {result.digest}")
        shown = ref.familiar()
        self._events.publish("image", "pull", shown, {"name": shown})
        if result.updated:
            sink.status(f"Status: Downloaded newer image for {shown}")
        else:
            sink.status(f"Status: Image is up to date for {shown}")

    async def push(self, name: str, tag: str, auth: AuthConfig, sink: ProgressSink) -> None:
        ref = parse(name)
        if ref.digest is not None:
            raise InvalidArgument("cannot push a digest reference")
        tags = [tag or ref.tag or ""] if (tag or ref.tag) else await self._tags_of(ref)
        repo = self._repo(ref, auth, push=True)
        sink.status(f"The push refers to repository [{ref.name}]")
        for one in tags:
            image = self._images.resolve(str(ref.with_tag(one)))
            result = await self._pusher.push(image, repo, one, sink)
            sink.status(f"{result.tag}: digest: {result.digest} size: {result.size}")
            pushed = ref.with_tag(one).familiar()
            self._events.publish("image", "push", pushed, {"name": pushed})
            sink(ProgressEvent("", aux={"Tag": result.tag, "Digest": result.digest, "Size": result.size}))

    async def _tags_of(self, ref: Reference) -> list[str]:
        """``docker push repo`` (--all-tags): every local tag of the repository."""
        tags = sorted({t.rsplit(":", 1)[1] for image in await self._images.list() for t in image.repo_tags
                       if parse(t).name == ref.name})
        if not tags:
            raise NotFound(f"An image does not exist locally with the tag: {ref.familiar_name}")
        return tags

    async def login(self, auth: AuthConfig) -> str:
        host = registry_host(auth.server_address)
        return await self._registry.login(host, auth)

    async def inspect(self, name: str, auth: AuthConfig) -> dict[str, Any]:
        """``GET /distribution/{name}/json``: the descriptor of what the name points to and its
        platforms, as Docker's DistributionInspect."""
        ref = parse(name).with_default_tag()
        repo = self._repo(ref, auth)
        data, declared = await self._registry.get_manifest(repo, ref.digest or ref.tag or "latest")
        media = media_type_of(data, declared)
        descriptor = {"mediaType": media, "digest": digest_of(data), "size": len(data)}
        if is_index(media):
            platforms = [e.platform for e in index_entries(data) if e.platform]
        else:
            manifest = parse_manifest(data, media)
            config = b"".join([c async for c in self._registry.fetch_blob(repo, manifest.config.digest)])
            platforms = [_config_platform(config)]
        return {"Descriptor": descriptor, "Platforms": platforms}

    async def search(self, term: str, limit: int, auth: AuthConfig) -> list[dict[str, Any]]:
        host, _, query = term.rpartition("/") if "." in term.split("/")[0] or ":" in term.split("/")[0] \
            else ("", "", term)
        return await self._registry.search(host or DEFAULT_DOMAIN, query or term, limit, auth)

    def _repo(self, ref: Reference, auth: AuthConfig, push: bool = False) -> Repository:
        return Repository(ref.domain, ref.path, auth, push)


def _pull_reference(image: str, tag: str) -> Reference:
    """Docker's rule: ``tag`` may be a tag or a digest; a bare name with no tag pulls every tag."""
    ref = parse(image)
    if tag:
        if ref.tag is not None or ref.digest is not None:
            return ref
        ref = ref.with_digest(tag) if tag.startswith("sha256:") else ref.with_tag(tag)
    return ref


def _config_platform(config: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(config)
    except ValueError:
        return {}
    out = {"architecture": doc.get("architecture", ""), "os": doc.get("os", "")}
    if doc.get("variant"):
        out["variant"] = doc["variant"]
    return out


def registry_host(server_address: str) -> str:
    """``https://index.docker.io/v1/`` → ``docker.io``; ``localhost:5000`` stays."""
    host = server_address.strip()
    for prefix in ("https://", "http://"):
        if host.startswith(prefix):
            host = host[len(prefix):]
    host = host.split("/", 1)[0]
    if not host or host in ("index.docker.io", "registry-1.docker.io"):
        return DEFAULT_DOMAIN
    return host

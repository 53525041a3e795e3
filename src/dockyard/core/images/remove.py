"""``docker rmi`` and ``docker image prune``: Docker's untag/delete rules and conflict messages.

Follows moby's ``daemon/images/image_delete.go``: removing by name untags first and deletes the
image only when no reference is left; removing by ID deletes when the references all point into one
repository. One difference, on purpose: an image used by a container is never deleted, even with
``force`` (forcing only untags it), because the container's root filesystem stacks on the image's
snapshots. Docker keeps the layers alive by reference counting; we keep the image.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable

from dockyard.core.content import ContentStore
from dockyard.core.ids import ImageId, hex_of
from dockyard.core.images.model import Image, ImageUser
from dockyard.core.images.reference import familiar, parse
from dockyard.core.images.store import ImageStore, LayerRecord
from dockyard.core.layers.snapshots import Snapshotter
from dockyard.core.timestamps import filter_time, unix_seconds
from dockyard.errors import Conflict, InvalidArgument

log = logging.getLogger(__name__)

Records = list[dict[str, str]]


def _short(image_id: str) -> str:
    return hex_of(image_id)[:12]


def _is_id_ref(image_id: str, ref: str) -> bool:
    bare = ref[7:] if ref.startswith("sha256:") else ref
    return bool(re.fullmatch(r"[0-9a-f]{1,64}", bare)) and hex_of(image_id).startswith(bare)


def _repo_of(ref: str) -> str:
    return ref.split("@", 1)[0] if "@" in ref else ref.rsplit(":", 1)[0]


def _single_reference(refs: list[str]) -> bool:
    """Docker's ``isSingleReference``: at most one tag, and digests only of that repository."""
    tags = [r for r in refs if "@" not in r]
    if len(tags) > 1:
        return False
    return len({_repo_of(r) for r in refs}) <= 1


class Remover:
    def __init__(self, *, store: ImageStore, content: ContentStore, snapshotter: Snapshotter,
                 users: Callable[[ImageId], Awaitable[list[ImageUser]]]) -> None:
        self._store = store
        self._content = content
        self._snapshotter = snapshotter
        self._users = users

    async def remove(self, image: Image, ref: str, *, force: bool, prune: bool) -> Records:
        records: Records = []
        refs = self._store.refs_of(image.id)
        users = await self._users(image.id)
        if not _is_id_ref(image.id, ref):
            parsed = parse(ref).with_default_tag()
            if not force and users and _single_reference(refs):
                raise Conflict(f'conflict: unable to remove repository reference "{ref}" (must force) -'
                               f" container {users[0].container_id[:12]} is using its referenced image"
                               f" {_short(image.id)}")
            self._untag(str(parsed), records)
            refs = self._store.refs_of(image.id)
            if "@" not in str(parsed) and not any(
                    "@" not in r and _repo_of(r) == parsed.name for r in refs):
                # The last tag of a repository takes that repository's digests with it.
                for digest_ref in [r for r in refs if "@" in r and _repo_of(r) == parsed.name]:
                    self._untag(digest_ref, records)
            if self._store.refs_of(image.id):
                return records
            # The name was the last reference: the image goes too, unless a container uses it.
            if users:
                return records
        elif _single_reference(refs):
            if users and (not force or any(u.running for u in users)):
                raise self._conflict(image.id, users)
            for r in refs:
                self._untag(r, records)
        parent = self._store.parent_of(image.id)  # before the delete moves its children to it
        await self._delete(image.id, records, force=force, users=users)
        if prune:
            await self._delete_parents(parent, records)
        return records

    async def _delete_parents(self, parent: ImageId | None, records: Records) -> None:
        """moby's prune of parents: walk down the build chain deleting each untagged parent that
        nothing else holds (no tag, no container, no other child); stop at the first that is held."""
        while parent is not None:
            if (self._store.refs_of(parent) or await self._users(parent)
                    or self._store.children_of(parent)):
                return
            grandparent = self._store.parent_of(parent)
            await self._delete(parent, records, force=False, users=[])
            parent = grandparent

    def _conflict(self, image_id: str, users: list[ImageUser]) -> Conflict:
        running = [u for u in users if u.running]
        if running:
            # moby's hard conflict: not even force removes an image a running container uses.
            return Conflict(f"conflict: unable to delete {_short(image_id)} (cannot be forced) - image is"
                            f" being used by running container {running[0].container_id[:12]}")
        return Conflict(f"conflict: unable to delete {_short(image_id)} (must be forced) - image is being"
                        f" used by stopped container {users[0].container_id[:12]}")

    def _untag(self, ref: str, records: Records) -> None:
        self._store.delete_ref(ref)
        records.append({"Untagged": familiar(ref)})
        log.info("untagged %s", ref)

    async def _delete(self, image_id: ImageId, records: Records, *, force: bool,
                      users: list[ImageUser]) -> int:
        refs = self._store.refs_of(image_id)
        if users:
            if not force or any(u.running for u in users):
                raise self._conflict(image_id, users)
            for r in refs:  # forced: untag only, the container keeps the image
                self._untag(r, records)
            return 0
        if refs and not force:
            raise Conflict(f"conflict: unable to delete {_short(image_id)} (must be forced) - image is"
                           " referenced in multiple repositories")
        for r in refs:
            self._untag(r, records)
        manifest = self._store.manifest_of(image_id)
        freed = self._store.delete_image(image_id)
        records.append({"Deleted": image_id})
        records.extend({"Deleted": layer.chain_id} for layer in freed)
        await asyncio.to_thread(self._release, image_id, manifest, freed)
        log.info("deleted image %s (%d layers freed)", image_id, len(freed))
        return sum(layer.size for layer in freed)

    def _release(self, image_id: str, manifest: str | None, freed: list[LayerRecord]) -> None:
        """Remove the snapshots and blobs no remaining record names."""
        used = self._store.referenced_blobs()
        for layer in freed:
            self._snapshotter.remove(layer.chain_id)
            if layer.blob not in used:
                self._content.delete(layer.blob)
        for digest in (image_id, manifest):
            if digest and digest not in used:
                self._content.delete(digest)

    async def prune(self, *, dangling_only: bool, filters: dict[str, list[str]]) -> tuple[Records, int]:
        for key in filters:
            if key not in ("dangling", "until", "label", "label!"):
                raise InvalidArgument(f"invalid filter '{key}'")
        if "dangling" in filters:
            dangling_only = filters["dangling"][-1].lower() in ("true", "1")
        records: Records = []
        reclaimed = 0
        images = self._store.all()
        # moby prunes heads only: an image another one was built on (a build step of a tagged
        # image) is not dangling, and deleting it would cost the next build its cache.
        for image in images:
            if (dangling_only and image.repo_tags) or self._store.children_of(image.id):
                continue
            if not _prune_filters_match(image, filters) or await self._users(image.id):
                continue
            deleted: Records = []
            for ref in self._store.refs_of(image.id):
                self._untag(ref, deleted)
            reclaimed += await self._delete(image.id, deleted, force=False, users=[])
            records += deleted
        return records, reclaimed


def _prune_filters_match(image: Image, filters: dict[str, list[str]]) -> bool:
    if any(not image.has_label(v) for v in filters.get("label", [])):
        return False
    if any(image.has_label(v) for v in filters.get("label!", [])):
        return False
    for until in filters.get("until", []):
        if unix_seconds(image.created) >= filter_time(until):
            return False
    return True

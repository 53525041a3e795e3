"""Manifests and indexes: parsing, platform selection, and the manifest a push writes.

Docker schema2 and OCI manifests have the same shape (config + layers); a Docker manifest list and
an OCI index the same shape too (manifests with platforms). Schema1 is refused, as Docker 28 does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from dockyard.core.distribution.model import (
    DOCKER_CONFIG,
    DOCKER_LAYER_GZIP,
    DOCKER_MANIFEST,
    DOCKER_SCHEMA1,
    INDEX_TYPES,
    Descriptor,
    Platform,
)
from dockyard.errors import InvalidArgument, NotFound, Unimplemented


@dataclass(frozen=True, slots=True)
class ImageManifest:
    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]


def _load(data: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"invalid manifest: {exc}") from exc
    if not isinstance(doc, dict):
        raise InvalidArgument("invalid manifest: not a JSON object")
    return doc


def media_type_of(data: bytes, declared: str) -> str:
    """The media type of a manifest: the document's own field, else what the registry declared."""
    doc = _load(data)
    media = str(doc.get("mediaType") or declared or "")
    if media in DOCKER_SCHEMA1 or doc.get("schemaVersion") == 1:
        raise Unimplemented("support for Docker Image Manifest Version 2, Schema 1 has been removed")
    if not media:
        media = "application/vnd.oci.image.index.v1+json" if "manifests" in doc else \
            "application/vnd.oci.image.manifest.v1+json"
    return media


def is_index(media_type: str) -> bool:
    return media_type in INDEX_TYPES


def parse_manifest(data: bytes, media_type: str) -> ImageManifest:
    doc = _load(data)
    if "config" not in doc:
        raise InvalidArgument(f"invalid manifest of type {media_type}: no config")
    layers = tuple(Descriptor.parse(d) for d in doc.get("layers") or [])
    return ImageManifest(media_type, Descriptor.parse(doc["config"]), layers)


def index_entries(data: bytes) -> list[Descriptor]:
    return [Descriptor.parse(d) for d in _load(data).get("manifests") or []]


def select_platform(entries: list[Descriptor], wanted: Platform, ref: str) -> Descriptor:
    """The best entry for ``wanted``: exact variant first, then any variant of the architecture."""
    def matches(desc: Descriptor, strict: bool) -> bool:
        plat = desc.platform
        if plat.get("os", "linux") != wanted.os or plat.get("architecture") != wanted.architecture:
            return False
        return not strict or not wanted.variant or plat.get("variant", "") == wanted.variant

    for strict in (True, False):
        for desc in entries:
            if matches(desc, strict):
                return desc
    raise NotFound(f"no matching manifest for {wanted} in the manifest list entries")


def schema2_manifest(config: bytes, config_digest: str, layers: list[Descriptor]) -> bytes:
    """The Docker schema2 manifest a push writes for an image built or loaded here."""
    doc = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": DOCKER_CONFIG, "size": len(config), "digest": config_digest},
        "layers": [{"mediaType": d.media_type or DOCKER_LAYER_GZIP, "size": d.size, "digest": d.digest}
                   for d in layers],
    }
    return json.dumps(doc, indent=3).encode()

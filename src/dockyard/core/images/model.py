"""The image record as the core sees it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dockyard.core.ids import ChainId, ImageId
from dockyard.core.labels import label_matches


@dataclass(frozen=True, slots=True)
class Image:
    """An image: its config (OCI image config JSON, as stored) and where its layers live.

    ``repo_tags`` and ``repo_digests`` hold normalised references
    (``docker.io/library/busybox:latest``); adapters show the familiar form (``busybox:latest``).
    """

    id: ImageId
    config: dict[str, Any]
    chain_ids: tuple[ChainId, ...]  # bottom layer first; the last one is the container's parent
    repo_tags: tuple[str, ...]
    repo_digests: tuple[str, ...]
    created: str  # RFC 3339
    size: int  # bytes of all layers, uncompressed

    @property
    def top_layer(self) -> ChainId | None:
        return self.chain_ids[-1] if self.chain_ids else None

    def has_label(self, wanted: str) -> bool:
        """Docker's ``label`` filter: ``key`` is present, or ``key=value`` matches."""
        return label_matches(self.container_config.get("Labels") or {}, wanted)

    @property
    def container_config(self) -> dict[str, Any]:
        """The ``config`` object of the image config (Env, Cmd, Entrypoint, WorkingDir, User…)."""
        cfg = self.config.get("config") or {}
        return dict(cfg)


@dataclass(frozen=True, slots=True)
class ImageUser:
    """A container that uses an image; a running one makes the image impossible to delete."""

    container_id: str
    running: bool

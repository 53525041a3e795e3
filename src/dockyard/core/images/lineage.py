"""Which image an image was built on.

Images record no parent field here; a child (a build step, a commit) extends its parent's history
by entries and its layers by at most those entries' layers, so the parent is the image whose
history and chain IDs are the longest strict prefix of the child's. Docker uses the relation to hide
intermediate images from ``docker images`` and to delete untagged parents with their child.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dockyard.core.images.model import Image


def _history(image: Image) -> list[Any]:
    return list(image.config.get("history") or [])


def parent_of(image: Image, images: Sequence[Image]) -> Image | None:
    """The image ``image`` was built on, among ``images``; None for a base image."""
    mine = _history(image)
    best: Image | None = None
    best_len = 0
    for other in images:
        theirs = _history(other)
        if other.id == image.id or not theirs or len(theirs) >= len(mine) or mine[:len(theirs)] != theirs:
            continue
        if image.chain_ids[:len(other.chain_ids)] != other.chain_ids:
            continue
        if len(theirs) > best_len:
            best, best_len = other, len(theirs)
    return best


def parent_ids(images: Sequence[Image]) -> set[str]:
    """The IDs of the images another of ``images`` was built on."""
    return {parent.id for image in images if (parent := parent_of(image, images)) is not None}

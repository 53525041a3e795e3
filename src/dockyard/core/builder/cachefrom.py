"""``--cache-from``: steps hit the cache on images whose history says they ran the same step.

The classic builder's rule (moby ``image/cache``): a cache-from image *C* can stand for the step
on top of the image *P* built so far when *P*'s history and layers are a prefix of *C*'s and the
next history entry of *C* was made by the same instruction (``created_by``, which for COPY/ADD
names the content digest of what was copied). The step's result is then *P* plus that entry and
its layer, with the step's config: an image made from *C*'s own layers, without running anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dockyard.core.images.model import Image


@dataclass(frozen=True, slots=True)
class Restored:
    """The history entry and layer list of the step's image, taken from a cache-from image."""

    entry: dict[str, Any]
    diff_ids: list[str]


def _history(image: Image | None) -> list[Any]:
    return list((image.config.get("history") or []) if image else [])


def _diff_ids(image: Image | None) -> list[str]:
    return list(((image.config.get("rootfs") or {}).get("diff_ids") or []) if image else [])


def match(parent: Image | None, candidates: list[Image], created_by: str) -> Restored | None:
    """The first candidate that ran ``created_by`` right on top of ``parent``, as a Restored."""
    history, layers = _history(parent), _diff_ids(parent)
    for candidate in candidates:
        theirs, their_layers = _history(candidate), _diff_ids(candidate)
        if len(theirs) <= len(history) or theirs[:len(history)] != history:
            continue
        if their_layers[:len(layers)] != layers:
            continue
        entry = theirs[len(history)]
        if entry.get("created_by") != created_by:
            continue
        if entry.get("empty_layer"):
            return Restored(dict(entry), layers)
        # Layers below this entry: one per non-empty history entry before it.
        below = sum(1 for h in theirs[:len(history)] if not h.get("empty_layer"))
        if below != len(layers) or len(their_layers) <= below:
            continue
        return Restored(dict(entry), [*layers, their_layers[below]])
    return None

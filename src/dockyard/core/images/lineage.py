"""Which image an image was built on, kept as an indexed column instead of searched for.

Images record no parent field here; a child (a build step, a commit) extends its parent's history
by entries and its layers by at most those entries' layers, so the parent is the image whose
history and chain IDs are the longest strict prefix of the child's. Docker uses the relation to hide
intermediate images from ``docker images`` and to delete untagged parents with their child.

Comparing every image's history with every other's loads all configs for each question (one
``docker rmi`` of a long build's image took the daemon to 24 GB), so each image row carries a
*history key*: a hash chained over its history entries, ``key(n) = sha256(key(n-1) + entry n)``.
The keys of a history's prefixes come out of one pass over it, and an image whose full key equals
one of them has that prefix as its history: the parent is found by an indexed lookup when the image
is added, and stored (``images.parent``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any


def _entries(config: dict[str, Any]) -> list[Any]:
    return list(config.get("history") or [])


def _next(key: bytes, entry: Any) -> bytes:
    # Sorted keys: equal entries (as dicts) give equal bytes whatever order the JSON had.
    canonical = json.dumps(entry, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(key + canonical).digest()


def prefix_keys(config: dict[str, Any]) -> list[str]:
    """The history key of each prefix of the config's history: element ``k`` is that of the first
    ``k + 1`` entries, the last one the key of the whole history. Linear in the history's size."""
    keys: list[str] = []
    key = b""
    for entry in _entries(config):
        key = _next(key, entry)
        keys.append(key.hex())
    return keys


def extend_key(parent_key: str, config: dict[str, Any], parent_len: int) -> str:
    """The key of the config's whole history, given that its first ``parent_len`` entries are a
    parent's whose key is ``parent_key``: a commit or build step costs what it adds, not its depth."""
    key = bytes.fromhex(parent_key)
    for entry in _entries(config)[parent_len:]:
        key = _next(key, entry)
    return key.hex()


def history_key(config: dict[str, Any]) -> str | None:
    """The key of the whole history; None for an image without history (it is nobody's parent)."""
    keys = prefix_keys(config)
    return keys[-1] if keys else None


def extends(child_chain: Sequence[str], parent_chain: Sequence[str]) -> bool:
    """True when the parent's layers are the child's lowest ones."""
    return list(child_chain[:len(parent_chain)]) == list(parent_chain)

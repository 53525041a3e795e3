"""An image config stored as what it adds to its parent's (issue 9: build metadata).

A build step's image repeats its parent's config: the whole history, every diff ID, every label and
variable, plus one entry. Stored in full, a 10,000-step Dockerfile left 12.8 GB of configs, growing
with the square of its length. A step's config is stored instead as a *delta*: a patch that turns
the parent's config into the child's. The image ID stays the digest of the full config bytes, which
:func:`encode` reproduces exactly (the store checks that before it keeps a delta).

A patch node is one of:

- ``{"=": value}``: the value replaced;
- ``{"+": [items]}``: a list extended at its end (history, diff IDs, Env);
- ``{"~": {key: node}, "-": [keys], "o": [keys]}``: a dict changed key by key, with keys removed
  (``-``) and, when the child's key order is not the parent's with new keys appended, that order.
"""

from __future__ import annotations

import json
from typing import Any


def encode(config: dict[str, Any]) -> bytes:
    """The bytes an image config made here is stored as (core/images/commit.py writes the same)."""
    return json.dumps(config, separators=(",", ":")).encode()


_SAME: dict[str, Any] = {"~": {}}  # an unchanged subtree: left out of its parent's patch


def diff(parent: Any, child: Any) -> dict[str, Any]:
    """The patch that turns ``parent`` into ``child``; :func:`apply` undoes it."""
    if isinstance(parent, dict) and isinstance(child, dict):
        # Equal values are skipped by one C-level comparison; True == 1 and 1.0 == 1 pass it but are
        # written differently, which the exact-bytes check in make() catches (a full config then).
        changed: dict[str, Any] = {}
        for k, v in child.items():
            if k not in parent:
                changed[k] = {"=": v}
            elif parent[k] != v:
                changed[k] = diff(parent[k], v)
        order = list(child)
        if order[:len(parent)] == list(parent):  # the usual case: keys only added, at the end
            removed, reordered = [], False
        else:
            removed = [k for k in parent if k not in child]
            reordered = [k for k in parent if k in child] + [k for k in child if k not in parent] != order
        if not changed and not removed and not reordered:
            return _SAME
        node: dict[str, Any] = {"~": changed}
        if removed:
            node["-"] = removed
        if reordered:
            node["o"] = order
        return node
    if isinstance(parent, list) and isinstance(child, list) and len(child) > len(parent) \
            and child[:len(parent)] == parent:
        return {"+": child[len(parent):]}
    return {"=": child}


def apply(base: Any, patch: dict[str, Any]) -> Any:
    """``base`` (changed in place where it is a dict or list) with ``patch`` applied."""
    if "=" in patch:
        return patch["="]
    if "+" in patch:
        base.extend(patch["+"])
        return base
    for key in patch.get("-", ()):
        base.pop(key, None)
    for key, node in patch["~"].items():
        base[key] = apply(base[key], node) if key in base else apply(None, node)
    if "o" in patch:
        ordered = {k: base[k] for k in patch["o"]}
        base.clear()
        base.update(ordered)
    return base


def without_history(patch: dict[str, Any]) -> dict[str, Any]:
    """The patch without its history part, for listings that never show the history."""
    if "~" not in patch or "history" not in patch["~"]:
        return patch
    node = {**patch, "~": {k: v for k, v in patch["~"].items() if k != "history"}}
    if "o" in node:
        node["o"] = [k for k in node["o"] if k != "history"]
    return node


def patched(base: Any, patch: dict[str, Any]) -> Any:
    """Like :func:`apply` but leaves ``base`` as it was, sharing what the patch does not touch:
    a step's check costs what it adds, not a copy of its parent's whole config."""
    if "=" in patch:
        return patch["="]
    if "+" in patch:
        return [*base, *patch["+"]]
    out = {k: v for k, v in base.items() if k not in patch.get("-", ())}
    for key, node in patch["~"].items():
        out[key] = patched(out[key], node) if key in out else patched(None, node)
    if "o" in patch:
        out = {k: out[k] for k in patch["o"]}
    return out


def make(parent: dict[str, Any], child: dict[str, Any], config_bytes: bytes) -> str | None:
    """The delta of ``child`` (whose bytes are ``config_bytes``) against ``parent``, as stored; None
    when a delta would not reproduce the bytes exactly (a config not written by :func:`encode`) or
    would not be smaller."""
    patch = diff(parent, child)
    text = json.dumps(patch, separators=(",", ":"))
    if len(text) * 2 > len(config_bytes):
        return None
    return text if encode(patched(parent, patch)) == config_bytes else None

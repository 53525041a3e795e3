"""The config of an image made on top of another: ``docker commit`` and each build step.

A child keeps its parent's layers and history and adds one history entry; the entry is an
``empty_layer`` when the step changed only the config (ENV, CMD, LABEL…), as Docker records it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from dockyard.core.system import go_arch
from dockyard.core.timestamps import now_rfc3339


@dataclass(frozen=True, slots=True)
class CommitOptions:
    """What ``docker commit`` (or a build step) says about the new image."""

    config: dict[str, Any]  # Docker's container config shape: Env, Cmd, Entrypoint, Labels…
    created_by: str = ""  # history: the instruction or command that made the layer
    comment: str = ""  # ``docker commit -m``
    author: str = ""  # ``docker commit -a``
    created: str = ""  # RFC 3339; now when empty (builds pass a fixed time for reproducibility)
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. "variant"


def child_config(parent: dict[str, Any] | None, options: CommitOptions, diff_id: str | None) -> bytes:
    """The image config JSON bytes of the child of ``parent`` (None: from scratch)."""
    return child_config_parsed(parent, options, diff_id)[1]


def child_config_parsed(parent: dict[str, Any] | None, options: CommitOptions,
                        diff_id: str | None) -> tuple[dict[str, Any], bytes]:
    """The child's config and its bytes: a build step need not parse back what it just wrote."""
    created = options.created or now_rfc3339()
    base = parent or {}
    diff_ids = list((base.get("rootfs") or {}).get("diff_ids") or [])
    entry: dict[str, Any] = {"created": created}
    if options.created_by:
        entry["created_by"] = options.created_by
    if options.author:
        entry["author"] = options.author
    if options.comment:
        entry["comment"] = options.comment
    if diff_id is None:
        entry["empty_layer"] = True
    else:
        diff_ids.append(diff_id)
    config: dict[str, Any] = {
        "architecture": base.get("architecture", go_arch()),
        "config": options.config,
        "created": created,
        "history": [*(base.get("history") or []), entry],
        "os": base.get("os", "linux"),
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    if options.author:
        config["author"] = options.author
    if options.comment:
        config["comment"] = options.comment
    for key in ("variant", "os.version"):
        if key in base:
            config[key] = base[key]
    config.update(options.extra)
    return config, json.dumps(config, separators=(",", ":")).encode()

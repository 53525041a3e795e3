"""A plugin as an artefact: the build context of ``docker plugin create`` in, blobs and a manifest out.

A plugin travels through registries as an image does, with its own config media type
(``application/vnd.docker.plugin.v1+json``): a schema2 manifest naming the config blob (the
plugin config with ``rootfs.diff_ids``) and one gzipped rootfs layer. As moby does, the config's
``diff_ids`` hold the *compressed* layer's digest (moby's ``CreateFromContext`` records the blob
it wrote): other engines read them that way, so we write and accept the same.

Everything here blocks (tar, gzip, hashing) and runs in worker threads; every write into a tree
that came from a client goes through :mod:`dockyard.core.rootfs` (no path of the archive is ever
followed out of its directory).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import stat
from pathlib import Path
from typing import Any

from dockyard.core.distribution.model import DOCKER_LAYER_GZIP, DOCKER_MANIFEST
from dockyard.core.distribution.push import HashingFile
from dockyard.core.layers.apply import Whiteouts, apply_layer
from dockyard.core.layers.diff import write_layer
from dockyard.core.plugins.config import CONFIG_MEDIA_TYPE
from dockyard.errors import InvalidArgument

_CHUNK = 1 << 20
CONFIG_LIMIT = 1 << 20  # bytes of config.json: a plugin config is a few kilobytes


def unpack_context(context: Path, workdir: Path, *, limit: int | None = None) -> tuple[bytes, Path]:
    """Unpack the (possibly gzipped) tar of a plugin dir into ``workdir``: return the bytes of its
    ``config.json`` and the path of its ``rootfs/``. moby's texts when either is missing."""
    tree = workdir / "context"
    apply_layer(context, tree, whiteouts=Whiteouts.REFUSE, limit=limit)
    config = tree / "config.json"
    info = _lstat(config)
    if info is None or not stat.S_ISREG(info.st_mode):
        raise InvalidArgument("config not found")
    if info.st_size > CONFIG_LIMIT:
        raise InvalidArgument("failed to parse config: config.json is too large")
    rootfs = tree / "rootfs"
    info = _lstat(rootfs)
    if info is None or not stat.S_ISDIR(info.st_mode):
        raise InvalidArgument("no rootfs found")
    return config.read_bytes(), rootfs


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def pack_rootfs(rootfs: Path, blobs: Path, workdir: Path) -> tuple[str, int]:
    """The gzipped layer of ``rootfs`` into ``blobs/<hex>``, reproducibly (mtime 0, no name):
    return its digest and size."""
    blobs.mkdir(parents=True, exist_ok=True)
    tar = workdir / "layer.tar"
    write_layer(rootfs, [], tar)
    partial = blobs / ".layer.partial"
    with tar.open("rb") as src, partial.open("wb") as raw:
        hashed = HashingFile(raw)
        with gzip.GzipFile(filename="", mode="wb", fileobj=hashed, mtime=0, compresslevel=6) as gz:
            shutil.copyfileobj(src, gz, _CHUNK)
        raw.flush()
        os.fsync(raw.fileno())
    tar.unlink()
    partial.replace(blobs / hashed.digest.removeprefix("sha256:"))
    return hashed.digest, hashed.size


def put_blob(blobs: Path, data: bytes) -> str:
    """Store ``data`` under its digest; return the digest."""
    blobs.mkdir(parents=True, exist_ok=True)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    path = blobs / digest.removeprefix("sha256:")
    tmp = path.with_name("." + path.name + ".partial")
    tmp.write_bytes(data)
    tmp.replace(path)
    return digest


def config_blob(config: dict[str, Any], layer_digest: str) -> bytes:
    """The config as pushed: the plugin config with its rootfs layers named."""
    doc = dict(config)
    doc["rootfs"] = {"type": "layers", "diff_ids": [layer_digest]}
    return json.dumps(doc, separators=(",", ":")).encode()


def manifest(config_digest: str, config_size: int, layers: list[tuple[str, int]]) -> bytes:
    """A schema2 manifest: registries have served plugins only under that media type (moby)."""
    doc = {
        "schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": CONFIG_MEDIA_TYPE, "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": DOCKER_LAYER_GZIP, "digest": d, "size": s} for d, s in layers],
    }
    return json.dumps(doc, indent=3).encode()


def unpack_layers(blobs: Path, layers: list[str], rootfs: Path, *, limit: int | None = None) -> None:
    """Apply the layer blobs, bottom first, into a fresh ``rootfs`` (whiteouts delete)."""
    rootfs.mkdir(parents=True, exist_ok=True)
    for digest in layers:
        apply_layer(blobs / digest.removeprefix("sha256:"), rootfs, whiteouts=Whiteouts.DELETE,
                    refuse_absolute=False, limit=limit)

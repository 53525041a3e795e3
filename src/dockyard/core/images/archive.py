"""Image archives: ``docker save`` / ``docker load`` tars.

Read: the docker-archive (``manifest.json`` with Config/RepoTags/Layers, both the legacy layout
``<hex>/layer.tar`` + ``<hex>.json`` and Docker 25+'s OCI layout inside), and a plain OCI image
layout (``index.json`` whose descriptors name images with annotations). Written: Docker 25+'s format
(OCI layout + ``manifest.json`` + ``repositories``, uncompressed layers under ``blobs/sha256``), which
both real Docker and this loader read.

Archives are extracted by the same guarded extractor as layers, so a member that escapes the
directory (``../x``, an absolute path, through a symlink) is refused before anything is stored.
"""

from __future__ import annotations

import io
import json
import platform
import posixpath
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockyard.core.ids import hex_of
from dockyard.core.layers.apply import Whiteouts, apply_layer, clean_member
from dockyard.core.rootfs.root import parts_of
from dockyard.core.rootfs.view import resolve
from dockyard.errors import InvalidArgument

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
NAME_ANNOTATION = "io.containerd.image.name"
REF_ANNOTATION = "org.opencontainers.image.ref.name"
_GOARCH = {"x86_64": "amd64", "aarch64": "arm64"}


@dataclass(frozen=True, slots=True)
class ArchivedImage:
    """One image found in an archive: config bytes, layer tar paths (bottom first), its names."""

    config_bytes: bytes
    layers: tuple[Path, ...]
    names: tuple[str, ...]  # as written in the archive: "busybox:latest" or a full reference


@dataclass(frozen=True, slots=True)
class SavedLayer:
    diff_id: str
    path: Path  # the stored blob: the uncompressed tar, or the compressed blob a pull kept
    size: int
    blob: str = ""  # the blob's digest when it is not the DiffID (a compressed layer)
    media_type: str = OCI_LAYER

    @property
    def digest(self) -> str:
        return self.blob or self.diff_id


@dataclass(frozen=True, slots=True)
class SavedImage:
    image_id: str
    config_bytes: bytes
    layers: tuple[SavedLayer, ...]
    tags: tuple[str, ...]  # full references, e.g. docker.io/library/busybox:latest
    familiar_tags: tuple[str, ...]


def extract(tar_path: Path, dest: Path, limit: int | None = None) -> None:
    apply_layer(tar_path, dest, whiteouts=Whiteouts.REFUSE, refuse_absolute=True, limit=limit)


def member(root: Path, name: str) -> Path:
    """A regular file of the extracted archive. Its symlinks are followed inside the archive only,
    as moby's ``FollowSymlinkInScope`` does (a ``manifest.json`` linked to a host file names the
    archive's own entry of that path); the path returned has no symlink left in it, and nothing
    but the daemon writes the extracted tree. A name that leaves ``root`` is refused."""
    rel = clean_member(name, refuse_absolute=True)
    found = resolve(root, rel)
    if found is None or not stat.S_ISREG(found[1].st_mode):
        raise InvalidArgument(f"invalid archive: {name} is missing")
    return root.joinpath(*parts_of(found[0]))


def _has(root: Path, name: str) -> bool:
    found = resolve(root, name)
    return found is not None and stat.S_ISREG(found[1].st_mode)


def _json(root: Path, name: str) -> Any:
    try:
        return json.loads(member(root, name).read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"invalid archive: {posixpath.basename(name)}: {exc}") from exc


def read(root: Path) -> list[ArchivedImage]:
    """The images of an extracted archive."""
    if _has(root, "manifest.json"):
        return _read_docker(root)
    if _has(root, "index.json"):
        return _read_oci(root)
    raise InvalidArgument("invalid archive: neither manifest.json nor index.json found "
                          "(is this a docker save or OCI layout tar?)")


def _read_docker(root: Path) -> list[ArchivedImage]:
    manifest = _json(root, "manifest.json")
    if not isinstance(manifest, list):
        raise InvalidArgument("invalid archive: manifest.json is not a list")
    images: list[ArchivedImage] = []
    for entry in manifest:
        if not isinstance(entry, dict) or "Config" not in entry:
            raise InvalidArgument("invalid archive: manifest.json entry without Config")
        layers = tuple(member(root, str(p)) for p in entry.get("Layers") or [])
        images.append(ArchivedImage(member(root, str(entry["Config"])).read_bytes(), layers,
                                    tuple(str(t) for t in entry.get("RepoTags") or [])))
    return images


def _blob_name(digest: str) -> str:
    return f"blobs/sha256/{hex_of(str(digest))}"


def _blob(root: Path, digest: str) -> Path:
    return member(root, _blob_name(digest))


def _read_oci(root: Path) -> list[ArchivedImage]:
    index = _json(root, "index.json")
    images: list[ArchivedImage] = []
    for desc in index.get("manifests") or []:
        annotations = desc.get("annotations") or {}
        name = annotations.get(NAME_ANNOTATION) or annotations.get(REF_ANNOTATION) or ""
        # A bare tag ("latest") names no repository: such an image loads untagged.
        names = (name,) if name and (":" in name or "/" in name or "@" in name) else ()
        images.append(_oci_image(root, desc, names))
    return images


def _oci_image(root: Path, desc: dict[str, Any], names: tuple[str, ...]) -> ArchivedImage:
    doc = _json(root, _blob_name(desc["digest"]))
    media = desc.get("mediaType") or doc.get("mediaType")
    if media in (OCI_INDEX, DOCKER_LIST) or "manifests" in doc:
        return _oci_image(root, _pick_platform(doc.get("manifests") or []), names)
    config = _blob(root, doc["config"]["digest"]).read_bytes()
    layers = tuple(_blob(root, layer["digest"]) for layer in doc.get("layers") or [])
    return ArchivedImage(config, layers, names)


def _pick_platform(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    arch = _GOARCH.get(platform.machine(), platform.machine())
    for desc in manifests:
        plat = desc.get("platform") or {}
        if plat.get("os") == "linux" and plat.get("architecture") == arch:
            return desc
    if not manifests:
        raise InvalidArgument("invalid archive: empty image index")
    return manifests[0]


# ---------------------------------------------------------------------------------------------
# writing


def manifest_bytes(image: SavedImage) -> bytes:
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": image.image_id, "size": len(image.config_bytes)},
        "layers": [{"mediaType": la.media_type, "digest": la.digest, "size": la.size} for la in image.layers],
    }
    return json.dumps(manifest, separators=(",", ":")).encode()


def write(images: list[SavedImage], out_path: Path) -> None:
    """Write a Docker 25+ ``docker save`` tar of ``images``."""
    from dockyard.core.ids import digest_of

    index: list[dict[str, Any]] = []
    docker_manifest: list[dict[str, Any]] = []
    repositories: dict[str, dict[str, str]] = {}
    blobs: dict[str, Path | bytes] = {}
    for image in images:
        manifest = manifest_bytes(image)
        manifest_digest = digest_of(manifest)
        blobs[manifest_digest] = manifest
        blobs[image.image_id] = image.config_bytes
        for layer in image.layers:
            blobs[layer.digest] = layer.path
        descriptor = {"mediaType": OCI_MANIFEST, "digest": manifest_digest, "size": len(manifest)}
        for full, familiar in zip(image.tags, image.familiar_tags, strict=True):
            tag = full.rsplit(":", 1)[1]
            index.append({**descriptor, "annotations": {NAME_ANNOTATION: full, REF_ANNOTATION: tag}})
            if image.layers:
                repo, _, ftag = familiar.rpartition(":")
                repositories.setdefault(repo, {})[ftag] = hex_of(image.layers[-1].diff_id)
        if not image.tags:
            index.append(descriptor)
        docker_manifest.append({
            "Config": f"blobs/sha256/{hex_of(image.image_id)}",
            "RepoTags": list(image.familiar_tags) or None,
            "Layers": [f"blobs/sha256/{hex_of(la.digest)}" for la in image.layers],
        })
    with tarfile.open(out_path, "w", format=tarfile.PAX_FORMAT) as tar:
        _add_dir(tar, "blobs")
        _add_dir(tar, "blobs/sha256")
        for digest in sorted(blobs):
            source = blobs[digest]
            name = f"blobs/sha256/{hex_of(digest)}"
            if isinstance(source, bytes):
                _add_bytes(tar, name, source)
            else:
                tar.add(str(source), arcname=name, recursive=False, filter=_normalise)
        _add_bytes(tar, "index.json", _dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                                               "manifests": index}))
        _add_bytes(tar, "manifest.json", _dumps(docker_manifest))
        _add_bytes(tar, "oci-layout", _dumps({"imageLayoutVersion": "1.0.0"}))
        if repositories:
            _add_bytes(tar, "repositories", _dumps(repositories))


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode() + b"\n"


def _normalise(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o444
    info.mtime = 0
    return info


def _add_dir(tar: tarfile.TarFile, name: str) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    tar.addfile(info)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o444
    tar.addfile(info, io.BytesIO(data))

"""Image material made locally, without a registry: a busybox rootfs and Docker 25+ ``docker save`` archives.

The rootfs is /bin/busybox (busybox-static) with one symlink per applet, /etc/passwd with root and
nobody (65534), and the usual empty directories, laid out as the busybox image on Docker Hub.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

BUSYBOX = Path("/bin/busybox")
_MTIME = 1_700_000_000  # fixed, so the same rootfs gives the same DiffID on every run

_PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n"
_GROUP = "root:x:0:\nnobody:x:65534:\n"
_DIRS = {"bin": 0o755, "dev": 0o755, "etc": 0o755, "home": 0o755, "proc": 0o555, "root": 0o700,
         "sys": 0o555, "tmp": 0o1777, "usr": 0o755, "usr/sbin": 0o755, "var": 0o755}


def _info(name: str, kind: bytes, mode: int, size: int = 0, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size, info.linkname = kind, mode, size, linkname
    info.mtime, info.uid, info.gid = _MTIME, 0, 0
    return info


def busybox_rootfs_tar(binary_path: Path = BUSYBOX) -> bytes:
    """An uncompressed layer tar of a busybox root filesystem (the host's busybox, or another
    build of it such as Debian's arm64 one: the applets are listed by the host's)."""
    applets = subprocess.run([str(BUSYBOX), "--list"], capture_output=True, text=True,
                             timeout=10, check=True).stdout.split()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, mode in _DIRS.items():
            tar.addfile(_info(name, tarfile.DIRTYPE, mode))
        binary = binary_path.read_bytes()
        tar.addfile(_info("bin/busybox", tarfile.REGTYPE, 0o755, len(binary)), io.BytesIO(binary))
        for applet in sorted(set(applets) - {"busybox"}):
            tar.addfile(_info(f"bin/{applet}", tarfile.SYMTYPE, 0o777, linkname="busybox"))
        for name, text in (("etc/passwd", _PASSWD), ("etc/group", _GROUP), ("etc/hostname", ""),
                           ("etc/hosts", ""), ("etc/resolv.conf", "")):
            data = text.encode()
            tar.addfile(_info(name, tarfile.REGTYPE, 0o644, len(data)), io.BytesIO(data))
    return buf.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class SavedImage:
    """A ``docker save`` archive and the IDs a loader must report for it."""

    archive: bytes
    image_id: str  # sha256:<hex of the config blob>
    layer_digest: str
    manifest_digest: str


def docker_save_archive(layer: bytes, repo: str, tag: str, cmd: list[str]) -> SavedImage:
    """Build a tar in exactly the layout Docker 25+ writes for ``docker save repo:tag``."""
    layer_hex = sha256(layer)
    config = {
        "architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                   "Cmd": cmd},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_hex}"]},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "handmade layer"}],
    }
    config_raw = json.dumps(config, separators=(",", ":")).encode()
    config_hex = sha256(config_raw)
    manifest = {
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": f"sha256:{config_hex}", "size": len(config_raw)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": f"sha256:{layer_hex}", "size": len(layer)}],
    }
    manifest_raw = json.dumps(manifest, separators=(",", ":")).encode()
    manifest_hex = sha256(manifest_raw)
    full_name = repo if "/" in repo else f"docker.io/library/{repo}"
    index = {
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": f"sha256:{manifest_hex}", "size": len(manifest_raw),
                       "annotations": {"io.containerd.image.name": f"{full_name}:{tag}",
                                       "org.opencontainers.image.ref.name": tag}}],
    }
    docker_manifest = [{"Config": f"blobs/sha256/{config_hex}", "RepoTags": [f"{repo}:{tag}"],
                        "Layers": [f"blobs/sha256/{layer_hex}"],
                        "LayerSources": {f"sha256:{layer_hex}": {
                            "mediaType": "application/vnd.oci.image.layer.v1.tar",
                            "size": len(layer), "digest": f"sha256:{layer_hex}"}}}]
    members = [
        ("blobs/", None),
        ("blobs/sha256/", None),
        (f"blobs/sha256/{config_hex}", config_raw),
        (f"blobs/sha256/{layer_hex}", layer),
        (f"blobs/sha256/{manifest_hex}", manifest_raw),
        ("index.json", json.dumps(index).encode()),
        ("manifest.json", json.dumps(docker_manifest).encode()),
        ("oci-layout", b'{"imageLayoutVersion": "1.0.0"}'),
        ("repositories", json.dumps({repo: {tag: layer_hex}}).encode()),
    ]
    return SavedImage(archive=tar_of(members), image_id=f"sha256:{config_hex}",
                      layer_digest=f"sha256:{layer_hex}", manifest_digest=f"sha256:{manifest_hex}")


def tar_of(members: list[tuple[str, bytes | None]]) -> bytes:
    """A tar of (name, content) pairs; ``None`` content is a directory. Names are written verbatim."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members:
            if data is None:
                tar.addfile(_info(name.rstrip("/"), tarfile.DIRTYPE, 0o755))
            else:
                tar.addfile(_info(name, tarfile.REGTYPE, 0o644, len(data)), io.BytesIO(data))
    return buf.getvalue()


def read_tar(data: bytes) -> dict[str, bytes]:
    """Regular files of a tar by name (``./`` prefixes dropped)."""
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar.getmembers():
            if member.isfile():
                extracted = tar.extractfile(member)
                assert extracted is not None
                files[member.name.removeprefix("./")] = extracted.read()
    return files

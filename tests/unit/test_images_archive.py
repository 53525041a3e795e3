"""Loading the other archive layouts (plain OCI, legacy docker-archive) and recovery after a crash."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import tarfile
from pathlib import Path

from test_images_service import make_service, small_tar, store_state

from dockyard.core.images.store import ImageStore


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _layer_and_config(tmp_path: Path) -> tuple[bytes, bytes]:
    layer = small_tar(tmp_path / "layer.tar", {"hello": "world"}).read_bytes()
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                         "created": "2024-01-01T00:00:00Z",
                         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + _sha(layer)]}}).encode()
    return layer, config


def test_load_plain_oci_layout(tmp_path: Path) -> None:
    layer, config = _layer_and_config(tmp_path)
    manifest = json.dumps({
        "schemaVersion": 2, "config": {"digest": "sha256:" + _sha(config), "size": len(config)},
        "layers": [{"digest": "sha256:" + _sha(layer), "size": len(layer)}]}).encode()
    index = {"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + _sha(manifest),
        "size": len(manifest), "annotations": {"org.opencontainers.image.ref.name": "example.com/app:1"}}]}
    with tarfile.open(tmp_path / "oci.tar", "w") as tar:
        for blob in (layer, config, manifest):
            _add(tar, f"blobs/sha256/{_sha(blob)}", blob)
        _add(tar, "index.json", json.dumps(index).encode())
        _add(tar, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
    svc = make_service(tmp_path / "s")
    asyncio.run(svc.open())
    assert asyncio.run(svc.load(tmp_path / "oci.tar")) == ["Loaded image: example.com/app:1"]
    assert asyncio.run(svc.inspect("example.com/app:1")).id == "sha256:" + _sha(config)


def test_load_legacy_docker_archive(tmp_path: Path) -> None:
    layer, config = _layer_and_config(tmp_path)
    layer_dir = "a" * 64
    with tarfile.open(tmp_path / "legacy.tar", "w") as tar:
        _add(tar, f"{layer_dir}/layer.tar", layer)
        _add(tar, f"{layer_dir}/VERSION", b"1.0")
        _add(tar, f"{_sha(config)}.json", config)
        _add(tar, "manifest.json", json.dumps([{"Config": f"{_sha(config)}.json", "RepoTags": ["legacy:v1"],
                                                "Layers": [f"{layer_dir}/layer.tar"]}]).encode())
    svc = make_service(tmp_path / "s")
    asyncio.run(svc.open())
    assert asyncio.run(svc.load(tmp_path / "legacy.tar")) == ["Loaded image: legacy:v1"]
    image = asyncio.run(svc.inspect("legacy:v1"))
    assert image.id == "sha256:" + _sha(config) and image.container_config["Cmd"] == ["sh"]


def test_a_symlink_out_of_the_archive_names_the_archives_own_entry(tmp_path: Path) -> None:
    """moby's FollowSymlinkInScope: ``cfg.json -> /etc/passwd`` names the archive's /etc/passwd
    (absent here), never the host's."""
    _, config = _layer_and_config(tmp_path)
    with tarfile.open(tmp_path / "evil.tar", "w") as tar:
        info = tarfile.TarInfo("cfg.json")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(info)
        _add(tar, "manifest.json", json.dumps([{"Config": "cfg.json", "Layers": []}]).encode())
    svc = make_service(tmp_path / "s")
    asyncio.run(svc.open())
    try:
        asyncio.run(svc.load(tmp_path / "evil.tar"))
    except Exception as exc:  # noqa: BLE001 - the type is asserted below
        assert "cfg.json is missing" in str(exc) and type(exc).__name__ == "InvalidArgument"
    else:
        raise AssertionError("a symlink out of the archive was followed")
    assert asyncio.run(svc.list()) == []


def test_open_removes_what_a_crash_left(tmp_path: Path) -> None:
    root = tmp_path / "s"
    svc = make_service(root)
    asyncio.run(svc.open())
    clean = store_state(root)
    # A crash in the middle of an unpack: the row, the active snapshot, a stray blob and ingest file.
    store = ImageStore(svc._store._db)  # noqa: SLF001 - simulating the crash needs the internals
    store.begin_unpack("unpack-dead", "sha256:" + "c" * 64)
    svc._snapshotter.prepare("unpack-dead", None)  # noqa: SLF001
    (svc._snapshotter.upper_dir("unpack-dead") / "half").write_text("x")  # noqa: SLF001
    svc._content.write(b"orphan blob")  # noqa: SLF001
    (svc._content.ingest_dir / "blob-tmp").write_text("partial")  # noqa: SLF001
    assert store_state(root) != clean
    reopened = make_service(root)
    asyncio.run(reopened.open())
    assert store_state(root) == clean
    assert store.unpacks() == []

"""``docker save`` / ``docker load``: round trips, and Docker 25+'s archive format both ways."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from .daemon import Daemon
from .images import docker_save_archive, read_tar, sha256


def _image_id(daemon: Daemon, ref: str) -> str:
    return daemon.docker_ok("image", "inspect", "-f", "{{.Id}}", ref).strip()


def test_save_rmi_load_round_trip(daemon_factory: Callable[..., Daemon], tmp_path: Path) -> None:
    d = daemon_factory()
    image_id = _image_id(d, "busybox")
    archive = tmp_path / "x.tar"
    assert d.docker("save", "busybox", "-o", str(archive), timeout=120)[0] == 0
    assert archive.stat().st_size > 100_000
    code, out, err = d.docker("rmi", "busybox")
    assert code == 0, err
    assert f"Deleted: {image_id}" in out
    assert d.docker("image", "inspect", "busybox")[0] == 1
    code, out, err = d.docker("load", "-i", str(archive), timeout=120)
    assert code == 0, err
    assert "Loaded image: busybox:latest" in out
    assert _image_id(d, "busybox") == image_id
    assert d.docker("run", "--rm", "busybox", "echo", "reloaded")[:2] == (0, "reloaded\n")


def test_load_from_stdin(daemon_factory: Callable[..., Daemon], rootfs_tar: Path) -> None:
    d = daemon_factory(busybox=False)
    saved = docker_save_archive(rootfs_tar.read_bytes(), "piped", "v1", ["echo", "piped-in"])
    code, out, err = d.docker("load", input=saved.archive, timeout=120)
    assert code == 0, err
    assert "Loaded image: piped:v1" in out
    assert d.docker("run", "--rm", "piped:v1")[:2] == (0, "piped-in\n")


def test_load_of_a_docker_25_archive(daemon: Daemon, tmp_path: Path, rootfs_tar: Path) -> None:
    saved = docker_save_archive(rootfs_tar.read_bytes(), "handmade", "1.0", ["echo", "handmade-ok"])
    archive = tmp_path / "handmade.tar"
    archive.write_bytes(saved.archive)
    code, out, err = daemon.docker("load", "-i", str(archive), timeout=120)
    try:
        assert code == 0, err
        assert "Loaded image: handmade:1.0" in out
        inspected = json.loads(daemon.docker_ok("image", "inspect", "handmade:1.0"))[0]
        assert inspected["Id"] == saved.image_id
        assert inspected["RootFS"]["Layers"] == [saved.layer_digest]
        assert inspected["Config"]["Cmd"] == ["echo", "handmade-ok"]
        assert daemon.docker("run", "--rm", "handmade:1.0")[:2] == (0, "handmade-ok\n")
        assert "handmade:1.0" in daemon.docker_ok("images", "--format", "{{.Repository}}:{{.Tag}}").split()
    finally:
        daemon.docker("rmi", "-f", "handmade:1.0")


def test_save_writes_docker_25_format(daemon: Daemon, tmp_path: Path) -> None:
    archive = tmp_path / "busybox.tar"
    assert daemon.docker("save", "-o", str(archive), "busybox:latest", timeout=120)[0] == 0
    files = read_tar(archive.read_bytes())
    for name in ("oci-layout", "index.json", "manifest.json"):
        assert name in files, sorted(files)
    assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    for name, data in files.items():  # every blob is named by its own digest
        if name.startswith("blobs/sha256/"):
            assert sha256(data) == name.rsplit("/", 1)[1], name
    manifest = json.loads(files["manifest.json"])
    assert len(manifest) == 1
    entry = manifest[0]
    assert entry["RepoTags"] == ["busybox:latest"]
    image_id = _image_id(daemon, "busybox")
    assert entry["Config"] == f"blobs/sha256/{image_id.removeprefix('sha256:')}"
    assert entry["Config"] in files
    config = json.loads(files[entry["Config"]])
    assert len(entry["Layers"]) == len(config["rootfs"]["diff_ids"]) >= 1
    for layer in entry["Layers"]:
        assert layer.startswith("blobs/sha256/") and layer in files
    _check_index(files, image_id)


def _check_index(files: dict[str, bytes], image_id: str) -> None:
    index = json.loads(files["index.json"])
    assert index["schemaVersion"] == 2
    (desc,) = index["manifests"]
    assert desc["annotations"]["io.containerd.image.name"] == "docker.io/library/busybox:latest"
    assert desc["annotations"]["org.opencontainers.image.ref.name"] == "latest"
    manifest_name = "blobs/sha256/" + desc["digest"].removeprefix("sha256:")
    assert desc["size"] == len(files[manifest_name])
    oci_manifest = json.loads(files[manifest_name])
    assert oci_manifest["config"]["digest"] == image_id
    for layer in oci_manifest["layers"]:
        assert "blobs/sha256/" + layer["digest"].removeprefix("sha256:") in files

"""``docker pull`` of hostile images from a registry on 127.0.0.1 (Debian's docker-registry).

The images are pushed blob by blob over the registry API, as an attacker's registry would serve
them; the pull must be refused with nothing left in the store and nothing changed on the host.
"""

from __future__ import annotations

import gzip
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conformance.daemon import Daemon
from conformance.images import sha256
from conformance.registries import Registry

from security.hostile import HostState, busybox_with, tar_bytes


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    reg = Registry(tmp_path_factory.mktemp("registry"))
    try:
        yield reg
    finally:
        reg.stop()


def _put_blob(host: str, name: str, data: bytes) -> str:
    digest = f"sha256:{sha256(data)}"
    start = urllib.request.Request(f"http://{host}/v2/{name}/blobs/uploads/", method="POST", data=b"")
    with urllib.request.urlopen(start, timeout=30) as resp:
        location = resp.headers["Location"]
    url = location if location.startswith("http") else f"http://{host}{location}"
    sep = "&" if "?" in url else "?"
    put = urllib.request.Request(f"{url}{sep}digest={digest}", method="PUT", data=data,
                                 headers={"Content-Type": "application/octet-stream"})
    urllib.request.urlopen(put, timeout=30).close()
    return digest


def push(host: str, ref: str, layer: bytes, *, diff_id: str | None = None) -> None:
    """Push a one-layer image (gzip layer); ``diff_id`` is what its config claims."""
    name, tag = ref.split(":")
    blob = gzip.compress(layer, compresslevel=1)
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                         "rootfs": {"type": "layers",
                                    "diff_ids": [diff_id or f"sha256:{sha256(layer)}"]}}).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": _put_blob(host, name, config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": _put_blob(host, name, blob), "size": len(blob)}]}).encode()
    req = urllib.request.Request(f"http://{host}/v2/{name}/manifests/{tag}", method="PUT", data=manifest,
                                 headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    urllib.request.urlopen(req, timeout=30).close()


@pytest.mark.parametrize("members", [
    [(".wh...", "file", "")],
    [("l", "sym", "CANARY"), ("l/evil", "file", "x")],
    [("h", "hard", "CANARY/secret")],
    [("../../../../../evil", "file", "x")],
], ids=["whiteout-dotdot", "through-symlink", "hardlink", "dotdot"])
def test_pull_of_hostile_layers_is_refused(daemon: Daemon, registry: Registry, canary: Path,
                                           members: list[tuple[str, str, str]]) -> None:
    ref = f"{registry.host}/evil:{abs(hash(str(members))) % 10**8}"
    push(registry.host, ref.split("/", 1)[1], busybox_with(
        [(n, k, d.replace("CANARY", str(canary))) for n, k, d in members]))
    before = HostState.of(daemon, canary)
    code, _, err = daemon.docker("pull", ref, timeout=120)
    assert code != 0 and ("invalid" in err or "escapes" in err), err
    before.assert_unchanged(daemon, canary)


def test_pull_of_a_layer_that_does_not_match_its_diff_id(daemon: Daemon, registry: Registry,
                                                         canary: Path) -> None:
    layer = tar_bytes([("f", "file", "real")])
    push(registry.host, "liar:1", layer, diff_id=f"sha256:{sha256(b'something else')}")
    before = HostState.of(daemon, canary)
    code, _, err = daemon.docker("pull", f"{registry.host}/liar:1", timeout=120)
    # Docker's text for a layer whose uncompressed digest is not the config's DiffID.
    assert code != 0 and "layers from manifest don't match image configuration" in err, err
    before.assert_unchanged(daemon, canary)

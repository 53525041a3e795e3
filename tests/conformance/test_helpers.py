"""The suite's own instruments must be able to fail: schema checks and archive builders (no root)."""

from __future__ import annotations

import json

import pytest

from .images import busybox_rootfs_tar, docker_save_archive, read_tar, sha256
from .schema import validate

pytestmark = pytest.mark.unit

_VERSION = {
    "Platform": {"Name": "Docker Engine - Community"}, "Version": "28.2.2", "ApiVersion": "1.50",
    "MinAPIVersion": "1.24", "GitCommit": "45873be", "GoVersion": "go1.24.3", "Os": "linux",
    "Arch": "amd64", "KernelVersion": "6.1.0", "BuildTime": "2025-05-30T12:07:26.000000000+00:00",
    "Components": [{"Name": "Engine", "Version": "28.2.2", "Details": {"ApiVersion": "1.50"}}],
}


def test_schema_accepts_a_real_docker_version_response() -> None:
    validate("/version", "get", _VERSION)


def test_schema_rejects_wrong_types() -> None:
    with pytest.raises(AssertionError, match="ApiVersion"):
        validate("/version", "get", {**_VERSION, "ApiVersion": 150})


def test_schema_requires_image_summary_fields() -> None:
    with pytest.raises(AssertionError, match="RepoTags"):
        validate("/images/json", "get", [{"Id": "sha256:" + "0" * 64, "ParentId": "", "Created": 1,
                                          "Size": 1, "SharedSize": -1, "Containers": -1, "Labels": {},
                                          "RepoDigests": []}])


def test_schema_allows_go_nulls_for_slices_but_not_strings() -> None:
    summary = {"Id": "a" * 64, "Names": None, "Image": "busybox", "Labels": None}
    validate("/containers/json", "get", [summary])
    with pytest.raises(AssertionError):
        validate("/containers/json", "get", [{**summary, "Image": None}])


def test_docker_save_archive_is_self_consistent() -> None:
    layer = busybox_rootfs_tar()
    assert "bin/busybox" in read_tar(layer)
    saved = docker_save_archive(layer, "handmade", "1.0", ["sh"])
    files = read_tar(saved.archive)
    manifest = json.loads(files["manifest.json"])[0]
    assert manifest["RepoTags"] == ["handmade:1.0"]
    assert sha256(files[manifest["Config"]]) == saved.image_id.removeprefix("sha256:")
    assert sha256(files[manifest["Layers"][0]]) == saved.layer_digest.removeprefix("sha256:")
    assert busybox_rootfs_tar() == layer  # deterministic: same DiffID every run

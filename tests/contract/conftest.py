"""Fixtures of the runtime and monitor contract suites: one busybox rootfs per module, every
runtime that works on this host, and a harness that removes what each test made."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import oci_harness
import pytest
from oci_harness import Harness


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return oci_harness.make_rootfs(tmp_path_factory.mktemp("busybox") / "rootfs")


@pytest.fixture(scope="module", params=["runc", "crun"])
def runtime_name(request: pytest.FixtureRequest, rootfs: Path,
                 tmp_path_factory: pytest.TempPathFactory) -> str:
    probe = tmp_path_factory.mktemp("probe")
    oci_harness.skip_unless(oci_harness.runtime_works(request.param, rootfs, probe))
    return str(request.param)


@pytest.fixture()
def h(runtime_name: str, rootfs: Path, tmp_path: Path) -> Iterator[Harness]:
    with oci_harness.harness(runtime_name, rootfs, tmp_path) as made:
        yield made

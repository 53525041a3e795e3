"""``--platform``: a local image of another platform is refused as dockerd refuses it, and with
emulation (qemu-user-static in binfmt_misc, ``make emulation`` / ``dockyardd --emulation``) an arm64
image runs and builds on this amd64 host."""

from __future__ import annotations

import platform
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .daemon import Daemon
from .images import busybox_rootfs_tar

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(platform.machine() != "x86_64", reason="written for an amd64 host")


def test_run_platform_refuses_a_local_image_of_another_platform(daemon: Daemon) -> None:
    before = daemon.store_state()
    status, body = daemon.request_json("POST", f"{daemon.api}/containers/create?platform=linux/arm64",
                                       {"Image": "busybox", "Cmd": ["true"]})
    assert status == 404
    assert body["message"] == ("image with reference busybox was found but does not match the specified "
                               "platform: wanted linux/arm64, actual: linux/amd64")
    assert daemon.store_state() == before
    status, _ = daemon.request_json("POST", f"{daemon.api}/containers/create?platform=linux/amd64",
                                    {"Image": "busybox", "Cmd": ["true"]})
    assert status == 201


def _script(name: str) -> str:
    proc = subprocess.run([str(REPO / "scripts" / name)], capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        pytest.skip(f"{name} failed here: {proc.stderr.strip()[-300:]}")
    return proc.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def arm64_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """A daemon started with --emulation, holding an arm64 busybox made from Debian's package."""
    _script("enable-emulation.sh")
    binary = Path(_script("arm64-busybox.sh"))
    rootfs = tmp_path_factory.mktemp("arm64") / "rootfs.tar"
    rootfs.write_bytes(busybox_rootfs_tar(binary))
    d = Daemon()
    d.extra_args = ["--emulation"]
    d.start()
    try:
        d.docker_ok("import", "--platform", "linux/arm64", str(rootfs), "busybox:arm64")
        yield d
    finally:
        d.cleanup()


def test_info_reports_emulation(arm64_daemon: Daemon) -> None:
    status, info = arm64_daemon.request_json("GET", f"{arm64_daemon.api}/info")
    assert status == 200 and info["Emulation"]["Enabled"] is True
    assert "linux/arm64" in info["Emulation"]["Platforms"]


def test_an_arm64_image_runs_under_emulation(arm64_daemon: Daemon) -> None:
    d = arm64_daemon
    assert d.docker_ok("image", "inspect", "-f", "{{.Architecture}}", "busybox:arm64").strip() == "arm64"
    out = d.docker_ok("run", "--rm", "--platform", "linux/arm64", "busybox:arm64", "uname", "-m")
    assert out.strip() == "aarch64"
    # Through the API: the stock CLI would go on to pull from Docker Hub after the 404.
    status, body = d.request_json("POST", f"{d.api}/containers/create?platform=linux/amd64",
                                  {"Image": "busybox:arm64", "Cmd": ["true"]})
    assert status == 404 and "does not match the specified platform" in body["message"]


def test_an_arm64_image_builds_under_emulation(arm64_daemon: Daemon, tmp_path: Path) -> None:
    d = arm64_daemon
    (tmp_path / "Dockerfile").write_text("FROM busybox:arm64\nRUN uname -m > /arch\n")
    d.docker_ok("build", "--platform", "linux/arm64", "-t", "built:arm64", str(tmp_path))
    assert d.docker_ok("image", "inspect", "-f", "{{.Architecture}}", "built:arm64").strip() == "arm64"
    assert d.docker_ok("run", "--rm", "built:arm64", "cat", "/arch").strip() == "aarch64"
    code, _, err = d.docker("build", "--platform", "linux/amd64", str(tmp_path))
    assert code != 0 and "does not match the specified platform" in err

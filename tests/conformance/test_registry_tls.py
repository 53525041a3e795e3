"""Registries as a daemon's configuration shapes them, through the stock docker CLI: HTTPS with a
CA from the per-registry certs dir, and mirrors of docker.io tried in order.

The daemon here is the module's own, started with a daemon.json naming a temporary certs dir and
two mirrors on 127.0.0.1 (the first one dead). No test reaches beyond loopback: every name pulled
from docker.io is served by the live mirror.
"""

from __future__ import annotations

import json
import shutil
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .daemon import Daemon
from .fixtures import put_busybox
from .registries import REGISTRY_BIN, Registry, free_port, make_tls

pytestmark = pytest.mark.skipif(not Path(REGISTRY_BIN).exists(), reason="docker-registry not installed")


def _secure_name() -> str:
    """A name for 127.0.0.1 that is not a loopback name: the machine's hostname, when /etc/hosts
    maps it there (we never edit /etc/hosts)."""
    name = socket.gethostname()
    try:
        address = socket.gethostbyname(name)
    except OSError:
        address = ""
    if address != "127.0.0.1" or name == "localhost":
        pytest.skip(f"the hostname {name!r} does not resolve to 127.0.0.1")
    return name


@dataclass
class Setup:
    daemon: Daemon
    tls: Registry
    tls_host: str  # <hostname>:<port>, verified against the CA
    ca: Path
    certs_dir: Path
    mirror: Registry
    dead_mirror: str


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, rootfs_tar: Path) -> Iterator[Setup]:
    work = tmp_path_factory.mktemp("registry-config")
    name = _secure_name()
    ca, cert, key = make_tls(work, name)
    tls = Registry(work / "tls", tls=(cert, key))
    mirror = Registry(work / "mirror")
    dead = f"127.0.0.1:{free_port()}"  # nothing listens there
    certs_dir = work / "certs.d"
    certs_dir.mkdir()
    config = work / "daemon.json"
    config.write_text(json.dumps({"certs-dirs": [str(certs_dir)],
                                  "registry-mirrors": [f"http://{dead}", f"http://{mirror.host}"]}))
    daemon = Daemon()
    daemon.extra_args = ["--config-file", str(config)]
    try:
        daemon.start()
        put_busybox(daemon, rootfs_tar)
        yield Setup(daemon, tls, f"{name}:{tls.port}", ca, certs_dir, mirror, dead)
    finally:
        daemon.cleanup()
        tls.stop()
        mirror.stop()


def _trust(setup: Setup, trusted: bool) -> None:
    directory = setup.certs_dir / setup.tls_host
    if trusted:
        directory.mkdir(exist_ok=True)
        shutil.copy(setup.ca, directory / "ca.crt")
    else:
        shutil.rmtree(directory, ignore_errors=True)


def test_https_registry_needs_its_ca_in_the_certs_dir(setup: Setup) -> None:
    d = setup.daemon
    ref = f"{setup.tls_host}/tls-{uuid.uuid4().hex[:8]}:1"
    d.docker_ok("tag", "busybox:latest", ref)
    _trust(setup, False)
    code, _, err = d.docker("push", ref)
    assert code != 0
    assert "x509: certificate signed by unknown authority" in err
    _trust(setup, True)
    code, out, err = d.docker("push", ref)
    assert code == 0, err
    assert "1: digest: sha256:" in out
    d.docker_ok("rmi", ref)
    _trust(setup, False)
    code, _, err = d.docker("pull", ref)
    assert code != 0
    assert "tls: failed to verify certificate: x509: certificate signed by unknown authority" in err
    assert d.docker("image", "inspect", ref)[0] != 0
    _trust(setup, True)
    code, out, err = d.docker("pull", ref)
    assert code == 0, err
    assert f"Status: Downloaded newer image for {ref}" in out
    assert d.docker_ok("run", "--rm", ref, "echo", "over-tls").strip() == "over-tls"


def test_docker_io_pulls_go_to_the_mirrors_in_order(setup: Setup) -> None:
    d = setup.daemon
    tag = f"mirrored-{uuid.uuid4().hex[:8]}"
    on_mirror = f"{setup.mirror.host}/library/busybox:{tag}"
    d.docker_ok("tag", "busybox:latest", on_mirror)
    d.docker_ok("push", on_mirror)
    d.docker_ok("rmi", on_mirror)
    code, out, err = d.docker("pull", f"busybox:{tag}")
    assert code == 0, err
    assert f"Status: Downloaded newer image for busybox:{tag}" in out
    assert out.splitlines()[-1] == f"docker.io/library/busybox:{tag}"
    assert d.docker_ok("image", "inspect", "-f", "{{.Id}}", f"busybox:{tag}") == \
        d.docker_ok("image", "inspect", "-f", "{{.Id}}", "busybox:latest")
    assert f"mirror {setup.dead_mirror} failed" in d.log_path.read_text()

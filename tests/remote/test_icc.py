"""``--icc=false``: no container-to-container traffic on the default bridge; published ports answer."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from conformance.daemon import Daemon
from conformance.fixtures import put_busybox

from remote.conftest import RemoteDaemon
from remote.sshd import free_port

pytestmark = [pytest.mark.root]


@pytest.fixture(scope="module")
def no_icc(rootfs_tar: Path) -> Iterator[Daemon]:
    daemon = Daemon()
    daemon.extra_args = ["--icc=false"]
    try:
        daemon.start()
        put_busybox(daemon, rootfs_tar)
        yield daemon
    finally:
        daemon.cleanup()


def _serve(daemon: Daemon, name: str, host_port: int) -> tuple[str, str]:
    """A container answering "pong" on 8080, published on ``host_port``; (its IP, the gateway)."""
    daemon.docker_ok("run", "-d", "--name", name, "-p", f"{host_port}:8080", "busybox",
                     "nc", "-ll", "-p", "8080", "-e", "echo", "pong")
    ip = daemon.docker_ok("inspect", "-f", "{{.NetworkSettings.IPAddress}}", name).strip()
    gateway = daemon.docker_ok("inspect", "-f", "{{.NetworkSettings.Gateway}}", name).strip()
    return ip, gateway


def _from_container(daemon: Daemon, ip: str, port: int) -> tuple[int, str]:
    code, out, _ = daemon.docker("run", "--rm", "busybox", "sh", "-c", f"echo x | nc -w 2 {ip} {port}")
    return code, out


def _from_host(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(b"x\n")
        return conn.recv(100)


def test_icc_false_blocks_containers_but_not_published_ports(no_icc: Daemon) -> None:
    options = json.loads(no_icc.docker_ok("network", "inspect", "bridge", "-f", "{{json .Options}}"))
    assert options["com.docker.network.bridge.enable_icc"] == "false"
    port = free_port()
    ip, gateway = _serve(no_icc, "icc-srv", port)
    try:
        code, out = _from_container(no_icc, ip, 8080)
        assert code != 0 and "pong" not in out
        assert _from_host(port).startswith(b"pong")
        code, out = _from_container(no_icc, gateway, port)  # through the published port
        assert "pong" in out, code
    finally:
        no_icc.docker("rm", "-f", "icc-srv")


def test_icc_default_lets_containers_talk(remote: RemoteDaemon) -> None:
    """The control: the same traffic passes on a daemon with the default --icc=true."""
    daemon = remote.daemon
    ip, _ = _serve(daemon, "icc-open", free_port())
    try:
        code, out = _from_container(daemon, ip, 8080)
        assert code == 0 and "pong" in out
    finally:
        daemon.docker("rm", "-f", "icc-open")

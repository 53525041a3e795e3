"""One dockyardd for the remote tier: its UNIX socket, tcp with mutual TLS and /metrics."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conformance.daemon import DOCKER, Daemon
from conformance.fixtures import put_busybox

from remote.certs import Certs, make_certs
from remote.sshd import free_port

DOCKYARD = [sys.executable, "-m", "dockyard.cli.main"]


@dataclass
class RemoteDaemon:
    daemon: Daemon
    certs: Certs
    tcp: str  # tcp://127.0.0.1:PORT, mutual TLS
    metrics: str  # 127.0.0.1:PORT

    def env(self, **extra: str) -> dict[str, str]:
        """No DOCKER_HOST: each test says which endpoint it means."""
        env = {k: v for k, v in self.daemon.env().items() if k != "DOCKER_HOST"}
        env.update(extra)
        return env

    def run(self, cli: str, *args: str, env: dict[str, str] | None = None, input: bytes | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
        argv = [DOCKER] if cli == "docker" else DOCKYARD
        proc = subprocess.run([*argv, *args], env=env or self.env(), input=input, capture_output=True,
                              timeout=timeout, stdin=None if input is not None else subprocess.DEVNULL)
        return subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout.decode(errors="replace"),
                                           proc.stderr.decode(errors="replace"))

    def tls_args(self) -> list[str]:
        client = self.certs.client_dir
        return ["--tlsverify", "--tlscacert", str(client / "ca.pem"), "--tlscert",
                str(client / "cert.pem"), "--tlskey", str(client / "key.pem"), "-H", self.tcp]


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="session")
def remote(certs: Certs, rootfs_tar: Path) -> Iterator[RemoteDaemon]:
    if os.geteuid() != 0:
        pytest.skip("needs root (real runc, overlayfs, conmon)")
    port, metrics_port = free_port(), free_port()
    daemon = Daemon()
    daemon.extra_args = ["-H", f"tcp://127.0.0.1:{port}", "--tlsverify",
                         "--tlscacert", str(certs.ca), "--tlscert", str(certs.server_cert),
                         "--tlskey", str(certs.server_key), "--metrics-addr", f"127.0.0.1:{metrics_port}"]
    try:
        daemon.start()
        put_busybox(daemon, rootfs_tar)
        yield RemoteDaemon(daemon, certs, f"tcp://127.0.0.1:{port}", f"127.0.0.1:{metrics_port}")
    finally:
        daemon.cleanup()

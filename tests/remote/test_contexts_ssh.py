"""Contexts shared with the docker CLI's store, and ssh:// through a real sshd on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from remote.conftest import RemoteDaemon
from remote.sshd import Sshd

pytestmark = [pytest.mark.root]


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    return tmp_path / "docker-config"


def _env(remote: RemoteDaemon, config_dir: Path) -> dict[str, str]:
    return remote.env(DOCKER_CONFIG=str(config_dir))


def _docker_spec(remote: RemoteDaemon) -> str:
    client = remote.certs.client_dir
    return (f"host={remote.tcp},ca={client / 'ca.pem'},cert={client / 'cert.pem'},"
            f"key={client / 'key.pem'}")


def test_context_made_by_docker_used_by_dockyard(remote: RemoteDaemon, config_dir: Path) -> None:
    env = _env(remote, config_dir)
    made = remote.run("docker", "context", "create", "tlsd", "--description", "mutual TLS",
                      "--docker", _docker_spec(remote), env=env)
    assert made.returncode == 0, made.stderr
    proc = remote.run("dockyard", "--context", "tlsd", "run", "--rm", "busybox", "echo", "ctx", env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ctx"
    listed = remote.run("dockyard", "context", "ls", env=env)
    assert "tlsd" in listed.stdout and "mutual TLS" in listed.stdout and remote.tcp in listed.stdout


def test_context_made_by_dockyard_used_by_docker(remote: RemoteDaemon, config_dir: Path) -> None:
    env = _env(remote, config_dir)
    made = remote.run("dockyard", "context", "create", "ours", "--docker", _docker_spec(remote), env=env)
    assert made.returncode == 0, made.stderr
    proc = remote.run("docker", "--context", "ours", "version", "--format", "{{.Server.Version}}", env=env)
    assert proc.returncode == 0, proc.stderr
    inspected = json.loads(remote.run("docker", "context", "inspect", "ours", env=env).stdout)
    assert inspected[0]["Endpoints"]["docker"]["Host"] == remote.tcp
    assert inspected[0]["TLSMaterial"]["docker"] == ["ca.pem", "cert.pem", "key.pem"]
    # `dockyard context use` writes config.json's currentContext, which docker then follows.
    assert remote.run("dockyard", "context", "use", "ours", env=env).returncode == 0
    assert remote.run("docker", "context", "show", env=env).stdout.strip() == "ours"
    assert remote.run("docker", "ps", env=env).returncode == 0
    assert remote.run("dockyard", "context", "rm", "ours", env=env).returncode == 1  # in use
    assert remote.run("dockyard", "context", "rm", "-f", "ours", env=env).returncode == 0
    assert remote.run("docker", "context", "show", env=env).stdout.strip() == "default"


def test_context_export_import_between_clis(remote: RemoteDaemon, config_dir: Path, tmp_path: Path) -> None:
    env = _env(remote, config_dir)
    assert remote.run("docker", "context", "create", "src", "--docker", _docker_spec(remote),
                      env=env).returncode == 0
    archive = tmp_path / "src.dockercontext"
    assert remote.run("docker", "context", "export", "src", str(archive), env=env).returncode == 0
    assert remote.run("dockyard", "context", "import", "copy", str(archive), env=env).returncode == 0
    ours = tmp_path / "copy.dockercontext"
    assert remote.run("dockyard", "context", "export", "copy", str(ours), env=env).returncode == 0
    assert remote.run("docker", "context", "import", "again", str(ours), env=env).returncode == 0
    for cli, name in (("dockyard", "copy"), ("docker", "again")):
        proc = remote.run(cli, "--context", name, "ps", "-q", env=env)
        assert proc.returncode == 0, proc.stderr


def test_docker_context_env_and_conflicts(remote: RemoteDaemon, config_dir: Path) -> None:
    env = _env(remote, config_dir)
    assert remote.run("dockyard", "context", "create", "viaenv", "--docker", _docker_spec(remote),
                      env=env).returncode == 0
    env["DOCKER_CONTEXT"] = "viaenv"
    assert remote.run("dockyard", "context", "show", env=env).stdout.strip() == "viaenv"
    assert remote.run("dockyard", "ps", env=env).returncode == 0
    both = remote.run("dockyard", "--context", "viaenv", "-H", remote.tcp, "ps", env=env)
    assert both.returncode != 0 and "either specify --host or --context" in both.stderr
    missing = remote.run("dockyard", "--context", "nope", "ps", env=env)
    assert missing.returncode != 0 and "nope" in missing.stderr


@pytest.fixture(scope="module")
def sshd(remote: RemoteDaemon, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    server = Sshd(tmp_path_factory.mktemp("sshd"), remote.daemon.host)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("cli", ["docker", "dockyard"])
@pytest.mark.parametrize("far_side", ["dyhost", "dyshim"])
def test_ssh_host(remote: RemoteDaemon, sshd: Sshd, cli: str, far_side: str) -> None:
    """``-H ssh://…``: ssh runs ``docker system dial-stdio`` on the far side — the stock CLI
    (dyhost) or ours (dyshim) — which reaches dockyardd's socket."""
    env = sshd.env(remote.env())
    proc = remote.run(cli, "-H", f"ssh://{far_side}", "run", "--rm", "-i", "busybox", "sh", "-c",
                      "cat; echo end", input=b"through-ssh\n", env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "through-ssh\nend\n"


def test_far_side_shim_is_our_cli(remote: RemoteDaemon, sshd: Sshd) -> None:
    out = subprocess.run(["ssh", "dyshim", "docker", "--version"], env=sshd.env(remote.env()),
                         capture_output=True, text=True, timeout=30)
    assert "Dockyard" in out.stdout, out.stderr


@pytest.mark.parametrize("cli", ["docker", "dockyard"])
def test_ssh_context_and_failure_message(remote: RemoteDaemon, sshd: Sshd, config_dir: Path,
                                         cli: str) -> None:
    env = sshd.env(_env(remote, config_dir))
    assert remote.run(cli, "context", "create", "viassh", "--docker", "host=ssh://dyhost",
                      env=env).returncode == 0
    other = "dockyard" if cli == "docker" else "docker"
    proc = remote.run(other, "--context", "viassh", "ps", "--format", "{{.ID}}", env=env)
    assert proc.returncode == 0, proc.stderr
    # A port nobody serves: the error carries ssh's own message.
    failed = remote.run(cli, "-H", "ssh://root@127.0.0.1:1", "ps", env=env)
    assert failed.returncode != 0
    assert "Connection refused" in failed.stderr

"""``build:`` keys: secrets reach ``RUN --mount=type=secret`` (our builder has the mechanism);
what the classic builder cannot do is refused by name, as Compose v2 with DOCKER_BUILDKIT=0 does."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from conformance.daemon import Daemon

from .conftest import Compose

SECRETS = """
services:
  app:
    build:
      context: .
      secrets: [token, {source: fromenv, target: envtok}]
      tags: ["${TAG_NAME}"]
      no_cache: true
      shm_size: 64m
      labels: {stage: test}
    command: sleep 300
secrets:
  token: {file: ./token.txt}
  fromenv: {environment: BUILD_TOKEN}
"""
DOCKERFILE = """FROM busybox
RUN --mount=type=secret,id=token --mount=type=secret,id=envtok \
    cat /run/secrets/token /run/secrets/envtok > /seen && df -k /dev/shm | tail -1 > /shm
"""


@pytest.mark.slow
def test_build_secrets_tags_and_run_settings(daemon: Daemon, compose_for: Callable[..., Compose],
                                            tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(SECRETS)
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    (tmp_path / "token.txt").write_text("from-file\n")
    project = f"bs{uuid.uuid4().hex[:6]}"
    tag = f"extra-{project}:1"
    compose = compose_for("dockyard", tmp_path, {"BUILD_TOKEN": "from-env", "TAG_NAME": tag})
    try:
        compose("-p", project, "build")
        image = f"{project}-app"
        seen = daemon.docker_ok("run", "--rm", image, "cat", "/seen")
        assert seen == "from-file\nfrom-env"
        assert daemon.docker_ok("run", "--rm", image, "sh", "-c", "ls /run/secrets 2>&1 || true").strip() in (
            "", "ls: /run/secrets: No such file or directory"), "secrets are not left in the image"
        assert daemon.docker_ok("run", "--rm", image, "cat", "/shm").split()[1] == "65536"
        inspect = daemon.docker_ok("image", "inspect", "-f", "{{json .Config.Labels}}", tag)
        assert '"stage":"test"' in inspect and '"com.docker.compose.image.builder":"classic"' in inspect
    finally:
        daemon.docker("rmi", "-f", f"{project}-app", tag)

    # Compose v2 with the classic builder refuses build secrets (its words), builds nothing.
    v2 = compose_for("v2", tmp_path, {"BUILD_TOKEN": "x", "TAG_NAME": tag, "DOCKER_BUILDKIT": "0"})
    refused = v2("-p", project, "build", check=False)
    assert refused.returncode != 0
    assert "the classic builder doesn't support secrets" in refused.stderr
    assert daemon.docker("image", "inspect", f"{project}-app")[0] != 0


@pytest.mark.parametrize(("key", "words"), [
    ("additional_contexts: {base: ../other}", "additional contexts"),
    ("ssh: [default]", "SSH keys"),
    ("privileged: true", "privileged mode"),
    ("platforms: [linux/amd64, linux/arm64]", "multi-arch build"),
])
def test_what_the_builder_cannot_do_is_refused(key: str, words: str, daemon: Daemon,
                                               compose_for: Callable[..., Compose], tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(f"services:\n  app:\n    build:\n      context: .\n      {key}\n")
    (tmp_path / "Dockerfile").write_text("FROM busybox\n")
    project = f"br{uuid.uuid4().hex[:6]}"
    compose = compose_for("dockyard", tmp_path)
    try:
        proc = compose("-p", project, "up", "-d", check=False)
        assert proc.returncode != 0 and f"the classic builder doesn't support {words}" in proc.stderr
        assert len(proc.stderr.strip().splitlines()[-1]) < 200
        assert daemon.docker("image", "inspect", f"{project}-app")[0] != 0
        assert daemon.docker_ok("ps", "-aq", "--filter", f"label=com.docker.compose.project={project}") == ""
    finally:
        compose("-p", project, "down", check=False)

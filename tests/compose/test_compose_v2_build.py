"""Compose v2 builds through BuildKit's API (``POST /grpc`` + ``POST /session``) without
``DOCKER_BUILDKIT=0``: buildx's "docker" driver, the context over the session's file sync."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from conformance.daemon import Daemon

from .conftest import Compose

PLAIN = ("--progress", "plain")  # the build's vertexes, as they come

DOCKERFILE = """\
FROM busybox AS stage
ARG GREETING=unset
COPY . /ctx
RUN echo "$GREETING from stage" > /greeting
RUN --mount=type=secret,id=token cp /run/secrets/token /token-copy
FROM stage AS final
RUN echo final > /greeting
"""
COMPOSE = """\
services:
  app:
    build:
      context: .
      target: stage
      args: {GREETING: hello}
      secrets: [token]
    command: sh -c 'cat /greeting; ls -A /ctx | tr "\\n" " "; echo; cat /ctx/sub/data.txt;
      readlink /ctx/link; stat -c %a /ctx/run.sh; cat /token-copy'
secrets:
  token: {file: ./token.txt}
"""


def _project(tmp_path: Path) -> Path:
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    (tmp_path / "compose.yaml").write_text(COMPOSE)
    (tmp_path / ".dockerignore").write_text("ignored.txt\ntoken.txt\n")
    (tmp_path / "token.txt").write_text("s3cr3t\n")
    (tmp_path / "ignored.txt").write_text("must not reach the daemon\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "data.txt").write_text("data " * 20000 + "end\n")  # several DATA packets
    (tmp_path / "link").symlink_to("sub/data.txt")
    (tmp_path / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(tmp_path / "run.sh", 0o755)
    return tmp_path


def _image_id(daemon: Daemon, ref: str) -> str:
    return daemon.docker_ok("image", "inspect", "-f", "{{.Id}}", ref).strip()


@pytest.mark.slow
def test_up_build_runs_the_built_stage_then_build_hits_the_cache(
        daemon: Daemon, compose_for: Callable[..., Compose], tmp_path: Path) -> None:
    project = f"bk{uuid.uuid4().hex[:8]}"
    # No DOCKER_BUILDKIT (daemon.env() drops DOCKER_*); plain progress shows the build's vertexes.
    compose = compose_for("v2", _project(tmp_path))  # no DOCKER_BUILDKIT: daemon.env() drops it
    try:
        proc = compose(*PLAIN, "-p", project, "up", "--build", "-d")
        shown = proc.stdout + proc.stderr
        assert 'using docker driver' in shown, shown  # BuildKit's API, not POST /build
        container = f"{project}-app-1"
        assert daemon.docker_ok("wait", container).strip() == "0"
        lines = daemon.docker_ok("logs", container).splitlines()
        assert lines[0] == "hello from stage", "the target stage, with the build arg"
        listed = set(lines[1].split())
        assert {".dockerignore", "Dockerfile", "compose.yaml", "sub", "link", "run.sh"} <= listed
        assert "ignored.txt" not in listed, ".dockerignore applies to what the session sends"
        assert lines[2] == "data " * 20000 + "end"
        assert lines[3:] == ["sub/data.txt", "755", "s3cr3t"], "the build secret, from the session"
        first = _image_id(daemon, f"{project}-app")
        labels = daemon.docker_ok("image", "inspect", "-f", "{{json .Config.Labels}}", first)
        assert f'"com.docker.compose.project":"{project}"' in labels

        again = compose(*PLAIN, "-p", project, "build")
        assert "CACHED" in again.stdout + again.stderr, again.stdout + again.stderr
        assert _image_id(daemon, f"{project}-app") == first, "a second build is a cache hit"
    finally:
        compose("-p", project, "down", "--rmi", "local", check=False)


@pytest.mark.slow
@pytest.mark.parametrize(("dockerfile", "message"), [
    ("FROM busybox\nRUN echo started; exit 3\n", "returned a non-zero code: 3"),
    ("FROM busybox\nBOGUS x\n", "unknown instruction: BOGUS"),
])
def test_a_failed_build_is_reported_and_changes_nothing(
        daemon: Daemon, compose_for: Callable[..., Compose], tmp_path: Path, dockerfile: str,
        message: str) -> None:
    (tmp_path / "Dockerfile").write_text(dockerfile)
    (tmp_path / "compose.yaml").write_text("services:\n  app:\n    build: .\n")
    project = f"bkf{uuid.uuid4().hex[:8]}"
    compose = compose_for("v2", tmp_path)
    images = daemon.docker_ok("image", "ls", "-q", "--no-trunc")
    containers = daemon.docker_ok("ps", "-aq")
    proc = compose(*PLAIN, "-p", project, "build", check=False)
    assert proc.returncode != 0
    shown = proc.stdout + proc.stderr
    assert message in shown, shown
    assert "failed to solve" in shown
    assert daemon.docker("image", "inspect", f"{project}-app")[0] != 0
    assert daemon.docker_ok("image", "ls", "-q", "--no-trunc") == images
    assert daemon.docker_ok("ps", "-aq") == containers, "no RUN container is left behind"

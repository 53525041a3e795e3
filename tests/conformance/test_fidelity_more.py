"""Issue 10's fidelity sweep, second pass: what dockerd 20.10 (the oracle) shows, through the stock
CLI: the build's step echo of ``--label``, history's intermediate image IDs, a default container's
HostConfig, and the exec terminal's size."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from .daemon import Daemon

Name = Callable[[str], str]
Run = Callable[..., str]


def test_build_labels_are_one_step_each_echoed_as_given(daemon: Daemon, tmp_path: Path,
                                                         name: Name) -> None:
    """dockerd 20.10: ``Step 3/4 : LABEL a=2`` then ``Step 4/4 : LABEL z=$HOME``, keys sorted,
    values literal (no expansion)."""
    tag = name("labels")
    (tmp_path / "Dockerfile").write_text("FROM busybox\nENV HOME=/x\n")
    out = daemon.docker_ok("build", "--label", "z=$HOME", "--label", "a=2", "-t", tag, str(tmp_path))
    try:
        steps = [line for line in out.splitlines() if line.startswith("Step ")]
        assert steps == ["Step 1/4 : FROM busybox", "Step 2/4 : ENV HOME=/x", "Step 3/4 : LABEL a=2",
                         "Step 4/4 : LABEL z=$HOME"]
        labels = json.loads(daemon.docker_ok("inspect", "-f", "{{json .Config.Labels}}", tag))
        assert labels == {"a": "2", "z": "$HOME"}
    finally:
        daemon.docker("rmi", "-f", tag)

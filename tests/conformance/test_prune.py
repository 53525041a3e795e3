"""Prune filters through the stock docker CLI, and ``dockyard system prune``."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

from .daemon import Daemon


def _exists(daemon: Daemon, ref: str) -> bool:
    return daemon.docker("inspect", ref)[0] == 0


def test_container_prune_label_filters(daemon: Daemon, name: Callable[[str], str]) -> None:
    keep, drop, other = name("keep"), name("drop"), name("other")
    daemon.docker_ok("create", "--name", keep, "--label", "tier=keep", "busybox", "true")
    daemon.docker_ok("create", "--name", drop, "--label", "tier=drop", "busybox", "true")
    daemon.docker_ok("create", "--name", other, "busybox", "true")
    try:
        out = daemon.docker_ok("container", "prune", "-f", "--filter", "label=tier",
                               "--filter", "label!=tier=keep")
        assert "Total reclaimed space" in out
        assert _exists(daemon, keep) and not _exists(daemon, drop) and _exists(daemon, other)
        # until: nothing created in the last hour is older than an hour.
        daemon.docker_ok("container", "prune", "-f", "--filter", "until=1h")
        assert _exists(daemon, keep) and _exists(daemon, other)
        code, _, err = daemon.docker("container", "prune", "-f", "--filter", "bogus=1")
        assert code != 0 and "invalid filter 'bogus'" in err
    finally:
        daemon.docker("rm", "-f", keep, drop, other)


def test_image_prune_label_and_until(daemon: Daemon, name: Callable[[str], str]) -> None:
    tag = f"{name('img')}:v1"
    daemon.docker_ok("commit", "--change", "LABEL purpose=prune-test",
                     daemon.docker_ok("create", "busybox", "true").strip(), tag)
    try:
        daemon.docker_ok("image", "prune", "-a", "-f", "--filter", "label!=purpose=prune-test",
                         "--filter", "until=1h")
        assert _exists(daemon, tag)
        out = daemon.docker_ok("image", "prune", "-a", "-f", "--filter", "label=purpose=prune-test")
        assert f"untagged: {tag}" in out.lower() or not _exists(daemon, tag)
        assert not _exists(daemon, tag)
        assert _exists(daemon, "busybox:latest")  # still used by containers or not matching
    finally:
        daemon.docker("rmi", "-f", tag)
        daemon.docker("container", "prune", "-f")


def test_dockyard_system_prune(daemon_factory: Callable[..., Daemon]) -> None:
    d = daemon_factory()
    d.docker_ok("create", "--name", "stopped", "busybox", "true")
    d.docker_ok("volume", "create", "v1")
    proc = subprocess.run([sys.executable, "-m", "dockyard.cli.main", "system", "prune", "-f",
                           "--volumes"], capture_output=True, env=d.env(), timeout=60, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "Deleted Containers:" in proc.stdout and "Total reclaimed space" in proc.stdout
    assert not _exists(d, "stopped")
    assert _exists(d, "busybox:latest")  # tagged: only -a removes it
    code, out, err = d.docker("system", "prune", "-a", "-f")
    assert code == 0, err
    assert not _exists(d, "busybox:latest")

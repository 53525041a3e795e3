"""Our ``dockyard run``/``create`` flags that docker has and we lacked (issue 10), against the
session daemon: each flag's effect is checked inside the container or in inspect."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable

from .daemon import Daemon

Name = Callable[[str], str]


def dockyard(daemon: Daemon, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dockyard.cli.main", *args], capture_output=True,
                          text=True, env=daemon.env(), timeout=60)


def test_mount_and_volumes_from(daemon: Daemon, name: Name) -> None:
    out = dockyard(daemon, "run", "--rm", "--mount", "type=tmpfs,target=/scratch,tmpfs-size=1m",
                   "busybox", "grep", " /scratch ", "/proc/mounts")
    assert out.returncode == 0 and "tmpfs /scratch tmpfs" in out.stdout and "size=1024k" in out.stdout
    source = name("src")
    created = dockyard(daemon, "create", "--name", source, "-v", "/data", "busybox", "true")
    assert created.returncode == 0, created.stderr
    try:
        out = dockyard(daemon, "run", "--rm", "--volumes-from", source, "busybox", "grep", " /data ",
                       "/proc/mounts")
        assert out.returncode == 0 and "/data" in out.stdout
    finally:
        daemon.docker("rm", "-fv", source)
    bad = dockyard(daemon, "run", "--rm", "--mount", "type=bind,source=/tmp", "busybox", "true")
    assert bad.returncode == 125 and "target is required" in bad.stderr


def test_oom_score_adj_swappiness_and_cgroup_rules(daemon: Daemon, name: Name) -> None:
    cname = name("flags")
    out = dockyard(daemon, "run", "--name", cname, "--oom-score-adj", "300", "--memory-swappiness", "10",
                   "--device-cgroup-rule", "c 1:3 mr", "busybox", "cat", "/proc/self/oom_score_adj")
    try:
        assert out.returncode == 0 and out.stdout.strip() == "300", out.stderr
        host = json.loads(daemon.docker_ok("inspect", "-f", "{{json .HostConfig}}", cname))
        assert host["MemorySwappiness"] == 10 and host["DeviceCgroupRules"] == ["c 1:3 mr"]
        cid = daemon.docker_ok("inspect", "-f", "{{.Id}}", cname).strip()
        bundle = json.loads((daemon.data_root / "containers" / cid / "config.json").read_text())
        assert {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "mr"} in \
            bundle["linux"]["resources"]["devices"]
    finally:
        daemon.docker("rm", "-f", cname)
    bad = dockyard(daemon, "create", "--device-cgroup-rule", "x 1:3 r", "busybox", "true")
    assert bad.returncode != 0 and "invalid device cgroup format 'x 1:3 r'" in bad.stderr


def test_gpus_and_platform_flags(daemon: Daemon) -> None:
    out = dockyard(daemon, "run", "--rm", "--gpus", "all", "busybox", "true")
    assert out.returncode != 0
    assert 'could not select device driver "" with capabilities: [[gpu]]' in out.stderr
    out = dockyard(daemon, "create", "--platform", "linux/amd64", "busybox", "true")
    assert out.returncode == 0, out.stderr
    daemon.docker("rm", out.stdout.strip())

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


def test_inspect_networks_and_volumes(daemon: Daemon, name: Name) -> None:
    net, vol = name("net"), name("vol")
    daemon.docker_ok("network", "create", net)
    daemon.docker_ok("volume", "create", vol)
    try:
        typed = dockyard(daemon, "inspect", "--type", "network", net)
        assert typed.returncode == 0 and json.loads(typed.stdout)[0]["Name"] == net
        untyped = dockyard(daemon, "inspect", "-f", "{{.Name}}", vol)
        assert untyped.returncode == 0 and untyped.stdout.strip() == vol
        missing = dockyard(daemon, "inspect", "--type", "volume", net)
        assert missing.returncode == 1
    finally:
        daemon.docker("network", "rm", net)
        daemon.docker("volume", "rm", vol)


def test_help_and_short_help_flag(daemon: Daemon) -> None:
    for args in (["-h"], ["help"], ["help", "run"], ["ps", "-h"]):
        out = dockyard(daemon, *args)
        assert out.returncode == 0 and "Usage:" in out.stdout, args
    assert "dockyard run" in dockyard(daemon, "help", "run").stdout
    out = dockyard(daemon, "run", "--rm", "-h", "named", "busybox", "hostname")
    assert out.stdout.strip() == "named"  # run's -h stays --hostname, as docker's
    assert dockyard(daemon, "help", "nosuch").returncode == 1


def test_build_from_stdin(daemon: Daemon, name: Name) -> None:
    tag = name("stdin")
    out = subprocess.run([sys.executable, "-m", "dockyard.cli.main", "build", "-q", "-t", tag, "-"],
                         input=f"FROM busybox\nLABEL made={tag}\n", capture_output=True, text=True,
                         env=daemon.env(), timeout=60)
    try:
        assert out.returncode == 0, out.stderr
        assert daemon.docker_ok("inspect", "-f", "{{.Config.Labels.made}}", tag).strip() == tag
    finally:
        daemon.docker("rmi", tag)


def test_completion_names_come_from_the_daemon(daemon: Daemon, name: Name) -> None:
    script = dockyard(daemon, "completion", "bash")
    assert script.returncode == 0 and "_DOCKYARD_COMPLETE" in script.stdout
    vol = name("vol")
    daemon.docker_ok("volume", "create", vol)
    try:
        env = {**daemon.env(), "COMP_WORDS": f"dockyard volume rm {vol[:5]}", "COMP_CWORD": "3",
               "_DOCKYARD_COMPLETE": "bash_complete"}
        out = subprocess.run([sys.executable, "-m", "dockyard.cli.main"], capture_output=True, text=True,
                             env=env, timeout=30)
        assert f"plain,{vol}" in out.stdout.split()
    finally:
        daemon.docker("volume", "rm", vol)


def test_ps_and_images_formats_from_config_json(daemon: Daemon, name: Name) -> None:
    cname = name("fmt")
    daemon.docker_ok("create", "--name", cname, "busybox", "true")
    config = daemon.docker_config / "config.json"
    saved = config.read_text() if config.exists() else None
    config.write_text(json.dumps({"psFormat": "ps:{{.Names}}", "imagesFormat": "img:{{.Repository}}"}))
    try:
        assert "img:busybox" in dockyard(daemon, "images").stdout.split()
        assert f"ps:{cname}" in dockyard(daemon, "ps", "-a").stdout.split()
        assert dockyard(daemon, "images", "--format", "{{.Tag}}").stdout.split()[0] != "img:busybox"
    finally:
        daemon.docker("rm", cname)
        if saved is None:
            config.unlink()
        else:
            config.write_text(saved)


def test_load_prints_what_it_loaded(daemon: Daemon, tmp_path) -> None:  # type: ignore[no-untyped-def]
    archive = tmp_path / "bb.tar"
    daemon.docker_ok("save", "-o", str(archive), "busybox")
    out = dockyard(daemon, "load", "-i", str(archive))
    assert out.returncode == 0 and out.stdout == "Loaded image: busybox:latest\n"

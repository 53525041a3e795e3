"""Runtime-control gaps closed after issue 6: OOMKilled across a restart, exec under userns-remap."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .daemon import Daemon
from .fixtures import put_busybox


@pytest.fixture(scope="module")
def remap_daemon(rootfs_tar: Path) -> Iterator[Daemon]:
    d = Daemon()
    os.chmod(d.root, 0o711)  # the remapped root must be able to walk to the data root
    d.extra_args = ["--userns-remap", "default"]
    try:
        d.start()
        put_busybox(d, rootfs_tar)
        yield d
    finally:
        d.cleanup()


def _state(d: Daemon, ref: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(d.docker_ok("container", "inspect", ref))[0]["State"]
    return data


def test_oom_killed_is_cleared_when_the_container_starts_again(daemon: Daemon) -> None:
    name = "g6-oom-restart"
    # The first run is OOM-killed; a second run finds /oomed and sleeps instead.
    script = "if [ ! -e /oomed ]; then touch /oomed; x=a; while :; do x=$x$x; done; fi; sleep 300"
    try:
        code, _, _ = daemon.docker("run", "--name", name, "-m", "32m", "busybox", "sh", "-c", script,
                                   timeout=60)
        assert code == 137
        assert _state(daemon, name)["OOMKilled"] is True
        daemon.docker_ok("start", name)
        state = _state(daemon, name)
        assert (state["Status"], state["OOMKilled"], state["ExitCode"]) == ("running", False, 0)
    finally:
        daemon.docker("rm", "-f", name)


def _http_get(port: int, path: str) -> str:
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
                sock.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
                return b"".join(iter(lambda: sock.recv(4096), b"")).decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.mark.slow
def test_exec_into_a_remapped_container_on_bridge_networks(remap_daemon: Daemon) -> None:
    d = remap_daemon
    d.docker_ok("network", "create", "g6-remap-net")
    try:
        d.docker_ok("run", "-d", "--name", "g6-remap-a", "-p", "127.0.0.1::80", "busybox", "sh", "-c",
                    "echo remapped > /index.html; httpd -f -p 80 -h /")
        d.docker_ok("run", "-d", "--name", "g6-remap-b", "--network", "g6-remap-net",
                    "--sysctl", "net.ipv4.ip_forward=0", "busybox", "sleep", "300")
        assert d.docker_ok("exec", "g6-remap-a", "id", "-u").strip() == "0"
        ip = d.docker_ok("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "g6-remap-a").strip()
        assert f"inet {ip}/" in d.docker_ok("exec", "g6-remap-a", "ip", "-4", "addr", "show", "eth0")
        port = int(d.docker_ok("port", "g6-remap-a", "80/tcp").strip().rsplit(":", 1)[1])
        assert _http_get(port, "/index.html").endswith("remapped\n")
        # A user network: embedded DNS, and connect of a running remapped container.
        d.docker_ok("network", "connect", "g6-remap-net", "g6-remap-a")
        assert "0% packet loss" in d.docker_ok("exec", "g6-remap-b", "ping", "-c", "1", "-W", "3",
                                               "g6-remap-a")
        # The netns is the container's own: a net sysctl applies there.
        assert d.docker_ok("exec", "g6-remap-b", "cat", "/proc/sys/net/ipv4/ip_forward").strip() == "0"
        d.docker_ok("restart", "-t", "1", "g6-remap-a")
        assert d.docker_ok("exec", "g6-remap-a", "echo", "back").strip() == "back"
        # --userns host keeps the daemon-made sandbox; exec works there as it always did.
        assert d.docker_ok("run", "--rm", "--userns", "host", "busybox", "ip", "-4", "addr",
                           "show", "eth0").count("inet ") == 1
    finally:
        d.docker("rm", "-f", "g6-remap-a", "g6-remap-b")
        d.docker("network", "rm", "g6-remap-net")
    # Every sandbox went with its container (a --rm one's a moment after run returned: its
    # teardown finishes after the removal is answered, core/containers/teardown.py).
    deadline = time.monotonic() + 10
    while list((d.exec_root / "netns").iterdir()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not list((d.exec_root / "netns").iterdir())


def test_our_cli_resource_and_security_flags_reach_the_container(daemon: Daemon) -> None:
    import subprocess
    import sys

    name = "g6-ours-flags"
    script = ("ulimit -n; ulimit -Hn; df -k /dev/shm | tail -1; ls -l /dev/mynull | cut -c1; id -G; "
              "cat /proc/sys/net/ipv4/ip_forward; grep NoNewPrivs /proc/self/status; "
              "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max")
    argv = [sys.executable, "-m", "dockyard.cli.main", "run", "--name", name, "-m", "64m",
            "--memory-swap", "128m", "--memory-reservation", "32m", "--cpus", "0.5", "-c", "512",
            "--pids-limit", "20", "--ulimit", "nofile=100:200", "--shm-size", "16m",
            "--cap-drop", "chown", "--cap-add", "net_admin", "--sysctl", "net.ipv4.ip_forward=0",
            "--security-opt", "no-new-privileges", "--device", "/dev/null:/dev/mynull:rw",
            "--group-add", "10", "--restart", "no", "--ipc", "private", "--cgroupns", "private",
            "busybox", "sh", "-c", script]
    try:
        proc = subprocess.run(argv, capture_output=True, env=daemon.env(), timeout=60)
        assert proc.returncode == 0, proc.stderr.decode()
        lines = proc.stdout.decode().splitlines()
        assert lines[:2] == ["100", "200"]
        assert lines[2].split()[1] == "16384"
        assert lines[3] == "c"
        assert "10" in lines[4].split()
        assert lines[5:] == ["0", "NoNewPrivs:\t1", "20"]
        host = json.loads(daemon.docker_ok("container", "inspect", name))[0]["HostConfig"]
        assert (host["Memory"], host["MemorySwap"], host["MemoryReservation"]) == (
            64 << 20, 128 << 20, 32 << 20)
        assert (host["NanoCpus"], host["CpuShares"], host["PidsLimit"]) == (500_000_000, 512, 20)
        assert (host["CapAdd"], host["CapDrop"]) == (["CAP_NET_ADMIN"], ["CAP_CHOWN"])
        assert host["RestartPolicy"]["Name"] == "no" and host["IpcMode"] == "private"
        assert host["Ulimits"] == [{"Name": "nofile", "Soft": 100, "Hard": 200}]
    finally:
        daemon.docker("rm", "-f", name)


def _tar_owners(data: bytes) -> dict[str, tuple[int, int]]:
    import io
    import tarfile

    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: (m.uid, m.gid) for m in tar.getmembers()}


def _subuid_start() -> int:
    for line in Path("/etc/subuid").read_text().splitlines():
        user, start, _ = line.split(":")
        if user == "dockremap":
            return int(start)
    raise AssertionError("no dockremap range in /etc/subuid")


@pytest.mark.slow
def test_cp_commit_export_and_volumes_under_userns_remap(remap_daemon: Daemon) -> None:
    import io
    import subprocess
    import tarfile

    d = remap_daemon
    start = _subuid_start()
    d.docker_ok("run", "-d", "--name", "g6-remap-cp", "busybox", "sh", "-c",
                "mkdir /d && echo x > /d/f && chown 1000:1001 /d/f && touch /rootfile; sleep 300")
    try:
        deadline = time.monotonic() + 10
        while d.docker("exec", "g6-remap-cp", "test", "-e", "/rootfile")[0] != 0:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        # docker cp out: the owners as the container sees them, from the upper and the image layers.
        out = subprocess.run(["docker", "cp", "g6-remap-cp:/d", "-"], capture_output=True,
                             env=d.env(), timeout=30, check=True).stdout
        assert _tar_owners(out) == {"d": (0, 0), "d/f": (1000, 1001)}
        out = subprocess.run(["docker", "cp", "g6-remap-cp:/etc/passwd", "-"], capture_output=True,
                             env=d.env(), timeout=30, check=True).stdout
        assert _tar_owners(out) == {"passwd": (0, 0)}
        # docker cp in: the tar's owners are the container's ids, on the host shifted into the range.
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo("in.txt")
            info.size, info.uid, info.gid = 3, 1234, 1235
            tar.addfile(info, io.BytesIO(b"in\n"))
        d.docker_ok("cp", "-", "g6-remap-cp:/tmp", input=buf.getvalue())
        assert d.docker_ok("exec", "g6-remap-cp", "stat", "-c", "%u %g", "/tmp/in.txt").strip() == \
            "1234 1235"
        upper = json.loads(d.docker_ok("inspect", "g6-remap-cp"))[0]["GraphDriver"]["Data"]["UpperDir"]
        st = (Path(upper) / "tmp" / "in.txt").stat()
        assert (st.st_uid, st.st_gid) == (start + 1234, _subgid_start() + 1235)
        # docker export and docker commit record the container's view too.
        exported = subprocess.run(["docker", "export", "g6-remap-cp"], capture_output=True,
                                  env=d.env(), timeout=60, check=True).stdout
        owners = _tar_owners(exported)
        assert owners["rootfile"] == (0, 0) and owners["d/f"] == (1000, 1001)
        d.docker_ok("commit", "g6-remap-cp", "g6-remap-img")
        assert d.docker_ok("run", "--rm", "--userns", "host", "g6-remap-img", "stat", "-c", "%u %g",
                           "/d/f", "/rootfile", "/tmp/in.txt").split("\n")[:3] == [
            "1000 1001", "0 0", "1234 1235"]
    finally:
        d.docker("rm", "-f", "g6-remap-cp")
        d.docker("rmi", "g6-remap-img")
    # Named and anonymous volumes belong to the remapped root: the container's root may write.
    d.docker_ok("volume", "create", "g6-remap-vol")
    try:
        assert d.docker_ok("run", "--rm", "-v", "g6-remap-vol:/data", "-v", "/anon", "busybox", "sh",
                           "-c", "touch /data/x /anon/y && stat -c %u /data /anon").split() == ["0", "0"]
        mountpoint = d.docker_ok("volume", "inspect", "-f", "{{.Mountpoint}}", "g6-remap-vol").strip()
        assert Path(mountpoint).stat().st_uid == start
    finally:
        d.docker("volume", "rm", "g6-remap-vol")


def _subgid_start() -> int:
    for line in Path("/etc/subgid").read_text().splitlines():
        user, start, _ = line.split(":")
        if user == "dockremap":
            return int(start)
    raise AssertionError("no dockremap range in /etc/subgid")

"""Resource limits, ``docker update``, ``docker stats`` and ``system df`` through the stock CLI and
docker-py."""

from __future__ import annotations

import json
import time
from pathlib import Path

import docker

from .daemon import Daemon

_CGROUP = Path("/sys/fs/cgroup")


def _inspect(daemon: Daemon, ref: str) -> dict:
    return json.loads(daemon.docker_ok("container", "inspect", ref))[0]


def _cpu_usage_ns(cid: str) -> int:
    """The container's CPU time from its cgroup (v1 cpuacct or v2 cpu.stat), not from our API."""
    if (_CGROUP / "cgroup.controllers").exists():
        for line in (_CGROUP / "dockyard" / cid / "cpu.stat").read_text().splitlines():
            key, value = line.split()
            if key == "usage_usec":
                return int(value) * 1000
        raise AssertionError("no usage_usec")
    return int((_CGROUP / "cpuacct" / "dockyard" / cid / "cpuacct.usage").read_text())


def test_memory_limit_oom_kills_an_allocating_process(daemon: Daemon) -> None:
    name = "r1-oom"
    try:
        code, _, _ = daemon.docker("run", "--name", name, "-m", "32m", "busybox",
                                   "sh", "-c", "x=a; while :; do x=$x$x; done", timeout=60)
        assert code == 137
        state = _inspect(daemon, name)["State"]
        assert state["OOMKilled"] is True
        assert state["ExitCode"] == 137
        host = _inspect(daemon, name)["HostConfig"]
        assert (host["Memory"], host["MemorySwap"]) == (32 << 20, 64 << 20)  # swap defaults to 2x
    finally:
        daemon.docker("rm", "-f", name)


def test_a_clean_exit_is_not_oom_killed(daemon: Daemon) -> None:
    name = "r1-no-oom"
    try:
        assert daemon.docker("run", "--name", name, "-m", "32m", "busybox", "true")[0] == 0
        assert _inspect(daemon, name)["State"]["OOMKilled"] is False
    finally:
        daemon.docker("rm", "-f", name)


def test_pids_limit_stops_a_fork_loop(daemon: Daemon) -> None:
    code, out, err = daemon.docker(
        "run", "--rm", "--pids-limit", "10", "busybox", "sh", "-c",
        "n=0; while [ $n -lt 40 ]; do sleep 5 & n=$((n+1)); done; echo forked-all", timeout=60)
    assert "can't fork" in err, (code, out, err)
    assert "forked-all" not in out


def test_cpus_half_caps_a_busy_loop(daemon: Daemon, container) -> None:
    cid = container("--cpus", "0.5", "busybox", "sh", "-c", "while :; do :; done")
    time.sleep(0.5)
    start, started = _cpu_usage_ns(cid), time.monotonic()
    time.sleep(3)
    used = (_cpu_usage_ns(cid) - start) / ((time.monotonic() - started) * 1e9)
    # The cap is the point (an uncapped loop takes a whole CPU); the floor is loose because the
    # test machine's two CPUs are shared with other work.
    assert 0.2 < used < 0.6, f"{used:.2f} CPUs used"
    assert _inspect(daemon, cid)["HostConfig"]["NanoCpus"] == 500_000_000


def test_update_raises_the_memory_limit_of_a_running_container(daemon: Daemon, container) -> None:
    cid = container("-m", "32m", "busybox", "sleep", "300")
    grow = ("exec", cid, "sh", "-c", "head -c 80m /dev/zero | tail | wc -c")
    # 80 MB held by tail does not fit in 32m (+32m swap): the OOM killer ends tail, wc counts 0.
    assert daemon.docker(*grow)[1].strip() != str(80 << 20)
    code, _, err = daemon.docker("update", "-m", "128m", cid)
    assert code != 0 and "update the memoryswap at the same time" in err
    daemon.docker_ok("update", "-m", "128m", "--memory-swap", "256m", cid)
    host = _inspect(daemon, cid)["HostConfig"]
    assert (host["Memory"], host["MemorySwap"]) == (128 << 20, 256 << 20)
    assert daemon.docker_ok(*grow).strip() == str(80 << 20)
    assert _inspect(daemon, cid)["State"]["Running"] is True


def test_stats_no_stream_shows_the_container(daemon: Daemon, container) -> None:
    cid = container("--name", "r1-stats", "-m", "64m", "busybox", "sleep", "300")
    out = daemon.docker_ok("stats", "--no-stream", "--format", "{{json .}}", cid)
    row = json.loads(out.strip().splitlines()[-1])
    assert row["Name"] == "r1-stats"
    assert row["MemUsage"].endswith("/ 64MiB")
    assert row["PIDs"] == "1"


def test_stats_json_through_docker_py(daemon: Daemon, client: docker.DockerClient, container) -> None:
    cid = container("busybox", "sleep", "300")
    stats = client.api.stats(cid, stream=False)
    assert stats["id"] == cid
    assert stats["cpu_stats"]["cpu_usage"]["total_usage"] > 0
    assert stats["precpu_stats"]["cpu_usage"]["total_usage"] > 0  # a second reading for CPU %
    assert stats["memory_stats"]["usage"] > 0
    assert stats["pids_stats"]["current"] == 1
    one = client.api.stats(cid, stream=False, one_shot=True)
    assert one["preread"] == "0001-01-01T00:00:00Z"
    streamed = client.api.stats(cid, stream=True, decode=True)
    first, second = next(streamed), next(streamed)
    total = "total_usage"
    assert second["precpu_stats"]["cpu_usage"][total] == first["cpu_stats"]["cpu_usage"][total]


def test_limits_docker_refuses(daemon: Daemon) -> None:
    cases = {("-m", "1m"): "Minimum memory limit allowed is 6MB",
             ("--cpus", "64"): "Range of CPUs is from 0.01 to",
             ("-m", "64m", "--memory-swap", "32m"): "Minimum memoryswap limit should be larger",
             ("--ulimit", "nofile=99999999:99999999"): "operation not permitted"}
    for flags, message in cases.items():
        code, _, err = daemon.docker("run", "--rm", *flags, "busybox", "true")
        assert code != 0 and message in err, (flags, err)


def test_ulimit_and_shm_size_reach_the_container(daemon: Daemon) -> None:
    out = daemon.docker_ok("run", "--rm", "--ulimit", "nofile=1000:2000", "--shm-size", "128m",
                           "busybox", "sh", "-c", "ulimit -n; ulimit -Hn; df -k /dev/shm | tail -1")
    soft, hard, shm = out.splitlines()
    assert (soft, hard) == ("1000", "2000")
    assert shm.split()[1] == str(128 * 1024)


def test_system_df(daemon: Daemon, container) -> None:
    container("busybox", "sleep", "300")
    out = daemon.docker_ok("system", "df", "--format", "{{json .}}")
    rows = {r["Type"]: r for r in map(json.loads, out.strip().splitlines())}
    assert set(rows) >= {"Images", "Containers", "Local Volumes", "Build Cache"}
    assert int(rows["Images"]["TotalCount"]) >= 1
    assert int(rows["Containers"]["Active"]) >= 1
    assert rows["Images"]["Size"] != "0B"

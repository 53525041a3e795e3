"""``dockyard create`` resource and security flags send the same request body as the stock docker
CLI: both clients talk to one fake daemon and their ``POST /containers/create`` bodies are compared."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_cli_requests import FakeDaemon, Recorded, cli, reply, respond

from dockyard.cli.client import CliError
from dockyard.cli.resource_opts import parse_cpus, parse_throttle, parse_ulimit
from dockyard.cli.security_opts import normalize_caps, parse_device, parse_security_opts, parse_sysctls

DOCKER = shutil.which("docker") or "/usr/local/bin/docker"


class LinuxDaemon(FakeDaemon):
    """The CLI checks --device against the server's OS, which it learns from /_ping."""

    async def _dispatch(self, request: Recorded, writer: asyncio.StreamWriter) -> bool:
        if request.path == "/_ping":
            await respond(writer, 200, b"OK", {"Api-Version": self.api_version, "Ostype": "linux"})
            return True
        return await super()._dispatch(request, writer)


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LinuxDaemon]:
    daemon = LinuxDaemon(tmp_path / "d.sock")
    daemon.start()
    monkeypatch.setenv("DOCKER_HOST", f"unix://{daemon.sock}")
    yield daemon
    daemon.stop()


FLAGS = [
    ["-m", "64m", "--memory-swap", "128m", "--memory-reservation", "32m", "--oom-kill-disable",
     "--cpus", "1.5", "-c", "512", "--cpu-period", "100000", "--cpu-quota", "50000",
     "--cpuset-cpus", "0", "--cpuset-mems", "0", "--pids-limit", "50", "--blkio-weight", "300",
     "--device-read-bps", "/dev/sda:1mb", "--device-write-bps", "/dev/sda:2mb",
     "--device-read-iops", "/dev/sda:100", "--device-write-iops", "/dev/sda:200",
     "--ulimit", "nproc=100", "--ulimit", "nofile=1024:2048", "--shm-size", "128m",
     "--restart", "on-failure:3"],
    ["--cap-add", "net_raw", "--cap-add", "ALL", "--cap-drop", "chown", "--cap-add", "CAP_NET_ADMIN",
     "--privileged", "--security-opt", "no-new-privileges", "--security-opt", "label:disable",
     "--security-opt", "systempaths=unconfined", "--device", "/dev/null:/dev/mynull:rw",
     "--device", "/dev/zero", "--device", "/dev/full:r", "--sysctl", "net.ipv4.ip_forward=1",
     "--sysctl", "kernel.sem=1 2 3 4", "--ipc", "private", "--pid", "host", "--uts", "host",
     "--cgroupns", "private", "--group-add", "10", "--userns", "host"],
    ["--memory-swap", "-1", "--pids-limit", "-1", "--restart", "always", "--ipc", "container:x",
     "--pid", "container:y", "--cgroupns", "host", "--security-opt", "seccomp=unconfined"],
    [],  # the zero values docker sends when no flag is given
]

KEYS = ("Memory", "MemorySwap", "MemoryReservation", "OomKillDisable", "NanoCpus", "CpuShares",
        "CpuPeriod", "CpuQuota", "CpusetCpus", "CpusetMems", "PidsLimit", "BlkioWeight",
        "BlkioWeightDevice", "BlkioDeviceReadBps", "BlkioDeviceWriteBps", "BlkioDeviceReadIOps",
        "BlkioDeviceWriteIOps", "Ulimits", "ShmSize", "RestartPolicy", "Privileged", "CapAdd",
        "CapDrop", "SecurityOpt", "Devices", "Sysctls", "IpcMode", "PidMode", "UTSMode",
        "CgroupnsMode", "GroupAdd", "UsernsMode", "MaskedPaths", "ReadonlyPaths")


def _bodies(fake: FakeDaemon, flags: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    fake.route("POST", "/containers/create", reply(400, {"message": "recorded"}))
    subprocess.run([DOCKER, "-H", f"unix://{fake.sock}", "create", *flags, "busybox", "true"],
                   capture_output=True, timeout=30, check=False)
    assert cli("create", *flags, "busybox", "true") != 0
    creates = [r.json() for r in fake.requests if r.path.endswith("/containers/create")]
    assert len(creates) == 2, "both clients should have sent a create"
    return creates[0], creates[1]


@pytest.mark.skipif(not Path(DOCKER).exists(), reason="no stock docker CLI")
@pytest.mark.parametrize("flags", FLAGS)
def test_create_body_matches_the_docker_cli(fake: LinuxDaemon, flags: list[str]) -> None:
    theirs, ours = _bodies(fake, flags)
    assert {k: ours["HostConfig"].get(k) for k in KEYS} == {k: theirs["HostConfig"].get(k) for k in KEYS}


@pytest.mark.skipif(not Path(DOCKER).exists(), reason="no stock docker CLI")
def test_a_seccomp_profile_file_is_sent_as_its_json(fake: LinuxDaemon, tmp_path: Path) -> None:
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": []}, indent=2))
    theirs, ours = _bodies(fake, ["--security-opt", f"seccomp={profile}"])
    assert ours["HostConfig"]["SecurityOpt"] == theirs["HostConfig"]["SecurityOpt"] == [
        'seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[]}']


@pytest.mark.parametrize(("call", "message"), [
    (lambda: parse_cpus("1.0000000001"), "value is too precise"),
    (lambda: parse_throttle("sda:1mb", "--device-read-bps", iops=False), "bad format for device path"),
    (lambda: parse_throttle("/dev/sda:x", "--device-read-iops", iops=True), "invalid rate for device"),
    (lambda: parse_ulimit("nofile=5:3"), "soft limit must be less than or equal to hard limit: 5 > 3"),
    (lambda: parse_sysctls(["vm.swappiness=1"]), "sysctl 'vm.swappiness=1' is not allowed"),
    (lambda: parse_device("/dev/null:xyz"), "xyz is not an absolute path"),
    (lambda: parse_device("/dev/null:/dev/x:rw:z"), "bad format for path"),
    (lambda: parse_security_opts(["bogus"]), 'Invalid --security-opt: "bogus"'),
])
def test_bad_values_are_refused_with_the_docker_cli_message(call: Any, message: str) -> None:
    with pytest.raises(CliError, match=message):
        call()


def test_bad_namespace_modes_exit_125(fake: LinuxDaemon, capfd: pytest.CaptureFixture[str]) -> None:
    for flag, word in (("--uts", "UTS"), ("--cgroupns", "CGROUP"), ("--userns", "USER"),
                       ("--pid", "PID"), ("--ipc", "IPC")):
        assert cli("create", flag, "bogus", "busybox", "true") == 125
        assert f"{flag}: invalid {word} mode" in capfd.readouterr().err
    assert not [r for r in fake.requests if r.path.endswith("/containers/create")]


def test_caps_are_normalised_sorted_and_unique() -> None:
    assert normalize_caps(["net_raw", "ALL", "CAP_NET_ADMIN", "NET_RAW"]) == [
        "ALL", "CAP_NET_ADMIN", "CAP_NET_RAW"]
    assert normalize_caps([]) is None

"""``--icc=false``: no container-to-container traffic on the default bridge; published ports answer.
The same daemon carries the other daemon-wide container defaults (shm size, ulimits, DNS, --ip)."""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from conformance.daemon import Daemon
from conformance.fixtures import put_busybox
from conformance.subnets import spare_subnet

from remote.conftest import RemoteDaemon
from remote.sshd import free_port

POOL = spare_subnet("10.123.0.0/16")

pytestmark = [pytest.mark.root]


# A daemon-wide seccomp profile that refuses mkdir(2) (errno 1, EPERM) and allows the rest.
PROFILE = json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
    {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]})


@pytest.fixture(scope="module")
def no_icc(rootfs_tar: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    profile = tmp_path_factory.mktemp("seccomp") / "profile.json"
    profile.write_text(PROFILE)
    daemon = Daemon()
    daemon.extra_args = ["--seccomp-profile", str(profile), "--icc=false", "--default-shm-size",
                         "96m", "--default-ulimit", "nofile=1111:2222", "--dns", "10.9.9.9",
                         "--dns-search", "example.test", "--dns-opt", "ndots:3", "--ip", "127.0.0.1",
                         "--default-address-pool", f"base={POOL},size=24"]
    try:
        daemon.start()
        put_busybox(daemon, rootfs_tar)
        yield daemon
    finally:
        daemon.cleanup()


def _serve(daemon: Daemon, name: str, host_port: int) -> tuple[str, str]:
    """A container answering "pong" on 8080, published on ``host_port``; (its IP, the gateway)."""
    daemon.docker_ok("run", "-d", "--name", name, "-p", f"0.0.0.0:{host_port}:8080", "busybox",
                     "nc", "-ll", "-p", "8080", "-e", "echo", "pong")
    ip = daemon.docker_ok("inspect", "-f", "{{.NetworkSettings.IPAddress}}", name).strip()
    gateway = daemon.docker_ok("inspect", "-f", "{{.NetworkSettings.Gateway}}", name).strip()
    return ip, gateway


def _from_container(daemon: Daemon, ip: str, port: int) -> tuple[int, str]:
    code, out, _ = daemon.docker("run", "--rm", "busybox", "sh", "-c", f"echo x | nc -w 2 {ip} {port}")
    return code, out


def _from_host(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(b"x\n")
        return conn.recv(100)


def test_icc_false_blocks_containers_but_not_published_ports(no_icc: Daemon) -> None:
    options = json.loads(no_icc.docker_ok("network", "inspect", "bridge", "-f", "{{json .Options}}"))
    assert options["com.docker.network.bridge.enable_icc"] == "false"
    port = free_port()
    ip, gateway = _serve(no_icc, "icc-srv", port)
    try:
        code, out = _from_container(no_icc, ip, 8080)
        assert code != 0 and "pong" not in out
        assert _from_host(port).startswith(b"pong")
        code, out = _from_container(no_icc, gateway, port)  # through the published port
        assert "pong" in out, code
    finally:
        no_icc.docker("rm", "-f", "icc-srv")


def test_icc_default_lets_containers_talk(remote: RemoteDaemon) -> None:
    """The control: the same traffic passes on a daemon with the default --icc=true."""
    daemon = remote.daemon
    ip, _ = _serve(daemon, "icc-open", free_port())
    try:
        code, out = _from_container(daemon, ip, 8080)
        assert code == 0 and "pong" in out
    finally:
        daemon.docker("rm", "-f", "icc-open")


def test_daemon_wide_container_defaults(no_icc: Daemon) -> None:
    out = no_icc.docker_ok("run", "--rm", "busybox", "sh", "-c",
                           "cat /etc/resolv.conf; ulimit -n; ulimit -Hn; df -k /dev/shm")
    assert "nameserver 10.9.9.9" in out and "search example.test" in out and "ndots:3" in out
    assert "\n1111\n2222\n" in out
    assert "98304" in out  # 96 MiB of tmpfs, in KiB
    # A request's own values win over the daemon's.
    own = no_icc.docker_ok("run", "--rm", "--shm-size", "8m", "--ulimit", "nofile=500:600", "busybox",
                           "sh", "-c", "ulimit -n; df -k /dev/shm")
    assert own.startswith("500\n") and "8192" in own
    no_icc.docker_ok("run", "-d", "--name", "ip-default", "-p", "8080", "busybox", "sleep", "60")
    try:
        # As dockerd: only the shm size is written into HostConfig; the other daemon-wide
        # defaults apply at start (above) and show where they took effect.
        host = json.loads(no_icc.docker_ok("inspect", "-f", "{{json .HostConfig}}", "ip-default"))
        assert host["ShmSize"] == 96 * 1024 * 1024
        assert host["PortBindings"]["8080/tcp"][0]["HostIp"] == ""
        assert not host["Ulimits"] and not host["Dns"] and not host["DnsSearch"]
        assert not host["DnsOptions"] and not host["SecurityOpt"]
        ports = json.loads(no_icc.docker_ok("inspect", "-f", "{{json .NetworkSettings.Ports}}",
                                            "ip-default"))
        assert ports["8080/tcp"][0]["HostIp"] == "127.0.0.1"
    finally:
        no_icc.docker("rm", "-f", "ip-default")


def test_default_address_pool(no_icc: Daemon) -> None:
    bridge = no_icc.docker_ok("network", "inspect", "bridge", "-f", "{{(index .IPAM.Config 0).Subnet}}")
    first = next(POOL.subnets(new_prefix=24))
    assert bridge.strip() == str(first)
    no_icc.docker_ok("network", "create", "pooled")
    try:
        subnet = no_icc.docker_ok("network", "inspect", "pooled", "-f",
                                  "{{(index .IPAM.Config 0).Subnet}}").strip()
        picked = ipaddress.IPv4Network(subnet)
        assert picked.subnet_of(POOL) and picked.prefixlen == 24 and picked != first
    finally:
        no_icc.docker("network", "rm", "pooled")


def test_daemon_seccomp_profile(no_icc: Daemon) -> None:
    code, _, err = no_icc.docker("run", "--rm", "busybox", "mkdir", "/tmp/x")
    assert code != 0 and "Operation not permitted" in err
    no_icc.docker_ok("run", "--rm", "--security-opt", "seccomp=unconfined", "busybox", "mkdir", "/tmp/x")
    options = json.loads(no_icc.docker_ok("info", "--format", "{{json .SecurityOptions}}"))
    assert any(o.startswith("name=seccomp,profile=/") and o.endswith("profile.json") for o in options)


def test_unapplied_daemon_option_is_refused(tmp_path: Path) -> None:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "dockyard.daemon", "-H", f"unix://{tmp_path}/d.sock",
                           "--data-root", str(tmp_path / "data"), "--exec-root", str(tmp_path / "exec"),
                           "--live-restore=false"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "--live-restore=false is not supported" in proc.stderr
    assert not (tmp_path / "data").exists()

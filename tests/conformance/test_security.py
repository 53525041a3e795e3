"""Security options through the stock docker CLI: capabilities, no-new-privileges, seccomp, devices,
sysctls, namespace modes, and the daemon's --userns-remap and --no-new-privileges."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .daemon import Daemon
from .fixtures import put_busybox


def _status(daemon: Daemon, *args: str, field: str) -> str:
    out = daemon.docker_ok("run", "--rm", *args, "busybox", "grep", f"^{field}:", "/proc/self/status")
    return out.split(":", 1)[1].strip()


def test_cap_drop_chown_makes_chown_fail(daemon: Daemon) -> None:
    assert daemon.docker_ok("run", "--rm", "busybox", "sh", "-c", "chown 1 /tmp && echo ok").strip() == "ok"
    code, _, err = daemon.docker("run", "--rm", "--cap-drop", "CHOWN", "busybox", "chown", "1", "/tmp")
    assert code == 1
    assert "Operation not permitted" in err


def test_cap_drop_all_then_add_one(daemon: Daemon) -> None:
    eff = _status(daemon, "--cap-drop", "ALL", "--cap-add", "CHOWN", field="CapEff")
    assert int(eff, 16) == 1  # CAP_CHOWN is bit 0


def test_unknown_capability_is_refused(daemon: Daemon) -> None:
    code, _, err = daemon.docker("create", "--cap-add", "NOPE", "busybox", "true")
    assert code != 0
    assert 'unknown capability: "CAP_NOPE"' in err


def test_cap_add_sys_admin_allows_mount(daemon: Daemon) -> None:
    out = daemon.docker_ok("run", "--rm", "--cap-add", "SYS_ADMIN", "busybox", "sh", "-c",
                           "mount -t tmpfs t /tmp && echo mounted")
    assert "mounted" in out
    code, _, _ = daemon.docker("run", "--rm", "busybox", "mount", "-t", "tmpfs", "t", "/tmp")
    assert code != 0


def test_privileged_has_devices_and_no_seccomp(daemon: Daemon) -> None:
    out = daemon.docker_ok("run", "--rm", "--privileged", "busybox", "sh", "-c",
                           "grep ^Seccomp: /proc/self/status; mount -t tmpfs t /tmp && echo mounted;"
                           " ls /dev/fuse")
    assert "Seccomp:\t0" in out
    assert "mounted" in out
    assert "/dev/fuse" in out


def test_no_new_privileges_visible_in_status(daemon: Daemon) -> None:
    assert _status(daemon, field="NoNewPrivs") == "0"
    assert _status(daemon, "--security-opt", "no-new-privileges", field="NoNewPrivs") == "1"
    assert _status(daemon, "--security-opt", "no-new-privileges=true", field="NoNewPrivs") == "1"


def test_default_seccomp_filter_denies_user_namespaces(daemon: Daemon) -> None:
    assert _status(daemon, field="Seccomp") == "2"
    code, _, err = daemon.docker("run", "--rm", "busybox", "unshare", "-U", "true")
    assert code != 0
    assert "Operation not permitted" in err
    # Without the filter, an unprivileged user namespace is allowed by the kernel itself.
    code, _, err = daemon.docker("run", "--rm", "--security-opt", "seccomp=unconfined",
                                 "busybox", "unshare", "-U", "true")
    assert code == 0, err
    assert _status(daemon, "--security-opt", "seccomp=unconfined", field="Seccomp") == "0"


def test_seccomp_profile_file(daemon: Daemon, tmp_path: Path) -> None:
    profile = {"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(profile))
    code, _, err = daemon.docker("run", "--rm", "--security-opt", f"seccomp={path}", "busybox",
                                 "mkdir", "/made")
    assert code == 1
    assert "Operation not permitted" in err


def test_bad_security_opt_and_apparmor_accepted(daemon: Daemon) -> None:
    code, _, err = daemon.docker("create", "--security-opt", "nonsense=1", "busybox", "true")
    assert code != 0
    assert 'invalid --security-opt 2: "nonsense=1"' in err
    daemon.docker_ok("run", "--rm", "--security-opt", "apparmor=unconfined", "--security-opt",
                     "label=disable", "busybox", "true")


def test_device_and_missing_device(daemon: Daemon) -> None:
    out = daemon.docker_ok("run", "--rm", "--device", "/dev/fuse:/dev/myfuse", "busybox",
                           "ls", "-l", "/dev/myfuse")
    assert out.startswith("c") and "10, 229" in out
    code, _, err = daemon.docker("create", "--device", "/dev/does-not-exist", "busybox", "true")
    assert code != 0
    assert "error gathering device information" in err


def test_sysctl_namespaced(daemon: Daemon) -> None:
    out = daemon.docker_ok("run", "--rm", "--sysctl", "kernel.shmmax=123456", "--sysctl",
                           "net.ipv4.ip_forward=1", "busybox", "sh", "-c",
                           "cat /proc/sys/kernel/shmmax /proc/sys/net/ipv4/ip_forward")
    assert out.split() == ["123456", "1"]
    code, _, err = daemon.docker("create", "--network", "host", "--sysctl", "net.ipv4.ip_forward=1",
                                 "busybox", "true")
    assert code != 0
    assert "not allowed in host network namespace" in err


def test_pid_uts_ipc_host_and_group_add(daemon: Daemon) -> None:
    assert daemon.docker_ok("run", "--rm", "--uts", "host", "busybox", "hostname").strip() == \
        os.uname().nodename
    own_ipc = os.readlink("/proc/self/ns/ipc")
    assert daemon.docker_ok("run", "--rm", "--ipc", "host", "busybox", "readlink",
                            "/proc/self/ns/ipc").strip() == own_ipc
    assert daemon.docker_ok("run", "--rm", "busybox", "readlink", "/proc/self/ns/ipc").strip() != own_ipc
    # With the host's pid namespace, pid 1 is the host's init, not the container's command.
    assert daemon.docker_ok("run", "--rm", "--pid", "host", "busybox", "cat", "/proc/1/comm").strip() \
        != "cat"
    assert "groups=10,4242" in daemon.docker_ok("run", "--rm", "--group-add", "10", "--group-add",
                                                "4242", "busybox", "id")


def test_pid_and_ipc_of_another_container(daemon: Daemon, name: object) -> None:
    donor = f"donor-{os.getpid()}-{id(name)}"
    daemon.docker_ok("run", "-d", "--name", donor, "--ipc", "shareable", "busybox", "sleep", "60")
    try:
        out = daemon.docker_ok("run", "--rm", "--pid", f"container:{donor}", "--ipc",
                               f"container:{donor}", "busybox", "sh", "-c", "cat /proc/1/cmdline")
        assert out.replace("\0", " ").strip() == "sleep 60"
    finally:
        daemon.docker("rm", "-f", donor)


def test_info_lists_security_options(daemon: Daemon) -> None:
    options = json.loads(daemon.docker_ok("info", "-f", "{{json .SecurityOptions}}"))
    assert "name=seccomp,profile=builtin" in options
    assert "name=userns" not in options


# ---- daemon options ----
class _RemapDaemon(Daemon):
    """A daemon started with extra dockerd flags."""

    def __init__(self, flags: list[str]) -> None:
        super().__init__()
        self.flags = flags
        os.chmod(self.root, 0o711)  # the remapped root must be able to walk to the data root

    def start(self) -> None:
        argv = [sys.executable, "-m", "dockyard.daemon", "-H", f"unix://{self.sock}",
                "--data-root", str(self.data_root), "--exec-root", str(self.exec_root), *self.flags]
        with open(self.log_path, "ab") as log_file:
            self.proc = subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        import time

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not self._ping_ok():
            if self.proc.poll() is not None:
                raise RuntimeError(f"dockyardd exited:\n{self.log_tail()}")
            time.sleep(0.05)


@pytest.fixture
def remap_daemon(rootfs_tar: Path) -> Iterator[Daemon]:
    d = _RemapDaemon(["--userns-remap", "default", "--no-new-privileges"])
    try:
        d.start()
        put_busybox(d, rootfs_tar)
        yield d
    finally:
        d.cleanup()


def _subuid_start() -> int:
    for line in Path("/etc/subuid").read_text().splitlines():
        user, start, _ = line.split(":")
        if user == "dockremap":
            return int(start)
    raise AssertionError("no dockremap range in /etc/subuid")


@pytest.mark.slow
def test_userns_remap_and_daemon_no_new_privileges(remap_daemon: Daemon) -> None:
    d = remap_daemon
    options = json.loads(d.docker_ok("info", "-f", "{{json .SecurityOptions}}"))
    assert "name=userns" in options and "name=no-new-privileges" in options
    start = _subuid_start()
    cid = d.docker_ok("run", "-d", "busybox", "sh", "-c",
                      "touch /etc/written && grep NoNewPrivs /proc/self/status; sleep 60").strip()
    try:
        pid = int(d.docker_ok("inspect", "-f", "{{.State.Pid}}", cid).strip())
        host_uids = Path(f"/proc/{pid}/status").read_text().split("Uid:")[1].split("\n")[0].split()
        assert host_uids == [str(start)] * 4  # the container's root is an unprivileged host uid
        deadline = time.monotonic() + 10  # the process may not have printed yet
        while "NoNewPrivs:" not in d.docker_ok("logs", cid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "NoNewPrivs:\t1" in d.docker_ok("logs", cid)
    finally:
        d.docker("rm", "-f", cid)
    # --userns host opts out; privileged needs it.
    assert d.docker_ok("run", "--rm", "--userns", "host", "busybox", "cat",
                       "/proc/self/uid_map").split() == ["0", "0", "4294967295"]
    code, _, err = d.docker("create", "--privileged", "busybox", "true")
    assert code != 0 and "incompatible with user namespaces" in err

"""Confinement of a default container, attacked for real from inside as its root user.

Each attack Docker's defaults refuse (no CAP_SYS_ADMIN/SYS_MODULE/SYS_PTRACE, seccomp's default
profile, read-only /proc/sys and masked /proc files, the device cgroup, private namespaces) must
fail here too, and the host is checked afterwards: nothing mounted, sysctls unchanged, the other
container untraced, the daemon's socket and the host's /run unseen.

The seccomp-only calls (keyctl, add_key, unshare(CLONE_NEWUSER), finit_module, ptrace) are made by a
small static C probe built with ``gcc -static`` (scripts/deps/sec-api.apt) and copied in.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conformance.daemon import Daemon

from dockyard.core.runtime.seccomp import kernel_runs_x32

PROBE_C = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(int argc, char **argv) {
    long r;
    if (argc < 2) return 2;
    if (!strcmp(argv[1], "keyctl")) r = syscall(SYS_keyctl, 1 /* JOIN_SESSION_KEYRING */, "dyc");
    else if (!strcmp(argv[1], "add_key")) r = syscall(SYS_add_key, "user", "dyc", "x", 1, -3);
    else if (!strcmp(argv[1], "unshare-user")) r = unshare(CLONE_NEWUSER);
    else if (!strcmp(argv[1], "unshare-mount")) r = unshare(CLONE_NEWNS);
    else if (!strcmp(argv[1], "finit_module")) r = syscall(SYS_finit_module, 0, "", 0);
    else if (!strcmp(argv[1], "ptrace") && argc > 2) r = ptrace(PTRACE_ATTACH, atoi(argv[2]), 0, 0);
    else if (!strcmp(argv[1], "x32-getpid")) r = syscall(0x40000000L | SYS_getpid);
    else return 2;
    if (r < 0) { printf("refused: %s\n", strerror(errno)); return 1; }
    printf("allowed\n");
    return 0;
}
"""

Run = Callable[[str], tuple[int, str]]


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("gcc") is None:
        pytest.fail("gcc is missing: scripts/deps/sec-api.apt lists it (make deps)")
    work = tmp_path_factory.mktemp("probe")
    (work / "probe.c").write_text(PROBE_C)
    subprocess.run(["gcc", "-static", "-O2", "-o", str(work / "probe"), str(work / "probe.c")],
                   check=True, capture_output=True, timeout=120)
    return work / "probe"


@pytest.fixture(scope="module")
def attacker(daemon: Daemon, probe: Path) -> Iterator[str]:
    """A default container (root inside, nothing added) with the probe at /probe."""
    cid = daemon.docker_ok("run", "-d", "busybox", "sleep", "600").strip()
    daemon.docker_ok("cp", str(probe), f"{cid}:/probe")
    yield cid
    daemon.docker("rm", "-f", cid)


@pytest.fixture
def run(daemon: Daemon, attacker: str) -> Run:
    def sh(script: str) -> tuple[int, str]:
        code, out, err = daemon.docker("exec", attacker, "sh", "-c", script)
        return code, out + err
    return sh


def host_mounts() -> str:
    return Path("/proc/self/mountinfo").read_text()


def sysctl(name: str) -> str:
    return Path("/proc/sys", *name.split(".")).read_text()


@pytest.mark.parametrize("fstype", ["proc", "sysfs", "tmpfs"])
def test_mounting_is_refused(run: Run, fstype: str) -> None:
    target = f"/mnt/dyc-{uuid.uuid4().hex[:8]}"
    code, out = run(f"mkdir -p {target} && mount -t {fstype} {fstype} {target} && echo MOUNTED")
    assert code != 0 and "MOUNTED" not in out and "permission denied" in out.lower()
    code, out = run(f"mount --bind /proc {target} && echo MOUNTED; "
                    f"/probe unshare-mount")
    assert "MOUNTED" not in out and "refused: Operation not permitted" in out
    _, inside = run("cat /proc/self/mountinfo")
    assert target not in inside and target not in host_mounts()


@pytest.mark.parametrize(("name", "value"), [
    ("kernel.domainname", "pwned"), ("kernel.core_pattern", "|/tmp/pwn"),
    ("vm.overcommit_memory", "1"), ("net.ipv4.ip_default_ttl", "3"), ("kernel.hostname", "pwned"),
])
def test_proc_sys_is_read_only(run: Run, name: str, value: str) -> None:
    before = sysctl(name)
    path = "/proc/sys/" + name.replace(".", "/")
    code, out = run(f"echo '{value}' > {path} && echo WROTE")
    assert code != 0 and "WROTE" not in out
    code, out = run(f"sysctl -w {name}='{value}'")
    assert code != 0
    assert sysctl(name) == before


def test_proc_sysrq_trigger_and_remounting_proc_sys(run: Run) -> None:
    code, out = run("echo h > /proc/sysrq-trigger && echo WROTE")
    assert code != 0 and "WROTE" not in out
    code, out = run("mount -o remount,rw /proc/sys && echo REMOUNTED")
    assert code != 0 and "REMOUNTED" not in out
    _, mountinfo = run("cat /proc/self/mountinfo")
    assert any(line.split()[4] == "/proc/sys" and line.split()[5].startswith("ro")
               for line in mountinfo.splitlines())


def test_kernel_memory_is_out_of_reach(run: Run) -> None:
    # No /dev/mem or /dev/kmem in the container, and one made with mknod cannot be opened: the
    # device cgroup allows only the default devices.
    code, out = run("ls /dev/mem /dev/kmem /dev/port")
    assert code != 0
    code, out = run("mknod /tmp/mem c 1 1; mknod /tmp/disk b 253 0; "
                    "head -c 16 /tmp/mem | wc -c; head -c 16 /tmp/disk | wc -c")
    assert out.count("Operation not permitted") == 2
    # /proc/kcore is masked (bind of /dev/null) where the kernel has it; it reads as nothing.
    code, out = run("head -c 64 /proc/kcore 2>/dev/null | wc -c; head -c 64 /proc/keys | wc -c")
    assert out.split() == ["0", "0"]
    code, out = run("head -c 16 /proc/kmsg; dmesg")
    assert code != 0 and "Operation not permitted" in out


def test_loading_a_kernel_module_is_refused(run: Run) -> None:
    modules = Path("/proc/modules")
    before = modules.read_text() if modules.exists() else ""
    code, out = run("printf '\\177ELF' > /tmp/evil.ko; insmod /tmp/evil.ko; echo rc=$?; "
                    "modprobe dummy; echo rc=$?")
    assert "rc=0" not in out
    code, out = run("/probe finit_module")
    assert (code, out.strip()) == (1, "refused: Operation not permitted")
    assert (modules.read_text() if modules.exists() else "") == before


@pytest.mark.parametrize("call", ["unshare-user", "keyctl", "add_key"])
def test_seccomp_refuses(run: Run, call: str) -> None:
    code, out = run(f"/probe {call}")
    assert (code, out.strip()) == (1, "refused: Operation not permitted")


def test_an_x32_syscall_where_the_kernel_serves_none_is_killed(run: Run) -> None:
    # The filter names x32 only where the kernel runs x32 (core/runtime/seccomp.py); elsewhere
    # libseccomp kills a syscall of an architecture it does not name.
    code, out = run("/probe x32-getpid; echo rc=$?")
    if kernel_runs_x32():
        assert "allowed" in out
    else:
        assert "rc=159" in out, out  # 128 + SIGSYS


def test_seccomp_is_on_and_unshare_u_refused(run: Run) -> None:
    code, out = run("grep -E '^(Seccomp|CapEff):' /proc/self/status")
    fields = dict(line.split(":\t") for line in out.strip().splitlines())
    assert fields["Seccomp"] == "2"
    caps = int(fields["CapEff"], 16)
    for bit in (21, 16, 19, 17):  # SYS_ADMIN, SYS_MODULE, SYS_PTRACE, SYS_RAWIO
        assert not caps & (1 << bit)
    code, out = run("unshare -U true && echo UNSHARED")
    assert code != 0 and "UNSHARED" not in out


def test_ptrace_of_another_containers_process(daemon: Daemon, run: Run,
                                              container: Callable[..., str]) -> None:
    victim = container("busybox", "sleep", "600")
    pid = int(daemon.docker_ok("inspect", "-f", "{{.State.Pid}}", victim))
    code, out = run(f"/probe ptrace {pid}; ls /proc/{pid}/root")
    assert out.startswith("refused: No such process") and "No such file" in out
    # Nor by any PID the attacker can see: only its own namespace's processes are there.
    _, pids = run("ls /proc | grep -E '^[0-9]+$'")
    _, victim_cmd = run(f"cat /proc/{pid}/cmdline")
    assert str(pid) not in pids.split() and "sleep600" not in victim_cmd
    status = Path(f"/proc/{pid}/status").read_text()
    assert "\nTracerPid:\t0\n" in status
    assert daemon.docker_ok("inspect", "-f", "{{.State.Running}}", victim).strip() == "true"


def test_the_daemon_socket_and_host_run_are_unseen(daemon: Daemon, attacker: str, run: Run) -> None:
    canary = Path("/run") / f"dyc-canary-{uuid.uuid4().hex[:8]}"
    canary.write_text("host secret\n")
    try:
        _, out, err = daemon.docker(
            "exec", attacker, "sh", "-c",
            f"ls -la {daemon.sock} {daemon.root} {canary}; "
            f"find / -xdev \\( -name '{canary.name}' -o -name 'd.sock' -o -name 'docker.sock' "
            f"-o -name 'containerd.sock' \\) 2>/dev/null; "
            f"cat /proc/1/root{canary} /proc/*/root{canary} 2>/dev/null; echo END")
        assert err.count("No such file or directory") == 3
        assert out == "END\n"  # find found nothing, cat read nothing
        # nsenter into pid 1's namespaces reaches only the container itself.
        code, out = run(f"nsenter -t 1 -m -p -- ls {canary}")
        assert code != 0
    finally:
        canary.unlink()

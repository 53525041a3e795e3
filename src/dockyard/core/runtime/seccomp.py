"""Seccomp: Docker's default profile, and the rendering of a profile into the OCI ``linux.seccomp``.

A *profile* is Docker's JSON format (what ``--security-opt seccomp=profile.json`` sends): a default
action, the architectures (``archMap``), and rules, each of which may be conditional on the
container's capabilities (``includes``/``excludes`` ``caps``), on the architecture (``arches``) or on
the kernel (``minKernel``). *Rendering* resolves those conditions for one container and yields the
OCI object runc loads with libseccomp.

The default profile is an allow list: anything not named fails with EPERM. What it keeps out, and
why (the same reasoning as Docker's profile):

- namespace creation (``unshare``, ``setns``, ``clone``/``clone3`` with ``CLONE_NEW*`` flags) and
  filesystem mounting: the kernel's user-namespace code is a large attack surface, and a container
  that can make a user namespace regains every capability inside it. ``clone3`` cannot be filtered
  on its flags (they sit in a struct), so it answers ENOSYS and libc falls back to ``clone``.
- kernel modules, kexec, reboot, swap, clock setting, accounting, raw I/O ports, ``ptrace`` of other
  processes on old kernels, ``bpf``/``perf_event_open``, keyrings (not namespaced), ``userfaultfd``,
  ``io_uring`` and the obsolete syscalls nobody needs (``uselib``, ``nfsservctl``, ``sysfs``…).
- ``personality`` except the harmless domains (``PER_LINUX``, ``PER_LINUX32``, ``UNAME26``), and
  ``socket(AF_VSOCK)`` which reaches the hypervisor.

Each capability-gated group is allowed back when the container has the capability (``--cap-add``,
``--privileged``), so the profile never refuses what the capability set grants.

An ``archMap`` profile gets the native architecture and its sub-architectures, as in Docker, but
x32 only where the kernel runs x32 syscalls (``CONFIG_X86_X32_ABI``, and on by default or with
``syscall.x32=y``). Elsewhere an x32 syscall can only fail (ENOSYS), no x32 program can even be
executed, and its third of the filter cost runc about 6 ms at every start and exec here (bench/README.md,
tenth pass). Left out, such a syscall kills the process instead (SIGSYS): libseccomp's answer to an
architecture the filter does not name.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import json
import platform
from collections.abc import Sequence
from typing import Any

from dockyard.errors import InvalidArgument

EPERM = 1
ENOSYS = 38
AF_VSOCK = 40
# CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |
# CLONE_NEWNET: clone is allowed only when (flags & mask) == 0.
CLONE_NAMESPACE_FLAGS = 0x7E020000
# PER_LINUX, PER_LINUX32, UNAME26, UNAME26|PER_LINUX32, and 0xffffffff (query the persona).
_PERSONALITIES = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)

_ARCH_MAP: tuple[dict[str, Any], ...] = (
    {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
    {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
    {"architecture": "SCMP_ARCH_PPC64LE", "subArchitectures": ["SCMP_ARCH_PPC64", "SCMP_ARCH_PPC"]},
    {"architecture": "SCMP_ARCH_S390X", "subArchitectures": ["SCMP_ARCH_S390"]},
    {"architecture": "SCMP_ARCH_RISCV64", "subArchitectures": []},
)
# uname -m -> (libseccomp's native arch, Go's GOARCH as profiles name arches).
_NATIVE = {"x86_64": ("SCMP_ARCH_X86_64", "amd64"), "aarch64": ("SCMP_ARCH_AARCH64", "arm64"),
           "ppc64le": ("SCMP_ARCH_PPC64LE", "ppc64le"), "s390x": ("SCMP_ARCH_S390X", "s390x"),
           "riscv64": ("SCMP_ARCH_RISCV64", "riscv64")}

# Syscalls every container may make: files, memory, processes and signals, time reading, sockets
# (socket itself is conditional below), IPC inside its own namespace, and the 32-bit variants.
_ALLOWED = """
accept accept4 access adjtimex alarm bind brk cachestat capget capset chdir chmod chown chown32
clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64
clock_nanosleep clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2
dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait
epoll_wait_old eventfd eventfd2 execve execveat exit exit_group faccessat faccessat2 fadvise64
fadvise64_64 fallocate fanotify_mark fchdir fchmod fchmodat fchmodat2 fchown fchown32 fchownat
fcntl fcntl64 fdatasync fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat fstat64
fstatat64 fstatfs fstatfs64 fsync ftruncate ftruncate64 futex futex_requeue futex_time64
futex_wait futex_waitv futex_wake futimesat getcpu getcwd getdents getdents64 getegid getegid32
geteuid geteuid32 getgid getgid32 getgroups getgroups32 getitimer getpeername getpgid getpgrp
getpid getppid getpriority getrandom getresgid getresgid32 getresuid getresuid32 getrlimit
get_robust_list getrusage getsid getsockname getsockopt get_thread_area gettid gettimeofday getuid
getuid32 getxattr inotify_add_watch inotify_init inotify_init1 inotify_rm_watch io_cancel ioctl
io_destroy io_getevents io_pgetevents io_pgetevents_time64 ioprio_get ioprio_set io_setup
io_submit ipc kill landlock_add_rule landlock_create_ruleset landlock_restrict_self lchown
lchown32 lgetxattr link linkat listen listxattr llistxattr _llseek lremovexattr lseek lsetxattr
lstat lstat64 madvise map_shadow_stack membarrier memfd_create memfd_secret mincore mkdir mkdirat
mknod mknodat mlock mlock2 mlockall mmap mmap2 mprotect mq_getsetattr mq_notify mq_open
mq_timedreceive mq_timedreceive_time64 mq_timedsend mq_timedsend_time64 mq_unlink mremap msgctl
msgget msgrcv msgsnd msync munlock munlockall munmap name_to_handle_at nanosleep newfstatat
_newselect open openat openat2 pause pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc pkey_free
pkey_mprotect poll ppoll ppoll_time64 prctl pread64 preadv preadv2 prlimit64 process_mrelease
pselect6 pselect6_time64 pwrite64 pwritev pwritev2 read readahead readlink readlinkat readv recv
recvfrom recvmmsg recvmmsg_time64 recvmsg remap_file_pages removexattr rename renameat renameat2
restart_syscall rmdir rseq rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn
rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_getaffinity
sched_getattr sched_getparam sched_get_priority_max sched_get_priority_min sched_getscheduler
sched_rr_get_interval sched_rr_get_interval_time64 sched_setaffinity sched_setattr
sched_setparam sched_setscheduler sched_yield seccomp select semctl semget semop semtimedop
semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg sendto setfsgid setfsgid32 setfsuid
setfsuid32 setgid setgid32 setgroups setgroups32 setitimer setpgid setpriority setregid
setregid32 setresgid setresgid32 setresuid setresuid32 setreuid setreuid32 setrlimit
set_robust_list setsid setsockopt set_thread_area set_tid_address setuid setuid32 setxattr shmat
shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4 sigprocmask sigreturn socketcall
socketpair splice stat stat64 statfs statfs64 statx symlink symlinkat sync sync_file_range
syncfs sysinfo tee tgkill time timer_create timer_delete timer_getoverrun timer_gettime
timer_gettime64 timer_settime timer_settime64 timerfd_create timerfd_gettime timerfd_gettime64
timerfd_settime timerfd_settime64 times tkill truncate truncate64 ugetrlimit umask uname unlink
unlinkat utime utimensat utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid write writev
""".split()

# Allowed back with a capability: (capability, syscalls it needs).
_CAPABILITY_GROUPS: tuple[tuple[str, str], ...] = (
    ("CAP_SYS_ADMIN", "bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie "
                      "mount mount_setattr move_mount open_tree perf_event_open quotactl quotactl_fd "
                      "setdomainname sethostname setns syslog umount umount2 unshare"),
    ("CAP_SYS_BOOT", "reboot"),
    ("CAP_SYS_CHROOT", "chroot"),
    ("CAP_SYS_MODULE", "delete_module init_module finit_module"),
    ("CAP_SYS_PACCT", "acct"),
    ("CAP_SYS_PTRACE", "kcmp pidfd_getfd process_madvise process_vm_readv process_vm_writev ptrace"),
    ("CAP_SYS_RAWIO", "iopl ioperm"),
    ("CAP_SYS_TIME", "settimeofday stime clock_settime clock_settime64"),
    ("CAP_SYS_TTY_CONFIG", "vhangup"),
    ("CAP_SYS_NICE", "get_mempolicy mbind set_mempolicy set_mempolicy_home_node"),
    ("CAP_SYSLOG", "syslog"),
    ("CAP_BPF", "bpf"),
    ("CAP_PERFMON", "perf_event_open"),
)


def _rule(names: str | list[str], action: str = "SCMP_ACT_ALLOW", **extra: Any) -> dict[str, Any]:
    return {"names": names.split() if isinstance(names, str) else names, "action": action, **extra}


def _conditional_rules() -> list[dict[str, Any]]:
    no_admin = {"caps": ["CAP_SYS_ADMIN"]}
    return [
        # ptrace of one's own children is safe once the kernel stopped seccomp bypasses (4.8).
        _rule("process_vm_readv process_vm_writev ptrace", includes={"minKernel": "4.8"}),
        _rule("socket", args=[{"index": 0, "value": AF_VSOCK, "op": "SCMP_CMP_NE"}]),
        *(_rule("personality", args=[{"index": 0, "value": p, "op": "SCMP_CMP_EQ"}])
          for p in _PERSONALITIES),
        _rule("arch_prctl", includes={"arches": ["amd64", "x32"]}),
        _rule("modify_ldt", includes={"arches": ["amd64", "x32", "x86"]}),
        _rule("sync_file_range2 arm_fadvise64_64 arm_sync_file_range breakpoint cacheflush set_tls",
              includes={"arches": ["arm", "arm64"]}),
        _rule("s390_pci_mmio_read s390_pci_mmio_write s390_runtime_instr",
              includes={"arches": ["s390", "s390x"]}),
        _rule("riscv_flush_icache", includes={"arches": ["riscv64"]}),
        # Without CAP_SYS_ADMIN: threads and forks, but no new namespaces.
        _rule("clone", args=[{"index": 0, "value": CLONE_NAMESPACE_FLAGS, "valueTwo": 0,
                              "op": "SCMP_CMP_MASKED_EQ"}],
              excludes={"caps": ["CAP_SYS_ADMIN"], "arches": ["s390", "s390x"]}),
        _rule("clone", args=[{"index": 1, "value": CLONE_NAMESPACE_FLAGS, "valueTwo": 0,
                              "op": "SCMP_CMP_MASKED_EQ"}],
              excludes=no_admin, includes={"arches": ["s390", "s390x"]}),
        _rule("clone3", "SCMP_ACT_ERRNO", errnoRet=ENOSYS, excludes=no_admin),
    ]


def default_profile() -> dict[str, Any]:
    """Docker's default profile, in Docker's profile format (see the module docstring)."""
    syscalls = [_rule(list(_ALLOWED)), *_conditional_rules()]
    syscalls.extend(_rule(names, includes={"caps": [cap]}) for cap, names in _CAPABILITY_GROUPS)
    return {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": EPERM,
            "archMap": [dict(a) for a in _ARCH_MAP], "syscalls": syscalls}


def parse_profile(text: str) -> dict[str, Any]:
    """A user's profile (the JSON the CLI read from ``seccomp=<file>``)."""
    try:
        profile = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidArgument(f"Decoding seccomp profile failed: {exc}") from exc
    if not isinstance(profile, dict):
        raise InvalidArgument("Decoding seccomp profile failed: not a JSON object")
    if profile.get("architectures") and profile.get("archMap"):
        raise InvalidArgument("'architectures' and 'archMap' were specified in the seccomp profile, "
                              "use either 'architectures' or 'archMap'")
    return profile


def _kernel_at_least(kernel: tuple[int, int], wanted: str) -> bool:
    major, _, minor = wanted.partition(".")
    return kernel >= (int(major), int(minor or 0))


def _applies(rule: dict[str, Any], caps: set[str], arch: str, kernel: tuple[int, int]) -> bool:
    includes = rule.get("includes") or {}
    excludes = rule.get("excludes") or {}
    if not set(includes.get("caps") or ()) <= caps:
        return False
    if includes.get("arches") and arch not in includes["arches"]:
        return False
    if includes.get("minKernel") and not _kernel_at_least(kernel, str(includes["minKernel"])):
        return False
    if caps & set(excludes.get("caps") or ()):
        return False
    return arch not in (excludes.get("arches") or ())


_X32_SYSCALL_BIT = 0x40000000
_GETPID = 39  # in the x86_64 and x32 tables alike


@functools.cache
def kernel_runs_x32() -> bool:
    """Whether this kernel serves x32 syscalls: an x32 getpid answers, or fails with ENOSYS."""
    if platform.machine() != "x86_64":
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    if libc.syscall(ctypes.c_long(_X32_SYSCALL_BIT | _GETPID)) >= 0:
        return True
    return ctypes.get_errno() != errno.ENOSYS


def _architectures(profile: dict[str, Any], machine: str, x32: bool) -> list[str]:
    if profile.get("architectures"):
        return [str(a) for a in profile["architectures"]]
    native = _NATIVE.get(machine, ("", ""))[0]
    for entry in profile.get("archMap") or ():
        if entry.get("architecture") == native:
            subs = [str(a) for a in entry.get("subArchitectures") or ()]
            return [native, *(a for a in subs if x32 or a != "SCMP_ARCH_X32")]
    return []


def _oci_rule(rule: dict[str, Any]) -> dict[str, Any]:
    names = rule.get("names") or ([rule["name"]] if rule.get("name") else [])
    out: dict[str, Any] = {"names": list(names), "action": rule["action"]}
    if rule.get("errnoRet") is not None:
        out["errnoRet"] = int(rule["errnoRet"])
    if rule.get("args"):
        out["args"] = [{"index": int(a["index"]), "value": int(a.get("value", 0)),
                        "valueTwo": int(a.get("valueTwo", 0)), "op": a["op"]} for a in rule["args"]]
    return out


def render(profile: dict[str, Any], *, capabilities: Sequence[str], machine: str | None = None,
           kernel: tuple[int, int] | None = None, x32: bool | None = None) -> dict[str, Any]:
    """The OCI ``linux.seccomp`` object of ``profile`` for a container with ``capabilities``.
    ``machine`` and ``kernel`` default to this host's; ``x32`` (whether x32 syscalls are served)
    too, and is taken as true for a named machine."""
    if x32 is None:
        x32 = kernel_runs_x32() if machine is None else True
    machine = machine or platform.machine()
    kernel = kernel or _running_kernel()
    arch = _NATIVE.get(machine, ("", machine))[1]
    caps = set(capabilities)
    if "defaultAction" not in profile:
        raise InvalidArgument("Decoding seccomp profile failed: defaultAction is required")
    seccomp: dict[str, Any] = {"defaultAction": profile["defaultAction"]}
    if profile.get("defaultErrnoRet") is not None:
        seccomp["defaultErrnoRet"] = int(profile["defaultErrnoRet"])
    architectures = _architectures(profile, machine, x32)
    if architectures:
        seccomp["architectures"] = architectures
    seccomp["syscalls"] = [_oci_rule(rule) for rule in profile.get("syscalls") or ()
                           if _applies(rule, caps, arch, kernel)]
    return seccomp


def _running_kernel() -> tuple[int, int]:
    release = platform.release().split("-")[0].split(".")
    try:
        return int(release[0]), int(release[1])
    except (IndexError, ValueError):
        return (0, 0)

"""``dockyardd --cgroup-favordynmods`` remounts the host's cgroup2 with the option, keeps the
mount's other options, and containers run; the mount's options are put back afterwards.

Linux 6.18 keeps the cheap per-process migration lock once the option has been on, whatever the
mount says later: that part of the change is the kernel's, until reboot, and only makes moving a
process into a cgroup faster."""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.backends.cgroups import FAVOR_DYNMODS, cgroup2_mount

from .daemon import Daemon
from .images import busybox_rootfs_tar

_MS_REMOUNT = 32
_MOUNT_FLAGS = {"ro": 1, "nosuid": 2, "nodev": 4, "noexec": 8, "noatime": 1024, "nodiratime": 2048,
                "relatime": 1 << 21}


def _per_mount_options(target: Path) -> tuple[str, ...]:
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        if Path(fields[4]) == target:
            return tuple(fields[5].split(","))
    raise AssertionError(f"{target} is not mounted")


def _remount(target: Path, super_options: tuple[str, ...], mount_options: tuple[str, ...]) -> None:
    """mount(2) itself: mount(8) merges the options it finds, so it cannot drop one."""
    flags = _MS_REMOUNT
    for option in mount_options:
        flags |= _MOUNT_FLAGS.get(option, 0)
    data = ",".join(o for o in super_options if o not in ("rw", "ro"))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mount(None, str(target).encode(), None, flags, data.encode()) != 0:
        raise OSError(ctypes.get_errno(), f"remount {target}")


@pytest.fixture
def cgroup2() -> Iterator[tuple[Path, tuple[str, ...]]]:
    found = cgroup2_mount()
    if found is None:
        pytest.skip("this host has no cgroup2 mount")
    target, options = found
    per_mount = _per_mount_options(target)
    if FAVOR_DYNMODS in options:
        _remount(target, tuple(o for o in options if o != FAVOR_DYNMODS), per_mount)
        assert FAVOR_DYNMODS not in (cgroup2_mount() or (target, ()))[1]
    try:
        yield target, tuple(o for o in options if o != FAVOR_DYNMODS)
    finally:
        _remount(target, options, per_mount)


def test_the_daemon_sets_the_option_and_keeps_the_others(cgroup2: tuple[Path, tuple[str, ...]],
                                                         tmp_path: Path) -> None:
    target, before = cgroup2
    per_mount = _per_mount_options(target)
    d = Daemon()
    d.extra_args = ["--cgroup-favordynmods"]
    try:
        d.start()
        after = cgroup2_mount()
        assert after is not None and after[0] == target
        assert FAVOR_DYNMODS in after[1]
        assert set(before) <= set(after[1]), f"options lost: {set(before) - set(after[1])}"
        assert _per_mount_options(target) == per_mount
        rootfs = tmp_path / "rootfs.tar"
        rootfs.write_bytes(busybox_rootfs_tar())
        d.docker_ok("import", "-c", 'CMD ["sh"]', str(rootfs), "busybox:latest")
        assert d.docker_ok("run", "--rm", "busybox", "cat", "/proc/self/cgroup").strip()
    finally:
        d.cleanup()

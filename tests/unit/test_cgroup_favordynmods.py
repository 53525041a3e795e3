"""Finding the cgroup2 mount and refusing ``--cgroup-favordynmods`` where it cannot apply."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.backends.cgroups import cgroup2_mount, favor_dynmods
from dockyard.daemon import _parse_args
from dockyard.errors import Unavailable

HYBRID = """\
25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
31 25 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
32 31 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
33 31 0:28 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,memory
"""
V1_ONLY = """\
31 25 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
33 31 0:28 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,memory
"""


def _mountinfo(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mountinfo"
    path.write_text(text)
    return path


def test_the_cgroup2_mount_of_a_hybrid_host(tmp_path: Path) -> None:
    assert cgroup2_mount(_mountinfo(tmp_path, HYBRID)) == (Path("/sys/fs/cgroup/unified"),
                                                           ("rw", "nsdelegate"))


def test_a_mount_point_with_a_space(tmp_path: Path) -> None:
    line = "40 31 0:29 / /mnt/cg\\040two rw,relatime - cgroup2 none rw,favordynmods\n"
    assert cgroup2_mount(_mountinfo(tmp_path, line)) == (Path("/mnt/cg two"), ("rw", "favordynmods"))


def test_refused_without_a_cgroup2_mount(tmp_path: Path) -> None:
    with pytest.raises(Unavailable, match="needs a cgroup2 mount, and this host has none"):
        favor_dynmods(_mountinfo(tmp_path, V1_ONLY))


def test_already_set_is_left_as_it_is(tmp_path: Path) -> None:
    # No remount is tried (it would fail on this made-up mount point): the option is there.
    info = _mountinfo(tmp_path, HYBRID.replace("cgroup2 rw,nsdelegate", "cgroup2 rw,nsdelegate,favordynmods"))
    assert favor_dynmods(info) == Path("/sys/fs/cgroup/unified")


def test_flag_and_daemon_json(tmp_path: Path) -> None:
    assert _parse_args([])[0].cgroup_favordynmods is False
    assert _parse_args(["--cgroup-favordynmods"])[0].cgroup_favordynmods is True
    path = tmp_path / "daemon.json"
    path.write_text('{"cgroup-favordynmods": true}')
    assert _parse_args(["--config-file", str(path)])[0].cgroup_favordynmods is True

"""Which foreign platforms binfmt_misc can run, and the refusal of the others."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.core.distribution.model import Platform
from dockyard.core.runtime.emulation import check_runnable, emulated
from dockyard.errors import InvalidArgument

AMD64 = Platform("linux", "amd64")
ARM64 = Platform("linux", "arm64")


def _entry(root: Path, name: str, state: str, flags: str) -> None:
    (root / name).write_text(f"{state}\ninterpreter /usr/bin/{name}-static\nflags: {flags}\noffset 0\n")


def test_only_enabled_entries_that_fix_their_binary_count(tmp_path: Path) -> None:
    _entry(tmp_path, "qemu-aarch64", "enabled", "POF")
    _entry(tmp_path, "qemu-arm", "enabled", "P")  # no F: useless inside a container's rootfs
    _entry(tmp_path, "qemu-s390x", "disabled", "F")
    assert emulated(tmp_path) == ["linux/arm64"]


def test_foreign_platform_without_emulator_is_refused(tmp_path: Path) -> None:
    check_runnable(AMD64, AMD64, tmp_path)
    with pytest.raises(InvalidArgument, match="no emulator is registered"):
        check_runnable(ARM64, AMD64, tmp_path)
    _entry(tmp_path, "qemu-aarch64", "enabled", "F")
    check_runnable(ARM64, AMD64, tmp_path)
    with pytest.raises(InvalidArgument, match="operating system"):
        check_runnable(Platform("windows", "amd64"), AMD64, tmp_path)

"""Snapshots: unpacked layers and container root filesystems (containerd's model).

A committed snapshot has a *name* (the ChainID of the layers it holds) and is read-only, shared by
every image and container above it. An active snapshot has a *key* (a container ID, or a temporary
key while a layer is unpacked) and a writable upper directory. ``parent`` names the committed
snapshot below.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Mount:
    """One mount(2) call: what a runtime or the daemon performs to assemble a root filesystem."""

    type: str  # "overlay" or "bind"
    source: str
    options: tuple[str, ...]


class Snapshotter(Protocol):
    """Stores layers as directories and assembles them into root filesystems."""

    def prepare(self, key: str, parent: str | None) -> list[Mount]:
        """Create an active snapshot ``key`` on top of committed ``parent``; return its mounts."""
        ...

    def upper_dir(self, key: str) -> Path:
        """The writable directory of active ``key``: where a layer is unpacked or changes land."""
        ...

    def commit(self, name: str, key: str) -> None:
        """Turn active ``key`` into committed ``name``; ``key`` ceases to exist."""
        ...

    def mounts(self, key: str) -> list[Mount]:
        """The mounts of an existing active snapshot."""
        ...

    def remove(self, key_or_name: str) -> None:
        """Remove a snapshot; removing one that does not exist is not an error."""
        ...

    def exists(self, key_or_name: str) -> bool: ...

    def parent_dirs(self, key: str) -> list[Path]:
        """The read-only directories under ``key``, topmost first (for diffs and copy-up)."""
        ...


class Mounter(Protocol):
    """Performs the mounts a snapshotter describes (mount(2) in production)."""

    def mount(self, mounts: Sequence[Mount], target: Path) -> None:
        """Mount ``mounts`` at ``target`` (which exists); an error leaves nothing mounted."""
        ...

    def unmount(self, target: Path) -> None:
        """Unmount ``target``; unmounting what is not mounted is not an error."""
        ...

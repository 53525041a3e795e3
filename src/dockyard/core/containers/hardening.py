"""The container side of core/runtime/security.py: peer containers, ``--group-add`` and the
remapped rootfs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from dockyard.config import DaemonConfig
from dockyard.core.containers.model import Container, State
from dockyard.core.layers.snapshots import Mount
from dockyard.core.runtime.model import SecuritySpec
from dockyard.core.runtime.security import resolve
from dockyard.core.runtime.userns import UsernsRemap, remapped_mounts
from dockyard.core.runtime.users import _find_group, _parse_group, _read_lines


def group_gids(rootfs: Path, groups: list[str]) -> tuple[int, ...]:
    """``--group-add``: names from the container's /etc/group, or numbers (Docker's rules)."""
    entries = _parse_group(_read_lines(rootfs, "/etc/group") or [])
    return tuple(_find_group(entries, group) for group in groups)


def security_of(container: Container, rootfs: Path, lookup: Callable[[str], Container],
                config: DaemonConfig, remap: UsernsRemap | None) -> SecuritySpec:
    """The container's security options at start."""
    def peer(ref: str) -> tuple[str, int, str]:
        other = lookup(ref)
        running = other.state == State.RUNNING and other.pid
        return other.id, other.pid if running else 0, str(other.host.raw.get("IpcMode") or "")

    return resolve(container.host.raw, peer=peer, default_nnp=config.no_new_privileges,
                   remap=remap, group_gids=lambda groups: group_gids(rootfs, groups))


def remap_of(container: Container, remap: UsernsRemap | None) -> UsernsRemap | None:
    """The remapping the container runs under: none with ``--userns host``."""
    return None if container.host.raw.get("UsernsMode") == "host" else remap


def rootfs_mounts(container: Container, mounts: Sequence[Mount], config: DaemonConfig,
                  remap: UsernsRemap | None) -> list[Mount]:
    """The mounts of the container's rootfs: shifted layers when its root is remapped."""
    if remap is None or container.host.raw.get("UsernsMode") == "host":
        return list(mounts)
    return remapped_mounts(mounts, data_root=config.data_root, remap=remap)

"""The volume-driver interface: what the volume service asks of ``local`` and of a plugin alike.

moby's ``volume.Driver``: a driver makes and removes a volume's storage, mounts it for a user (a
container, named by an opaque *ref*) and says where it is. The service keeps the record (name,
driver, labels, options) in its database whichever the driver; the plugin keeps the data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from dockyard.core.volumes.model import Volume

LOCAL_SCOPE = "local"
GLOBAL_SCOPE = "global"


class VolumeDriver(Protocol):
    name: str

    def check_options(self, options: dict[str, str]) -> None:
        """Refuse options the driver does not take (``local``: Docker's four; plugins: any)."""
        ...

    async def create(self, volume: Volume) -> None: ...

    async def remove(self, volume: Volume) -> None: ...

    async def mount(self, volume: Volume, ref: str) -> Path:
        """Make the volume's data available for ``ref``; the host directory to bind."""
        ...

    async def unmount(self, volume: Volume, ref: str) -> None: ...

    async def describe(self, volume: Volume) -> Volume:
        """The volume as inspect shows it now (a plugin's Mountpoint, Status and Scope)."""
        ...


class PluginVolumes(Protocol):
    """What a plugin driver adds: volumes it knows that the daemon may not (``List``/``Get``)."""

    name: str

    async def listed(self) -> list[dict[str, Any]]: ...

    async def lookup(self, name: str) -> dict[str, Any] | None: ...

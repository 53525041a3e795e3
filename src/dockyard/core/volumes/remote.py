"""A volume driver that is a plugin: moby's ``volume/drivers`` adapter over the VolumeDriver
protocol (``VolumeDriver.Create {Name, Opts}``, ``.Remove``, ``.Mount {Name, ID}`` →
``Mountpoint``, ``.Unmount``, ``.Path``, ``.Get``, ``.List``, ``.Capabilities``).

moby's timeouts: two minutes for Create/Remove/Mount/Unmount, one for the rest.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from dockyard.core.plugins.registry import Plugin, PluginError, PluginUnreachable
from dockyard.core.volumes.drivers import GLOBAL_SCOPE, LOCAL_SCOPE
from dockyard.core.volumes.model import Volume

log = logging.getLogger(__name__)

LONG_TIMEOUT = 120.0
SHORT_TIMEOUT = 60.0


class PluginDriver:
    def __init__(self, plugin: Plugin) -> None:
        self.plugin = plugin
        self.name = plugin.name
        self._scope: str | None = None

    def check_options(self, options: dict[str, str]) -> None:
        """Any option: the plugin judges its own (its Create's Err says what is wrong)."""

    async def create(self, volume: Volume) -> None:
        # moby asks Get first: a volume the plugin already has is adopted, not created again.
        if await self.lookup(volume.name) is not None:
            return
        await self.plugin.call("VolumeDriver.Create", {"Name": volume.name, "Opts": volume.options},
                               timeout=LONG_TIMEOUT)

    async def remove(self, volume: Volume) -> None:
        await self.plugin.call("VolumeDriver.Remove", {"Name": volume.name}, timeout=LONG_TIMEOUT)

    async def mount(self, volume: Volume, ref: str) -> Path:
        reply = await self.plugin.call("VolumeDriver.Mount", {"Name": volume.name, "ID": ref},
                                       timeout=LONG_TIMEOUT)
        path = str(reply.get("Mountpoint") or "")
        # The path is bind-mounted into the container: it must be an absolute, existing directory
        # on this host, or the runtime would bind whatever it finds (or fail half-way).
        if not path.startswith("/") or not await asyncio.to_thread(os.path.isdir, path):
            await self._unmount_quietly(volume, ref)
            raise PluginError(f"VolumeDriver.Mount: mount point {path!r} returned by plugin {self.name} "
                              "is not a directory")
        return Path(path)

    async def _unmount_quietly(self, volume: Volume, ref: str) -> None:
        try:
            await self.unmount(volume, ref)
        except PluginError as exc:
            log.warning("unmount of volume %s after a refused mount: %s", volume.name, exc)

    async def unmount(self, volume: Volume, ref: str) -> None:
        await self.plugin.call("VolumeDriver.Unmount", {"Name": volume.name, "ID": ref},
                               timeout=LONG_TIMEOUT)

    async def describe(self, volume: Volume) -> Volume:
        found = await self.lookup(volume.name)
        if found is None:
            return replace(volume, scope=await self.scope())
        status = found.get("Status")
        return replace(volume, mountpoint=Path(str(found.get("Mountpoint") or "")),
                       status=dict(status) if isinstance(status, dict) else None,
                       scope=await self.scope())

    async def lookup(self, name: str) -> dict[str, Any] | None:
        """The plugin's ``Get``; None when it has no such volume. A plugin that cannot be reached
        is an error (moby's lookupVolume: only communication errors are)."""
        try:
            reply = await self.plugin.call("VolumeDriver.Get", {"Name": name}, timeout=SHORT_TIMEOUT)
        except PluginUnreachable:
            raise
        except PluginError as exc:
            log.debug("plugin %s: Get %s: %s", self.name, name, exc)
            return None
        found = reply.get("Volume")
        return dict(found) if isinstance(found, dict) else None

    async def listed(self) -> list[dict[str, Any]]:
        reply = await self.plugin.call("VolumeDriver.List", {}, timeout=SHORT_TIMEOUT)
        return [dict(v) for v in reply.get("Volumes") or () if isinstance(v, dict) and v.get("Name")]

    async def scope(self) -> str:
        """``Capabilities.Scope`` (``local`` or ``global``), asked once; optional, as in moby."""
        if self._scope is None:
            try:
                reply = await self.plugin.call("VolumeDriver.Capabilities", {}, timeout=SHORT_TIMEOUT)
            except PluginError as exc:
                log.debug("plugin %s: no capabilities (%s): local scope", self.name, exc)
                return LOCAL_SCOPE
            scope = str((reply.get("Capabilities") or {}).get("Scope") or LOCAL_SCOPE).lower()
            if scope not in (LOCAL_SCOPE, GLOBAL_SCOPE):
                log.warning("volume plugin %s returned an invalid scope %r", self.name, scope)
                scope = LOCAL_SCOPE
            self._scope = scope
        return self._scope

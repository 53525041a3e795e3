"""The volume plugins the service knows: each one's driver, found by name in the plugin registry,
and the plugins' own view of their volumes merged with the daemon's records (moby's volume store
``list``: a plugin lists its volumes; one that cannot keeps the daemon's records and adds a warning).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from dockyard.core.plugins.registry import VOLUME_DRIVER, PluginRegistry
from dockyard.core.volumes.model import LOCAL_DRIVER, Volume
from dockyard.core.volumes.remote import PluginDriver
from dockyard.errors import DockyardError, NotFound

log = logging.getLogger(__name__)


class PluginDrivers:
    def __init__(self, plugins: PluginRegistry | None) -> None:
        self._plugins = plugins
        self._drivers: dict[str, PluginDriver] = {}

    async def get(self, name: str) -> PluginDriver:
        if self._plugins is None:
            raise NotFound(f'error looking up volume plugin {name}: plugin "{name}" not found')
        try:
            plugin = await self._plugins.get(name, VOLUME_DRIVER)
        except NotFound as exc:
            raise NotFound(f"error looking up volume plugin {name}: {exc}") from exc
        driver = self._drivers.get(plugin.name)
        if driver is None or driver.plugin is not plugin:
            driver = self._drivers[plugin.name] = PluginDriver(plugin)
        return driver

    async def names(self) -> list[str]:
        """The volume plugins found now (``docker info``'s Plugins.Volume after ``local``)."""
        return [] if self._plugins is None else await self._plugins.names(VOLUME_DRIVER)

    async def probe(self, name: str) -> Volume | None:
        """A volume no record names: the first plugin whose ``Get`` knows it (moby probes all)."""
        for plugin_name in await self.names():
            try:
                driver = await self.get(plugin_name)
                found = await driver.lookup(name)
            except DockyardError as exc:
                log.debug("probing plugin %s for volume %s: %s", plugin_name, name, exc)
                continue
            if found is not None:
                return await driver.describe(Volume(
                    name=name, driver=driver.name, created_at=str(found.get("CreatedAt") or ""),
                    mountpoint=Path(str(found.get("Mountpoint") or ""))))
        return None

    async def merge(self, records: list[Volume]) -> tuple[list[Volume], list[str]]:
        """The records of local volumes, and each plugin's ``List`` joined with the records."""
        result = [v for v in records if v.driver == LOCAL_DRIVER]
        by_driver: dict[str, dict[str, Volume]] = {}
        for volume in records:
            if volume.driver != LOCAL_DRIVER:
                by_driver.setdefault(volume.driver, {})[volume.name] = volume
        warnings: list[str] = []
        for name in sorted(set(by_driver) | set(await self.names())):
            known = by_driver.get(name, {})
            try:
                driver = await self.get(name)
                listed = await driver.listed()
                scope = await driver.scope()
            except DockyardError as exc:
                warnings.append(f"list {name}: {exc}")
                result.extend(known.values())
                continue
            for entry in listed:
                entry_name = str(entry["Name"])
                record = known.get(entry_name) or Volume(
                    name=entry_name, driver=driver.name, created_at=str(entry.get("CreatedAt") or ""),
                    mountpoint=Path())
                mountpoint = str(entry.get("Mountpoint") or "")
                result.append(replace(record, scope=scope,
                                      mountpoint=Path(mountpoint) if mountpoint else record.mountpoint))
        return result, warnings

"""Network and IPAM drivers found by name, as libnetwork's driver tables.

The built-in drivers (``bridge``; ``overlay``, which is a bridge on this one-node swarm;
``macvlan``; ``ipvlan``) are handed in by the composition root; any other name is a remote
``NetworkDriver`` (or ``IpamDriver``) plugin found through the plugin registry, so a built-in and a
plugin look the same to the network service. Sandboxes (network namespaces) stay with the host's
:class:`~dockyard.core.networks.backend.NetworkBackend`; a driver only plumbs endpoints into them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from dockyard.core.networks.backend import NetworkDriver
from dockyard.core.plugins.registry import IPAM_DRIVER, NETWORK_DRIVER, Plugin, PluginRegistry
from dockyard.errors import DockyardError, NotFound

if TYPE_CHECKING:
    from dockyard.core.networks.remote_ipam import RemoteIpam

__all__ = ["DEFAULT_IPAM", "SINGLETONS", "NetworkDriver", "NetworkDrivers", "RemoteFactory"]

log = logging.getLogger(__name__)

DEFAULT_IPAM = "default"
# Drivers with one pre-defined network each, never made by `network create` (libnetwork's).
SINGLETONS = ("host", "null")


RemoteFactory = Callable[[Plugin], NetworkDriver]


class NetworkDrivers:
    """Name -> driver: the built-ins first, then plugins (activated once, by the registry)."""

    def __init__(self, builtin: Mapping[str, NetworkDriver], *,
                 plugins: PluginRegistry | None = None, remote: RemoteFactory | None = None) -> None:
        self._builtin = dict(builtin)
        self._plugins = plugins
        self._remote = remote
        self._remotes: dict[str, tuple[Plugin, NetworkDriver]] = {}
        self._ipams: dict[str, tuple[Plugin, RemoteIpam]] = {}

    def is_builtin(self, name: str) -> bool:
        return name in self._builtin

    async def get(self, name: str) -> NetworkDriver:
        if name in self._builtin:
            return self._builtin[name]
        if self._plugins is None or self._remote is None:
            raise NotFound(f'plugin "{name}" not found')
        plugin = await self._plugins.get(name, NETWORK_DRIVER)
        known = self._remotes.get(name)
        if known is None or known[0] is not plugin:  # re-activated: a new handle, a new driver
            known = (plugin, self._remote(plugin))
            self._remotes[name] = known
        return known[1]

    async def ipam(self, name: str) -> RemoteIpam:
        """The IPAM plugin called ``name`` (``default`` is the service's own allocator)."""
        from dockyard.core.networks.remote_ipam import RemoteIpam

        if self._plugins is None:
            raise NotFound(f'plugin "{name}" not found')
        plugin = await self._plugins.get(name, IPAM_DRIVER)
        known = self._ipams.get(name)
        if known is None or known[0] is not plugin:
            known = (plugin, RemoteIpam(plugin))
            self._ipams[name] = known
        return known[1]

    async def names(self, in_use: Iterable[str] = ()) -> list[str]:
        """``docker info`` ``Plugins.Network``: the built-ins that work here, ``host`` and
        ``null``, and the remote drivers activated so far or named by a network (V1 plugins load
        lazily, so dockerd lists only those too)."""
        found = list(SINGLETONS)
        for name, driver in self._builtin.items():
            try:
                await driver.check()
            except DockyardError as exc:
                log.debug("network driver %s unavailable: %s", name, exc)
                continue
            found.append(name)
        found += list(self._remotes)
        found += [name for name in in_use if name not in self._builtin]
        return sorted(set(found))

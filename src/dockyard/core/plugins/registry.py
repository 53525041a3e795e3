"""The plugin registry: one place that turns a driver name into an activated plugin.

Docker's plugin protocol is JSON over HTTP POSTs (``/Plugin.Activate``, ``/VolumeDriver.Create``,
…) to a socket or address. Where a plugin is found (legacy spec/socket files, managed plugins the
daemon runs itself) is a ``PluginSource``; how bytes reach it is a ``PluginTransport`` made by the
``connect`` function the composition root passes in — so this module knows nothing of HTTP.
A service asks ``registry.get(name, "VolumeDriver")`` and gets the same kind of handle whether the
plugin was a ``.spec`` file or a managed plugin.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from dockyard.errors import DockyardError, NotFound

log = logging.getLogger(__name__)

# The capabilities a plugin can announce in its Plugin.Activate reply ("Implements").
VOLUME_DRIVER = "VolumeDriver"
NETWORK_DRIVER = "NetworkDriver"
IPAM_DRIVER = "IpamDriver"
AUTHZ = "authz"
LOG_DRIVER = "LogDriver"


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """A ``.json`` spec's ``TLSConfig``."""

    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    insecure_skip_verify: bool = False


@dataclass(frozen=True, slots=True)
class PluginAddress:
    """Where a plugin listens: ``unix:///run/docker/plugins/x.sock``, ``tcp://127.0.0.1:8080``."""

    name: str
    address: str
    tls: TlsFiles | None = None
    # Managed plugins announce their capabilities in their config; legacy ones only on activation.
    implements: tuple[str, ...] = ()
    managed: bool = False


class PluginError(DockyardError):
    """A plugin answered with ``{"Err": …}`` or could not be reached; the text is the plugin's."""


class PluginTransport(Protocol):
    async def call(self, method: str, payload: Mapping[str, Any] | None = None, *,
                   timeout: float | None = None) -> dict[str, Any]:
        """POST ``/<method>`` with ``payload`` as JSON and return the decoded reply. An ``Err`` in
        the reply or a non-2xx status raises ``PluginError`` with the plugin's text."""
        ...

    async def close(self) -> None: ...


class PluginSource(Protocol):
    def lookup(self, name: str) -> PluginAddress | None: ...

    def addresses(self) -> Sequence[PluginAddress]:
        """Every plugin this source can name now (for ``docker info`` and ``plugin ls``)."""
        ...


Connect = Callable[[PluginAddress], PluginTransport]


@dataclass(slots=True)
class Plugin:
    """An activated plugin: what it implements and a transport to call it."""

    address: PluginAddress
    implements: tuple[str, ...]
    transport: PluginTransport

    @property
    def name(self) -> str:
        return self.address.name

    async def call(self, method: str, payload: Mapping[str, Any] | None = None, *,
                   timeout: float | None = None) -> dict[str, Any]:
        return await self.transport.call(method, payload, timeout=timeout)


def plugin_name(name: str) -> str:
    """Managed plugins are named like images; ``:latest`` is implied, as in moby's plugin store."""
    return name[: -len(":latest")] if name.endswith(":latest") else name


@dataclass
class PluginRegistry:
    connect: Connect
    sources: list[PluginSource] = field(default_factory=list)
    _active: dict[str, Plugin] = field(default_factory=dict)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def add_source(self, source: PluginSource) -> None:
        self.sources.append(source)

    def _lookup(self, name: str) -> PluginAddress | None:
        for source in self.sources:
            found = source.lookup(name)
            if found is not None:
                return found
        return None

    async def get(self, name: str, kind: str) -> Plugin:
        """The plugin called ``name`` that implements ``kind``, activated once and cached.
        Errors carry moby's texts (``plugin "x" not found``)."""
        name = plugin_name(name)
        async with self._lock:
            plugin = self._active.get(name)
            address = self._lookup(name)
            if address is None:
                self._active.pop(name, None)
                raise NotFound(f'plugin "{name}" not found')
            if plugin is None or plugin.address != address:
                plugin = await self._activate(address)
                self._active[name] = plugin
        if kind not in plugin.implements:
            raise NotFound(f'plugin "{name}" found, but it does not implement {kind}')
        return plugin

    async def _activate(self, address: PluginAddress) -> Plugin:
        transport = self.connect(address)
        try:
            reply = await transport.call("Plugin.Activate", None)
        except PluginError:
            await transport.close()
            raise
        implements = tuple(str(item) for item in reply.get("Implements") or ()) or address.implements
        log.info("plugin %s activated (%s)", address.name, ", ".join(implements) or "nothing")
        return Plugin(address=address, implements=implements, transport=transport)

    def forget(self, name: str) -> None:
        """A managed plugin was disabled or removed: the next ``get`` finds it anew (or not)."""
        self._active.pop(plugin_name(name), None)

    async def names(self, kind: str) -> list[str]:
        """Names of the plugins implementing ``kind`` that activate now (``docker info``)."""
        found: list[str] = []
        for source in self.sources:
            for address in source.addresses():
                try:
                    plugin = await self.get(address.name, kind)
                except DockyardError:
                    continue
                found.append(plugin.name)
        return sorted(set(found))

    async def close(self) -> None:
        for plugin in self._active.values():
            await plugin.transport.close()
        self._active.clear()

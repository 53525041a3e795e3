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
    """A plugin answered with ``{"Err": …}`` or could not be reached; the text is the plugin's.

    ``status`` is the HTTP status of the reply (0 when there was none); ``reply`` the decoded body,
    for protocols whose replies carry meaning beside ``Err`` (authz's ``Allow``/``Msg``)."""

    def __init__(self, message: str, *, status: int = 0, reply: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.reply: dict[str, Any] = dict(reply or {})


class PluginUnreachable(PluginError):
    """No connection to the plugin (refused, reset, socket gone): the call may be retried."""


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
    """An activated plugin: what it implements and a transport to call it.

    A plugin handed out by a registry retries a call that found no connection (moby's
    ``callWithRetry``): a plugin that restarts is activated again and the call repeated."""

    address: PluginAddress
    implements: tuple[str, ...]
    transport: PluginTransport
    registry: PluginRegistry | None = field(default=None, repr=False, compare=False)

    @property
    def name(self) -> str:
        return self.address.name

    async def call(self, method: str, payload: Mapping[str, Any] | None = None, *,
                   timeout: float | None = None) -> dict[str, Any]:
        if self.registry is None:
            return await self.transport.call(method, payload, timeout=timeout)
        return await self.registry.call(self, method, payload, timeout=timeout)


def plugin_name(name: str) -> str:
    """Managed plugins are named like images; ``:latest`` is implied, as in moby's plugin store."""
    return name[: -len(":latest")] if name.endswith(":latest") else name


# moby retries for 30 s with a backoff from 1 s; a CLI user waits less here: a plugin is given
# RETRY_FOR seconds to come back, polled from RETRY_FIRST seconds doubling up to RETRY_MAX.
RETRY_FOR = 10.0
RETRY_FIRST = 0.1
RETRY_MAX = 1.0


@dataclass
class PluginRegistry:
    connect: Connect
    sources: list[PluginSource] = field(default_factory=list)
    retry_for: float = RETRY_FOR
    _active: dict[str, Plugin] = field(default_factory=dict)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    def add_source(self, source: PluginSource) -> None:
        self.sources.append(source)

    def _lookup(self, name: str) -> PluginAddress | None:
        for source in self.sources:
            found = source.lookup(name)
            if found is not None:
                return found
        return None

    async def get(self, name: str, kind: str, *, retry: bool = True) -> Plugin:
        """The plugin called ``name`` that implements ``kind``, activated once and cached.
        Errors carry moby's texts (``plugin "x" not found``). ``retry=False``: an unreachable
        plugin fails at once (moby's GetAll, for listings)."""
        name = plugin_name(name)
        # One lock per name: a slow plugin's activation never holds up another's.
        async with self._locks.setdefault(name, asyncio.Lock()):
            plugin = self._active.get(name)
            address = self._lookup(name)
            if address is None:
                await self._drop(name)
                raise NotFound(f'plugin "{name}" not found')
            if plugin is None or plugin.address != address:
                await self._drop(name)
                plugin = await self._activate(address, retry=retry)
                self._active[name] = plugin
        if kind not in plugin.implements:
            raise NotFound(f'plugin "{name}" found, but it does not implement {kind}')
        return plugin

    async def _activate(self, address: PluginAddress, *, retry: bool = True) -> Plugin:
        transport = self.connect(address)
        try:
            if retry:
                reply = await self._with_retry(address.name, transport, "Plugin.Activate", None, None)
            else:
                reply = await transport.call("Plugin.Activate", None)
        except PluginError:
            await transport.close()
            raise
        implements = tuple(str(item) for item in reply.get("Implements") or ()) or address.implements
        log.info("plugin %s activated (%s)", address.name, ", ".join(implements) or "nothing")
        return Plugin(address=address, implements=implements, transport=transport, registry=self)

    async def _with_retry(self, name: str, transport: PluginTransport, method: str,
                          payload: Mapping[str, Any] | None, timeout: float | None) -> dict[str, Any]:
        """One call, repeated while the plugin cannot be reached, for at most ``retry_for`` s."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.retry_for
        delay = RETRY_FIRST
        while True:
            try:
                return await transport.call(method, payload, timeout=timeout)
            except PluginUnreachable as error:
                # A plugin whose socket or spec is gone is not coming back: fail now.
                if self._lookup(name) is None or loop.time() + delay >= deadline:
                    raise
                log.warning("unable to connect to plugin %s (%s), retrying in %.1fs", name, error, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX)

    async def call(self, plugin: Plugin, method: str, payload: Mapping[str, Any] | None = None, *,
                   timeout: float | None = None) -> dict[str, Any]:
        """``plugin.call``: on a lost connection the plugin is activated anew (it may have
        restarted and forgotten us) and the call repeated, within ``retry_for``."""
        try:
            return await plugin.transport.call(method, payload, timeout=timeout)
        except PluginUnreachable:
            if self._lookup(plugin.name) is None:
                raise
        async with self._locks.setdefault(plugin.name, asyncio.Lock()):
            current = self._active.get(plugin.name)
            if current is None or current.transport is plugin.transport:
                await self._drop(plugin.name)
                address = self._lookup(plugin.name) or plugin.address
                current = await self._activate(address)
                self._active[plugin.name] = current
        plugin.transport, plugin.address = current.transport, current.address
        return await current.transport.call(method, payload, timeout=timeout)

    async def _drop(self, name: str) -> None:
        stale = self._active.pop(name, None)
        if stale is not None:
            await stale.transport.close()

    def forget(self, name: str) -> None:
        """A managed plugin was disabled or removed: the next ``get`` finds it anew (or not)."""
        stale = self._active.pop(plugin_name(name), None)
        if stale is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop, no open connection to close
        # Closed later, not here: forget is synchronous and a call may still be using it.
        loop.create_task(stale.transport.close())

    async def names(self, kind: str) -> list[str]:
        """Names of the plugins implementing ``kind`` that activate now (``docker info``)."""
        found: list[str] = []
        for source in self.sources:
            for address in source.addresses():
                try:
                    plugin = await self.get(address.name, kind, retry=False)
                except DockyardError:
                    continue
                found.append(plugin.name)
        return sorted(set(found))

    async def close(self) -> None:
        for plugin in self._active.values():
            await plugin.transport.close()
        self._active.clear()

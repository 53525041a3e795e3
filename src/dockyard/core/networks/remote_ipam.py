"""A remote ``IpamDriver`` plugin (libnetwork's ipams/remote API): pools and addresses asked of it.

A network with ``--ipam-driver NAME`` gets its subnets from ``RequestPool`` (one per family), its
gateway and auxiliary addresses from ``RequestAddress`` (the gateway marked with
``RequestAddressType``, as libnetwork marks it), and each endpoint's address from
``RequestAddress``; removal gives everything back (``ReleaseAddress``, ``ReleasePool``).
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dockyard.core.plugins.registry import Plugin, PluginError
from dockyard.errors import InvalidArgument, Unavailable

log = logging.getLogger(__name__)

GATEWAY_REQUEST = {"RequestAddressType": "com.docker.network.gateway"}
MAC_OPTION = "com.docker.network.endpoint.macaddress"


@dataclass(slots=True)
class PoolGrant:
    """One family's pool as the plugin granted it: its ID, subnet and gateway (bare address)."""

    pool_id: str
    subnet: str
    gateway: str
    aux: dict[str, str] = field(default_factory=dict)


class RemoteIpam:
    def __init__(self, plugin: Plugin) -> None:
        self._plugin = plugin
        self._spaces: dict[str, Any] | None = None
        self._caps: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        return self._plugin.name

    async def _call(self, method: str, payload: Mapping[str, Any] | None = None) -> dict[str, Any]:
        try:
            return await self._plugin.call(f"IpamDriver.{method}", payload)
        except PluginError as exc:
            raise Unavailable(f"IpamDriver.{method} of plugin {self.name}: {exc}") from exc

    async def _address_space(self) -> str:
        if self._spaces is None:
            self._caps = await self._call("GetCapabilities")
            self._spaces = await self._call("GetDefaultAddressSpaces")
        return str(self._spaces.get("LocalDefaultAddressSpace") or "")

    async def request_pool(self, *, subnet: str, ip_range: str, gateway: str,
                           aux: Mapping[str, str], options: Mapping[str, str], v6: bool) -> PoolGrant:
        """A pool, its gateway and its auxiliary addresses; what was granted is given back when a
        later step fails."""
        reply = await self._call("RequestPool", {
            "AddressSpace": await self._address_space(), "Pool": subnet, "SubPool": ip_range,
            "Options": dict(options), "V6": v6})
        pool_id, pool = str(reply.get("PoolID") or ""), str(reply.get("Pool") or "")
        try:
            network = ipaddress.ip_network(pool)
        except ValueError as exc:
            await self.release_pool(pool_id)
            raise Unavailable(f"IPAM plugin {self.name} returned an invalid pool {pool!r}") from exc
        grant = PoolGrant(pool_id=pool_id, subnet=str(network), gateway="")
        try:
            grant.gateway = await self.request_address(pool_id, gateway, gateway=True)
            for name, address in aux.items():
                if ipaddress.ip_address(address).version == network.version:
                    grant.aux[name] = await self.request_address(pool_id, address)
        except BaseException:
            await self.release_grant(grant)
            raise
        return grant

    async def request_address(self, pool_id: str, wanted: str = "", *, gateway: bool = False,
                              mac: str = "") -> str:
        """An address of the pool (``wanted`` if given), bare, without its prefix length."""
        options: dict[str, str] = dict(GATEWAY_REQUEST) if gateway else {}
        if mac and (self._caps or {}).get("RequiresMACAddress"):
            options[MAC_OPTION] = mac
        reply = await self._call("RequestAddress", {"PoolID": pool_id, "Address": wanted,
                                                    "Options": options})
        text = str(reply.get("Address") or "")
        try:
            return str(ipaddress.ip_interface(text).ip)
        except ValueError as exc:
            raise InvalidArgument(f"IPAM plugin {self.name} returned an invalid address {text!r}") from exc

    async def release_address(self, pool_id: str, address: str) -> None:
        """Best effort: a plugin that lost the address must not block a teardown."""
        try:
            await self._call("ReleaseAddress", {"PoolID": pool_id, "Address": address})
        except Unavailable as exc:
            log.warning("%s", exc)

    async def release_pool(self, pool_id: str) -> None:
        try:
            await self._call("ReleasePool", {"PoolID": pool_id})
        except Unavailable as exc:
            log.warning("%s", exc)

    async def release_grant(self, grant: PoolGrant) -> None:
        for address in grant.aux.values():
            await self.release_address(grant.pool_id, address)
        if grant.gateway:
            await self.release_address(grant.pool_id, grant.gateway)
        await self.release_pool(grant.pool_id)

"""A remote ``NetworkDriver`` plugin (libnetwork's drivers/remote API) as a network driver.

The plugin owns the data path: ``CreateEndpoint`` may hand back a MAC (or addresses we left
empty), ``Join`` names a link it made on the host (``InterfaceName.SrcName``), which we move into
the sandbox and rename ``DstPrefix`` + index, with the gateway and static routes it asks for. On
leave the link goes back to the host under its old name, as libnetwork's sandbox does, so the
plugin can delete it in ``DeleteEndpoint``.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping
from typing import Any

from dockyard.core.networks.backend import InterfaceConfig, Route, SandboxLinks
from dockyard.core.networks.model import Endpoint, Network, PortBinding
from dockyard.core.plugins.registry import Plugin, PluginError
from dockyard.errors import InvalidArgument, Unavailable

log = logging.getLogger(__name__)

# libnetwork's netlabel keys in CreateNetwork's and ProgramExternalConnectivity's options.
GENERIC = "com.docker.network.generic"
ENABLE_IPV6 = "com.docker.network.enable_ipv6"
INTERNAL = "com.docker.network.internal"
PORT_MAP = "com.docker.network.portmap"
EXPOSED = "com.docker.network.endpoint.exposedports"
_PROTOCOLS = {"icmp": 1, "tcp": 6, "udp": 17, "sctp": 132}


def _cidr(address: str, prefixlen: int) -> str:
    return f"{address}/{prefixlen}" if address else ""


def _ipam_data(subnet: str, gateway: str, aux: Mapping[str, str]) -> list[dict[str, Any]]:
    if not subnet:
        return []
    net = ipaddress.ip_network(subnet)
    mine = {k: _cidr(v, net.prefixlen) for k, v in aux.items()
            if ipaddress.ip_address(v).version == net.version}
    return [{"AddressSpace": "", "Pool": subnet, "Gateway": _cidr(gateway, net.prefixlen),
             "AuxAddresses": mine}]


class RemoteDriver:
    def __init__(self, plugin: Plugin, links: SandboxLinks) -> None:
        self._plugin = plugin
        self._links = links

    async def _call(self, method: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        try:
            return await self._plugin.call(f"NetworkDriver.{method}", payload)
        except PluginError as exc:
            raise Unavailable(f"NetworkDriver.{method} of plugin {self._plugin.name}: {exc}") from exc

    async def _optional(self, method: str, payload: Mapping[str, Any]) -> bool:
        """Calls libnetwork tolerates a plugin not implementing: a 404 reply (moby's
        plugins.IsNotFound looks at the status alone, not at the text)."""
        try:
            await self._plugin.call(f"NetworkDriver.{method}", payload)
        except PluginError as exc:
            if exc.status == 404:
                return False
            raise Unavailable(f"NetworkDriver.{method} of plugin {self._plugin.name}: {exc}") from exc
        return True

    async def check(self) -> None:
        return None

    async def create_network(self, network: Network) -> None:
        caps = await self._call("GetCapabilities", {})
        network.driver_scope = str(caps.get("Scope") or "local")
        options: dict[str, Any] = {GENERIC: dict(network.options), ENABLE_IPV6: network.ipv6}
        if network.internal:
            options[INTERNAL] = True
        await self._call("CreateNetwork", {
            "NetworkID": network.id, "Options": options,
            "IPv4Data": _ipam_data(network.subnet, network.gateway, network.aux_addresses),
            "IPv6Data": _ipam_data(network.subnet6, network.gateway6, network.aux_addresses)})

    async def remove_network(self, network: Network) -> None:
        await self._call("DeleteNetwork", {"NetworkID": network.id})

    async def attach(self, network: Network, endpoint: Endpoint) -> list[PortBinding]:
        ids = {"NetworkID": network.id, "EndpointID": endpoint.id}
        reply = await self._call("CreateEndpoint", {**ids, "Options": {}, "Interface": {
            "Address": _cidr(endpoint.ip, network.prefixlen),
            "AddressIPv6": _cidr(endpoint.ip6, network.prefixlen6), "MacAddress": endpoint.mac}})
        try:
            self._take_interface(endpoint, reply.get("Interface") or {})
            join = await self._call("Join", {**ids, "SandboxKey": endpoint.sandbox, "Options": {}})
            try:
                await self._join(network, endpoint, join)
            except BaseException:
                await self._optional("Leave", ids)
                raise
            ports = await self._publish(endpoint, ids)
            if endpoint.gateway_endpoint:  # libnetwork asks the gateway endpoint's driver only
                ports = await self._oper_ports(ids, ports)
        except BaseException:
            await self._optional("DeleteEndpoint", ids)
            raise
        return ports

    @staticmethod
    def _take_interface(endpoint: Endpoint, interface: Mapping[str, Any]) -> None:
        """libnetwork's rule: a driver may fill in only what the endpoint left empty."""
        for key, mine in (("Address", endpoint.ip), ("AddressIPv6", endpoint.ip6)):
            if interface.get(key) and mine:
                raise InvalidArgument(f"plugin tried to set {key} on an endpoint that already has one")
        mac = str(interface.get("MacAddress") or "")
        if mac:
            endpoint.mac = mac.lower()

    async def _join(self, network: Network, endpoint: Endpoint, join: Mapping[str, Any]) -> None:
        names = join.get("InterfaceName") or {}
        source = str(names.get("SrcName") or "")
        if not source:
            raise InvalidArgument(f"plugin {self._plugin.name} joined without an interface name")
        index = endpoint.ifname.removeprefix("eth")
        prefix = str(names.get("DstPrefix") or "eth")
        routes = tuple(Route(destination=str(r.get("Destination") or ""),
                             next_hop=str(r.get("NextHop") or ""),
                             connected=int(r.get("RouteType") or 0) == 1)
                       for r in join.get("StaticRoutes") or [])
        primary = endpoint.gateway_endpoint and not network.internal
        gateway, gateway6 = str(join.get("Gateway") or ""), str(join.get("GatewayIPv6") or "")
        config = InterfaceConfig(
            ifname=prefix + index, mac=endpoint.mac, ip=endpoint.ip, prefixlen=network.prefixlen,
            gateway=gateway if primary else "", ip6=endpoint.ip6, prefixlen6=network.prefixlen6,
            gateway6=gateway6 if primary else "", routes=routes)
        await self._links.adopt(source, endpoint.sandbox, config)
        endpoint.veth, endpoint.ifname = source, config.ifname
        # Inspect shows the Join's gateways, as moby's buildEndpointInfo does, not IPAM's.
        endpoint.gateway, endpoint.gateway6 = gateway, gateway6

    async def _publish(self, endpoint: Endpoint, ids: Mapping[str, str]) -> list[PortBinding]:
        """Published ports are the plugin's to program (ProgramExternalConnectivity); one that
        does not implement it publishes nothing, as with dockerd."""
        if not endpoint.gateway_endpoint or not endpoint.ports:
            return []
        portmap = [{"Proto": _PROTOCOLS.get(p.proto, 6), "Port": p.container_port,
                    "HostIP": p.host_ip, "HostPort": p.host_port, "HostPortEnd": p.host_port}
                   for p in endpoint.ports]
        exposed = [{"Proto": _PROTOCOLS.get(p.proto, 6), "Port": p.container_port}
                   for p in endpoint.ports]
        done = await self._optional("ProgramExternalConnectivity", {
            **ids, "Options": {PORT_MAP: portmap, EXPOSED: exposed}})
        if not done:
            log.warning("plugin %s does not program external connectivity: ports of %s not "
                        "published", self._plugin.name, endpoint.container_name)
        return list(endpoint.ports) if done else []

    async def _oper_ports(self, ids: Mapping[str, str], ports: list[PortBinding]) -> list[PortBinding]:
        """libnetwork's ``DriverInfo``: moby asks ``EndpointOperInfo`` once the endpoint has joined
        and reads the container's ports from its Value. Its ``portmap`` (what the plugin actually
        programmed, a host port it chose included) replaces ours when present; a plugin that does
        not answer keeps ours, as moby ignores a failing DriverInfo."""
        try:
            reply = await self._plugin.call("NetworkDriver.EndpointOperInfo", ids)
        except PluginError as exc:
            log.debug("plugin %s: EndpointOperInfo: %s", self._plugin.name, exc)
            return ports
        value = reply.get("Value")
        portmap = value.get(PORT_MAP) if isinstance(value, dict) else None
        if not isinstance(portmap, list):
            return ports
        protocols = {number: name for name, number in _PROTOCOLS.items()}
        try:
            return [PortBinding(container_port=int(p["Port"]),
                                proto=protocols.get(int(p.get("Proto") or 6), "tcp"),
                                host_ip=str(p.get("HostIP") or ""), host_port=int(p.get("HostPort") or 0))
                    for p in portmap]
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("plugin %s: EndpointOperInfo's portmap %r: %s", self._plugin.name, portmap, exc)
            return ports

    async def detach(self, network: Network, endpoint: Endpoint) -> None:
        ids = {"NetworkID": network.id, "EndpointID": endpoint.id}
        if endpoint.ports:
            await self._optional("RevokeExternalConnectivity", ids)
        await self._links.release(endpoint.sandbox, endpoint.ifname, rename=endpoint.veth)
        await self._optional("Leave", ids)
        await self._call("DeleteEndpoint", ids)

"""Network drivers by name in the core: remote NetworkDriver and IpamDriver plugins through a fake
plugin transport, VIP reservations, and what a failing plugin leaves behind (nothing)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from test_networks import FakeBackend, FakeResolver

from dockyard.core.metadata import Metadata
from dockyard.core.networks.backend import InterfaceConfig
from dockyard.core.networks.drivers import NetworkDrivers
from dockyard.core.networks.model import EndpointRequest, NetworkCreate
from dockyard.core.networks.remote import RemoteDriver
from dockyard.core.networks.service import NetworkService
from dockyard.core.plugins.registry import PluginAddress, PluginError, PluginRegistry
from dockyard.errors import Conflict, NotFound, Unavailable

Handler = Callable[[dict[str, Any]], dict[str, Any]]


class FakeTransport:
    def __init__(self, handlers: dict[str, Handler], calls: list[tuple[str, dict[str, Any]]]) -> None:
        self._handlers = handlers
        self._calls = calls

    async def call(self, method: str, payload: Mapping[str, Any] | None = None, *,
                   timeout: float | None = None) -> dict[str, Any]:
        self._calls.append((method, dict(payload or {})))
        handler = self._handlers.get(method)
        if handler is None:
            raise PluginError("404 page not found")
        reply = handler(dict(payload or {}))
        if reply.get("Err"):
            raise PluginError(reply["Err"])
        return reply

    async def close(self) -> None:
        return None


class FakeSource:
    def __init__(self, names: list[str]) -> None:
        self._names = names

    def lookup(self, name: str) -> PluginAddress | None:
        return PluginAddress(name=name, address=f"unix:///x/{name}.sock") if name in self._names else None

    def addresses(self) -> list[PluginAddress]:
        return [PluginAddress(name=n, address=f"unix:///x/{n}.sock") for n in self._names]


class FakeLinks:
    def __init__(self) -> None:
        self.inside: dict[str, tuple[str, InterfaceConfig]] = {}

    async def adopt(self, link: str, sandbox: str, config: InterfaceConfig) -> None:
        self.inside[config.ifname] = (link, config)

    async def release(self, sandbox: str, ifname: str, *, rename: str = "") -> None:
        link, _ = self.inside.pop(ifname)
        assert link == rename


class Plugins:
    """A network driver ``plug`` and an IPAM driver ``pam`` answering from dicts."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.given: list[str] = []
        self.join_error = ""
        net: dict[str, Handler] = {
            "Plugin.Activate": lambda _: {"Implements": ["NetworkDriver"]},
            "NetworkDriver.GetCapabilities": lambda _: {"Scope": "global"},
            "NetworkDriver.CreateNetwork": lambda _: {},
            "NetworkDriver.DeleteNetwork": lambda _: {},
            "NetworkDriver.CreateEndpoint": lambda _: {"Interface": {"MacAddress": "02:00:00:00:00:aa"}},
            "NetworkDriver.Join": self._join,
            "NetworkDriver.Leave": lambda _: {},
            "NetworkDriver.DeleteEndpoint": lambda _: {},
        }
        pam: dict[str, Handler] = {
            "Plugin.Activate": lambda _: {"Implements": ["IpamDriver"]},
            "IpamDriver.GetCapabilities": lambda _: {},
            "IpamDriver.GetDefaultAddressSpaces": lambda _: {"LocalDefaultAddressSpace": "L"},
            "IpamDriver.RequestPool": lambda b: {"PoolID": "p1", "Pool": b["Pool"] or "10.9.0.0/24"},
            "IpamDriver.ReleasePool": lambda _: {},
            "IpamDriver.RequestAddress": self._address,
            "IpamDriver.ReleaseAddress": lambda b: self.given.remove(b["Address"]) or {},
        }
        self.handlers = {"plug": net, "pam": pam}

    def _join(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.join_error:
            return {"Err": self.join_error}
        return {"InterfaceName": {"SrcName": "veth-x", "DstPrefix": "en"}, "Gateway": "10.9.0.1",
                "StaticRoutes": [{"Destination": "10.8.0.0/16", "RouteType": 1}]}

    def _address(self, body: dict[str, Any]) -> dict[str, Any]:
        hosts = (str(a) for a in ipaddress.ip_network("10.9.0.0/24").hosts())
        wanted = body["Address"] or next(a for a in hosts if a not in self.given)
        if wanted in self.given:
            return {"Err": "address in use"}
        self.given.append(wanted)
        return {"Address": f"{wanted}/24"}

    def methods(self) -> list[str]:
        return [m for m, _ in self.calls]

    def connect(self, address: PluginAddress) -> FakeTransport:
        return FakeTransport(self.handlers[address.name], self.calls)


async def _service(tmp_path: Path) -> tuple[NetworkService, Plugins, FakeLinks]:
    plugins, links, backend = Plugins(), FakeLinks(), FakeBackend()
    registry = PluginRegistry(connect=plugins.connect, sources=[FakeSource(["plug", "pam"])])
    drivers = NetworkDrivers({"bridge": backend}, plugins=registry,
                             remote=lambda plugin: RemoteDriver(plugin, links))
    service = NetworkService(db=Metadata(tmp_path / "db"), backend=backend, resolver=FakeResolver(),
                             default_bridge="dytest0", drivers=drivers)
    await service.open()
    return service, plugins, links


async def test_remote_driver_and_ipam_plumb_and_release_everything(tmp_path: Path) -> None:
    service, plugins, links = await _service(tmp_path)
    network = await service.create(NetworkCreate(name="n", driver="plug", ipam_driver="pam",
                                                 options={"k": "v"}))
    assert (network.subnet, network.gateway, network.scope) == ("10.9.0.0/24", "10.9.0.1", "global")
    created = dict(plugins.calls)["NetworkDriver.CreateNetwork"]
    assert created["IPv4Data"][0]["Gateway"] == "10.9.0.1/24"
    assert created["Options"]["com.docker.network.generic"] == {"k": "v"}
    await service.join("c1", "one", [EndpointRequest(network="n")], [])
    endpoint = service.endpoints(network)[0]
    assert (endpoint.ip, endpoint.mac, endpoint.ifname) == ("10.9.0.2", "02:00:00:00:00:aa", "en0")
    link, config = links.inside["en0"]
    assert link == "veth-x" and config.gateway == "10.9.0.1" and config.routes[0].connected
    assert "one" in endpoint.dns_names  # user-defined: the embedded DNS answers for it
    await service.leave("c1")
    assert links.inside == {} and plugins.given == ["10.9.0.1"]
    assert {"NetworkDriver.Leave", "NetworkDriver.DeleteEndpoint"} <= set(plugins.methods())
    await service.remove("n")
    assert plugins.given == [] and "IpamDriver.ReleasePool" in plugins.methods()
    assert "NetworkDriver.DeleteNetwork" in plugins.methods()


async def test_a_failed_join_leaves_no_endpoint_and_no_address(tmp_path: Path) -> None:
    service, plugins, links = await _service(tmp_path)
    await service.create(NetworkCreate(name="n", driver="plug", ipam_driver="pam"))
    plugins.join_error = "no room"
    with pytest.raises(Unavailable, match="NetworkDriver.Join of plugin plug: no room"):
        await service.join("c1", "one", [EndpointRequest(network="n")], [])
    assert service.endpoints() == [] and plugins.given == ["10.9.0.1"]
    assert "NetworkDriver.DeleteEndpoint" in plugins.methods()


async def test_unknown_drivers_and_vip_reservations(tmp_path: Path) -> None:
    service, _, _ = await _service(tmp_path)
    with pytest.raises(NotFound, match='plugin "nope" not found'):
        await service.create(NetworkCreate(name="x", driver="nope"))
    with pytest.raises(NotFound, match='plugin "nope" not found'):
        await service.create(NetworkCreate(name="x", ipam_driver="nope"))
    assert [n.name for n in service.list() if n.name == "x"] == []
    network = await service.create(NetworkCreate(name="b", subnet="10.7.0.0/29"))
    vip = await service.reserve_address("b")
    assert vip == "10.7.0.6"
    with pytest.raises(Conflict, match="Address already in use"):
        await service.join("c1", "one", [EndpointRequest(network="b", ip=vip)], [])
    await service.release_address("b", vip)
    await service.join("c1", "one", [EndpointRequest(network="b", ip=vip)], [])
    assert service.endpoints(network)[0].ip == vip
    assert "plug" not in await service.drivers.names()  # V1 plugins are listed once in use
    await service.create(NetworkCreate(name="p", driver="plug"))
    assert {"bridge", "host", "null", "plug"} <= set(await service.drivers.names())

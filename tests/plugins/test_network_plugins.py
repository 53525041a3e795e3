"""Remote NetworkDriver and IpamDriver plugins (libnetwork's remote API), through the stock CLI.

The plugins are servers of this module (aiohttp on a UNIX socket, in a thread of the test): the
network driver makes a bridge per network and a veth pair per endpoint, whose one end it names in
``Join`` for the daemon to move into the container; the IPAM driver hands out /24 pools and their
addresses in order. Traffic stays on the plugin's bridge.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from conformance.daemon import Daemon

PLUGIN_DIR = Path("/run/docker/plugins")
SLEEP = ("busybox", "sleep", "300")
Handler = Callable[[dict[str, Any]], dict[str, Any]]


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10, check=check)


def _links() -> set[str]:
    out = _ip("-o", "link", "show").stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}


class PluginServer:
    """One legacy plugin on ``/run/docker/plugins/<name>.sock``; ``calls`` records every request."""

    def __init__(self, implements: str, handlers: dict[str, Handler]) -> None:
        self.name = f"dyt-{implements[:3].lower()}-{uuid.uuid4().hex[:6]}"
        self.socket = PLUGIN_DIR / f"{self.name}.sock"
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._handlers = {"Plugin.Activate": lambda _: {"Implements": [implements]}, **handlers}
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def methods(self) -> list[str]:
        return [method for method, _ in self.calls]

    def last(self, method: str) -> dict[str, Any]:
        return [body for name, body in self.calls if name == method][-1]

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        handler = self._handlers.get(method)
        if handler is None:
            return web.Response(status=404, text="404 page not found")
        body = json.loads(await request.read() or b"{}")
        self.calls.append((method, body))
        try:
            reply = handler(body)
        except Exception as exc:  # noqa: BLE001 - the daemon sees it as the plugin's Err
            reply = {"Err": str(exc)}
        return web.json_response(reply, content_type="application/vnd.docker.plugins.v1.2+json")

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/{method}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.UnixSite(self._runner, str(self.socket)).start()

    def start(self, directory: Path = PLUGIN_DIR) -> PluginServer:
        """Serve in ``directory``: the test daemon's own discovery dir (it never looks in the host's)."""
        self.socket = directory / f"{self.name}.sock"
        directory.mkdir(parents=True, exist_ok=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self.socket.unlink(missing_ok=True)


class BridgePlugin:
    """A NetworkDriver: a bridge per network (the gateway on it), a veth pair per endpoint."""

    def __init__(self) -> None:
        self.bridges: dict[str, str] = {}
        self.server = PluginServer("NetworkDriver", {
            "NetworkDriver.GetCapabilities": lambda _: {"Scope": "local"},
            "NetworkDriver.CreateNetwork": self.create_network,
            "NetworkDriver.DeleteNetwork": self.delete_network,
            "NetworkDriver.CreateEndpoint": lambda _: {},
            "NetworkDriver.EndpointOperInfo": lambda _: {"Value": {}},
            "NetworkDriver.Join": self.join,
            "NetworkDriver.Leave": lambda _: {},
            "NetworkDriver.DeleteEndpoint": self.delete_endpoint,
        })

    def create_network(self, body: dict[str, Any]) -> dict[str, Any]:
        bridge = "dtb" + body["NetworkID"][:12]
        _ip("link", "add", bridge, "type", "bridge")
        _ip("addr", "add", body["IPv4Data"][0]["Gateway"], "dev", bridge)
        _ip("link", "set", bridge, "up")
        self.bridges[body["NetworkID"]] = bridge
        return {}

    def delete_network(self, body: dict[str, Any]) -> dict[str, Any]:
        _ip("link", "del", self.bridges.pop(body["NetworkID"]))
        return {}

    def join(self, body: dict[str, Any]) -> dict[str, Any]:
        host, inner = "dtv" + body["EndpointID"][:8], "dtc" + body["EndpointID"][:8]
        _ip("link", "add", host, "type", "veth", "peer", "name", inner)
        _ip("link", "set", host, "master", self.bridges[body["NetworkID"]], "up")
        gateway = self.server.last("NetworkDriver.CreateNetwork")["IPv4Data"][0]["Gateway"]
        gateway = gateway.split("/")[0]
        return {"InterfaceName": {"SrcName": inner, "DstPrefix": "plg"}, "Gateway": gateway,
                "StaticRoutes": [{"Destination": "10.251.0.0/24", "RouteType": 0,
                                  "NextHop": gateway}]}

    def delete_endpoint(self, body: dict[str, Any]) -> dict[str, Any]:
        _ip("link", "del", "dtv" + body["EndpointID"][:8], check=False)
        return {}

    def cleanup(self) -> None:
        self.server.stop()
        for bridge in self.bridges.values():
            _ip("link", "del", bridge, check=False)


class CountingIpam:
    """An IpamDriver: /24 pools under 10.241.0.0/16 (or the one asked for), addresses in order."""

    def __init__(self) -> None:
        self.pools: dict[str, ipaddress.IPv4Network] = {}
        self.given: dict[str, set[str]] = {}
        self.server = PluginServer("IpamDriver", {
            "IpamDriver.GetCapabilities": lambda _: {"RequiresMACAddress": False},
            "IpamDriver.GetDefaultAddressSpaces": lambda _: {
                "LocalDefaultAddressSpace": "dyt-local", "GlobalDefaultAddressSpace": "dyt-global"},
            "IpamDriver.RequestPool": self.request_pool,
            "IpamDriver.ReleasePool": self.release_pool,
            "IpamDriver.RequestAddress": self.request_address,
            "IpamDriver.ReleaseAddress": self.release_address,
        })

    def request_pool(self, body: dict[str, Any]) -> dict[str, Any]:
        pool = ipaddress.IPv4Network(body["Pool"] or f"10.241.{len(self.pools) + 1}.0/24")
        pool_id = f"pool-{uuid.uuid4().hex[:6]}"
        self.pools[pool_id], self.given[pool_id] = pool, set()
        return {"PoolID": pool_id, "Pool": str(pool), "Data": {}}

    def release_pool(self, body: dict[str, Any]) -> dict[str, Any]:
        self.pools.pop(body["PoolID"])
        return {}

    def request_address(self, body: dict[str, Any]) -> dict[str, Any]:
        pool, given = self.pools[body["PoolID"]], self.given[body["PoolID"]]
        wanted = body.get("Address") or next(str(a) for a in pool.hosts() if str(a) not in given)
        if wanted in given:
            raise ValueError(f"address {wanted} already allocated")
        given.add(wanted)
        return {"Address": f"{wanted}/{pool.prefixlen}", "Data": {}}

    def release_address(self, body: dict[str, Any]) -> dict[str, Any]:
        self.given[body["PoolID"]].discard(body["Address"])
        return {}


@pytest.fixture
def netplug(daemon: Daemon) -> Iterator[BridgePlugin]:
    plugin = BridgePlugin()
    plugin.server.start(daemon.plugin_dir)
    try:
        yield plugin
    finally:
        plugin.cleanup()


@pytest.fixture
def ipamplug(daemon: Daemon) -> Iterator[CountingIpam]:
    plugin = CountingIpam()
    plugin.server.start(daemon.plugin_dir)
    try:
        yield plugin
    finally:
        plugin.server.stop()


def _inspect(daemon: Daemon, ref: str) -> dict[str, Any]:
    return json.loads(daemon.docker_ok("inspect", ref))[0]


def test_remote_network_driver_joins_and_leaves_containers(daemon: Daemon, container, name,
                                                           netplug: BridgePlugin) -> None:
    plug = netplug.server
    net = f"rn-{uuid.uuid4().hex[:6]}"
    daemon.docker_ok("network", "create", "-d", plug.name, "--subnet", "10.242.0.0/24",
                     "-o", "flavour=plain", net)
    try:
        created = plug.last("NetworkDriver.CreateNetwork")
        assert created["Options"]["com.docker.network.generic"] == {"flavour": "plain"}
        assert created["IPv4Data"][0]["Pool"] == "10.242.0.0/24"
        assert created["IPv4Data"][0]["Gateway"] == "10.242.0.1/24"
        info = json.loads(daemon.docker_ok("network", "inspect", net))[0]
        assert info["Driver"] == plug.name and info["Scope"] == "local"
        listed = json.loads(daemon.docker_ok("info", "--format", "{{json .Plugins.Network}}"))
        assert plug.name in listed
        server = name("rsrv")
        sid = container("--name", server, "--network", net, *SLEEP)
        endpoint = plug.last("NetworkDriver.CreateEndpoint")
        assert endpoint["Interface"]["Address"] == "10.242.0.2/24"
        # The plugin's link, moved in and renamed DstPrefix + index, with its routes.
        inside = daemon.docker_ok("exec", sid, "sh", "-c", "ip -o -4 addr show plg0; ip route")
        assert "10.242.0.2/24" in inside
        assert "default via 10.242.0.1" in inside and "10.251.0.0/24 via 10.242.0.1" in inside
        code, out, err = daemon.docker("run", "--rm", "--network", net, "busybox", "sh", "-c",
                                       f"ping -c1 -W3 {server} && ping -c1 -W3 10.242.0.1")
        assert code == 0, out + err
        host_end = "dtv" + endpoint["EndpointID"][:8]
        assert host_end in _links()
        daemon.docker_ok("rm", "-f", sid)
        assert {"NetworkDriver.Leave", "NetworkDriver.DeleteEndpoint"} <= set(plug.methods())
        assert host_end not in _links() and "dtc" + endpoint["EndpointID"][:8] not in _links()
    finally:
        daemon.docker("network", "rm", net)
    assert plug.last("NetworkDriver.DeleteNetwork")["NetworkID"] == info["Id"]


def test_connect_and_disconnect_on_a_plugin_network(daemon: Daemon, container,
                                                    netplug: BridgePlugin) -> None:
    net = f"rc-{uuid.uuid4().hex[:6]}"
    daemon.docker_ok("network", "create", "-d", netplug.server.name, "--subnet", "10.243.0.0/24", net)
    try:
        cid = container(*SLEEP)
        daemon.docker_ok("network", "connect", net, cid)
        assert "10.243.0.2/24" in daemon.docker_ok("exec", cid, "ip", "-o", "-4", "addr", "show", "plg1")
        daemon.docker_ok("network", "disconnect", net, cid)
        assert daemon.docker("exec", cid, "ip", "link", "show", "plg1")[0] != 0
        assert netplug.server.methods().count("NetworkDriver.DeleteEndpoint") == 1
    finally:
        daemon.docker("network", "rm", net)


def test_remote_ipam_driver_hands_out_pools_and_addresses(daemon: Daemon, container,
                                                          ipamplug: CountingIpam) -> None:
    plug = ipamplug.server
    net = f"ri-{uuid.uuid4().hex[:6]}"
    daemon.docker_ok("network", "create", "--ipam-driver", plug.name, "--ipam-opt", "zone=a", net)
    try:
        info = json.loads(daemon.docker_ok("network", "inspect", net))[0]
        pool = plug.last("IpamDriver.RequestPool")
        assert pool["AddressSpace"] == "dyt-local" and pool["Options"] == {"zone": "a"}
        assert info["IPAM"]["Driver"] == plug.name
        subnet = info["IPAM"]["Config"][0]["Subnet"]
        assert subnet.startswith("10.241.") and info["IPAM"]["Config"][0]["Gateway"] == subnet[:-4] + "1"
        gateway_request = plug.calls[[m for m, _ in plug.calls].index("IpamDriver.RequestAddress")][1]
        assert gateway_request["Options"] == {"RequestAddressType": "com.docker.network.gateway"}
        cid = container("--network", net, *SLEEP)
        address = _inspect(daemon, cid)["NetworkSettings"]["Networks"][net]["IPAddress"]
        assert address == subnet[:-4] + "2"
        assert address in daemon.docker_ok("exec", cid, "ip", "-o", "-4", "addr", "show", "eth0")
        daemon.docker_ok("rm", "-f", cid)
        assert plug.last("IpamDriver.ReleaseAddress")["Address"] == address
    finally:
        daemon.docker("network", "rm", net)
    assert "IpamDriver.ReleasePool" in plug.methods() and not ipamplug.pools


def test_unknown_drivers_are_refused(daemon: Daemon) -> None:
    code, _, err = daemon.docker("network", "create", "-d", "dyt-nosuch", "n-x")
    assert code != 0 and 'plugin "dyt-nosuch" not found' in err
    code, _, err = daemon.docker("network", "create", "--ipam-driver", "dyt-nosuch", "n-x")
    assert code != 0 and 'plugin "dyt-nosuch" not found' in err
    assert daemon.docker("network", "inspect", "n-x")[0] != 0

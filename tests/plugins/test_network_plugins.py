"""Remote NetworkDriver and IpamDriver plugins (libnetwork's remote API), through the stock CLI.

The plugins are servers of tests/plugins/fake_plugins.py (aiohttp on a UNIX socket, in a thread of
the test): the network driver makes a bridge per network and a veth pair per endpoint, whose one
end it names in ``Join`` for the daemon to move into the container; the IPAM driver hands out /24
pools and their addresses in order. Traffic stays on the plugin's bridge.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from conformance.daemon import Daemon

from plugins.fake_plugins import FakeIpamPlugin, FakeNetworkPlugin, fresh_socket, ip

SLEEP = ("busybox", "sleep", "300")


def _links() -> set[str]:
    out = ip("-o", "link", "show").stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}


@pytest.fixture
def netplug(daemon: Daemon) -> Iterator[FakeNetworkPlugin]:
    with FakeNetworkPlugin(fresh_socket(daemon.plugin_dir, "net")) as plugin:
        yield plugin


@pytest.fixture
def ipamplug(daemon: Daemon) -> Iterator[FakeIpamPlugin]:
    with FakeIpamPlugin(fresh_socket(daemon.plugin_dir, "ipa")) as plugin:
        yield plugin


def _inspect(daemon: Daemon, ref: str) -> dict[str, Any]:
    return json.loads(daemon.docker_ok("inspect", ref))[0]


def test_remote_network_driver_joins_and_leaves_containers(daemon: Daemon, container, name,
                                                           netplug: FakeNetworkPlugin) -> None:
    plug = netplug
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
                                                    netplug: FakeNetworkPlugin) -> None:
    net = f"rc-{uuid.uuid4().hex[:6]}"
    daemon.docker_ok("network", "create", "-d", netplug.name, "--subnet", "10.243.0.0/24", net)
    try:
        cid = container(*SLEEP)
        daemon.docker_ok("network", "connect", net, cid)
        assert "10.243.0.2/24" in daemon.docker_ok("exec", cid, "ip", "-o", "-4", "addr", "show", "plg1")
        daemon.docker_ok("network", "disconnect", net, cid)
        assert daemon.docker("exec", cid, "ip", "link", "show", "plg1")[0] != 0
        assert netplug.methods().count("NetworkDriver.DeleteEndpoint") == 1
    finally:
        daemon.docker("network", "rm", net)


def test_remote_ipam_driver_hands_out_pools_and_addresses(daemon: Daemon, container,
                                                          ipamplug: FakeIpamPlugin) -> None:
    plug = ipamplug
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


def test_join_gateway_and_oper_info_show_in_inspect(daemon: Daemon, container,
                                                    netplug: FakeNetworkPlugin) -> None:
    """Inspect shows the gateway the plugin's Join named (not IPAM's), and the ports its
    EndpointOperInfo says it programmed."""
    net = f"rg-{uuid.uuid4().hex[:6]}"
    daemon.docker_ok("network", "create", "-d", netplug.name, "--subnet", "10.244.0.0/24", net)
    netplug.join_gateway = "10.244.0.254"
    netplug.oper_info = {"com.docker.network.portmap": [
        {"Proto": 6, "IP": "", "Port": 80, "HostIP": "127.0.0.1", "HostPort": 18080, "HostPortEnd": 18080}]}
    try:
        cid = container("--network", net, "-p", "127.0.0.1::80", *SLEEP)
        settings = _inspect(daemon, cid)["NetworkSettings"]
        assert settings["Networks"][net]["Gateway"] == "10.244.0.254"
        assert json.loads(daemon.docker_ok("network", "inspect", net))[0]["IPAM"]["Config"][0][
            "Gateway"] == "10.244.0.1"
        assert "default via 10.244.0.254" in daemon.docker_ok("exec", cid, "ip", "route")
        endpoint_id = settings["Networks"][net]["EndpointID"]
        assert netplug.last("NetworkDriver.EndpointOperInfo") == {"NetworkID": settings["Networks"][net][
            "NetworkID"], "EndpointID": endpoint_id}
        assert settings["Ports"] == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "18080"}]}
        assert daemon.docker_ok("port", cid).strip() == "80/tcp -> 127.0.0.1:18080"
        # A plugin that answers no EndpointOperInfo: the container starts, no ports are claimed
        # (the plugin programs none without ProgramExternalConnectivity).
        netplug.fail["NetworkDriver.EndpointOperInfo"] = "not today"
        other = container("--network", net, "-p", "127.0.0.1::81", *SLEEP)
        assert _inspect(daemon, other)["NetworkSettings"]["Ports"] == {"81/tcp": None}
    finally:
        daemon.docker("rm", "-f", *[c for c in daemon.docker_ok("ps", "-aq", "--filter",
                                                                  f"network={net}").split()])
        daemon.docker("network", "rm", net)


def test_plugin_network_after_a_daemon_restart(daemon_factory) -> None:
    """As libnetwork, the daemon does not replay CreateNetwork at start (the plugin keeps its own
    networks): the restored network takes new endpoints and is deleted through the plugin."""
    d = daemon_factory()
    with FakeNetworkPlugin(d.plugin_dir / "dyt-keepnet.sock") as plug:
        d.docker_ok("network", "create", "-d", plug.name, "--subnet", "10.245.0.0/24", "kn")
        first = d.docker_ok("run", "-d", "--network", "kn", *SLEEP).strip()
        d.stop()
        d.start()
        assert plug.methods().count("NetworkDriver.CreateNetwork") == 1
        assert "10.245.0.2/24" in d.docker_ok("exec", first, "ip", "-o", "-4", "addr", "show", "plg0")
        code, out, err = d.docker("run", "--rm", "--network", "kn", "busybox", "ping", "-c1", "-W3",
                                  "10.245.0.2")
        assert code == 0, out + err
        network_id = json.loads(d.docker_ok("network", "inspect", "kn"))[0]["Id"]
        assert plug.last("NetworkDriver.CreateEndpoint")["NetworkID"] == network_id
        d.docker_ok("rm", "-f", first)
        d.docker_ok("network", "rm", "kn")
        assert plug.last("NetworkDriver.DeleteNetwork") == {"NetworkID": network_id}

"""The netlink backend for real: sandboxes, bridges and veth pairs, and nothing left after."""

from __future__ import annotations

import errno
import json
import subprocess
import uuid
from pathlib import Path

import pytest

from dockyard.backends.netlink import NetlinkLinks, in_netns
from dockyard.core.networks import ipam

pytestmark = pytest.mark.root


def _ip_json(*args: str, netns: str | None = None) -> list[dict]:
    argv = ["ip", "-j", *args] if netns is None else ["nsenter", f"--net={netns}", "ip", "-j", *args]
    return json.loads(subprocess.run(argv, capture_output=True, text=True, check=True, timeout=10).stdout
                      or "[]")


def test_endpoint_in_a_sandbox_and_teardown(tmp_path: Path) -> None:
    links = NetlinkLinks(tmp_path / "netns")
    tag = uuid.uuid4().hex[:8]
    bridge, veth, key = f"dyt-{tag}", f"dyvt{tag[:6]}", f"sandbox-{tag}"
    subnet = ipam.pick_subnet(links.occupied_subnets())
    gateway = ipam.gateway_of(subnet)
    address = ipam.allocate(str(subnet), gateway, [])
    sandbox = links.create_netns(key)
    try:
        links.ensure_bridge(bridge, gateway, subnet.prefixlen)
        links.ensure_bridge(bridge, gateway, subnet.prefixlen)  # idempotent
        links.add_endpoint(bridge=bridge, veth=veth, sandbox=sandbox, ifname="eth0", ip=address,
                           prefixlen=subnet.prefixlen, mac=ipam.mac_of(address), gateway=gateway)
        inside = {link["ifname"]: link for link in _ip_json("addr", netns=sandbox)}
        assert inside["eth0"]["address"] == ipam.mac_of(address)
        assert [a["local"] for a in inside["eth0"]["addr_info"] if a["family"] == "inet"] == [address]
        assert inside["lo"]["operstate"] == "UNKNOWN"
        routes = _ip_json("route", netns=sandbox)
        assert {"dst": "default", "gateway": gateway} in [
            {"dst": r["dst"], "gateway": r.get("gateway")} for r in routes]
        assert [link["ifname"] for link in _ip_json("link", "show", "master", bridge)] == [veth]
        # The host's own view is untouched by work done inside the namespace.
        assert address not in json.dumps(_ip_json("addr"))
        assert in_netns(sandbox, lambda: Path("/proc/thread-self/net/dev").read_text()).count("eth0") == 1
    finally:
        links.remove_endpoint(veth)
        links.remove_netns(key)
        links.remove_bridge(bridge)
    names = {link["ifname"] for link in _ip_json("link")}
    assert bridge not in names and veth not in names
    assert not (tmp_path / "netns" / key).exists()


def test_dual_stack_endpoint_with_mtu_and_an_owned_bridge(tmp_path: Path) -> None:
    links = NetlinkLinks(tmp_path / "netns")
    tag = uuid.uuid4().hex[:8]
    bridge, veth, key, owner = f"dyt-{tag}", f"dyvt{tag[:6]}", f"sandbox-{tag}", f"owner-{tag}"
    subnet = ipam.pick_subnet(links.occupied_subnets())
    gateway = ipam.gateway_of(subnet)
    address = ipam.allocate(str(subnet), gateway, [])
    sandbox = links.create_netns(key)
    try:
        links.ensure_bridge(bridge, gateway, subnet.prefixlen, gateway6="fd00:7e57::1", prefixlen6=64,
                            owner=owner, mtu=1400)
        links.add_endpoint(bridge=bridge, veth=veth, sandbox=sandbox, ifname="eth0", ip=address,
                           prefixlen=subnet.prefixlen, mac=ipam.mac_of(address), gateway=gateway,
                           ip6="fd00:7e57::2", prefixlen6=64, gateway6="fd00:7e57::1", mtu=1400)
        assert links.owned_bridges(owner) == {bridge}
        assert bridge in links.link_names() and veth in links.link_names()
        assert subnet in links.occupied_subnets()
        host = {link["ifname"]: link for link in _ip_json("addr")}
        assert host[bridge]["mtu"] == 1400 and host[veth]["mtu"] == 1400
        assert _ip_json("link", "show", bridge)[0]["ifalias"] == owner
        assert {a["local"] for a in host[bridge]["addr_info"]} >= {gateway, "fd00:7e57::1"}
        eth0 = {link["ifname"]: link for link in _ip_json("addr", netns=sandbox)}["eth0"]
        assert eth0["mtu"] == 1400 and eth0["operstate"] == "UP"
        six = [a for a in eth0["addr_info"] if a["family"] == "inet6" and a["scope"] == "global"]
        assert [(a["local"], a["prefixlen"], a.get("nodad")) for a in six] == [("fd00:7e57::2", 64, True)]
        routes6 = _ip_json("-6", "route", netns=sandbox)
        assert {"dst": "default", "gateway": "fd00:7e57::1"} in [
            {"dst": r["dst"], "gateway": r.get("gateway")} for r in routes6]
        # The kernel's refusals come back as errors with its code, and change nothing.
        with pytest.raises(OSError) as caught:
            links.add_endpoint(bridge=bridge, veth=veth, sandbox=sandbox, ifname="eth1", ip=address,
                               prefixlen=subnet.prefixlen, mac=ipam.mac_of(address), gateway=None)
        assert caught.value.errno == errno.EEXIST
        assert [link["ifname"] for link in _ip_json("link", "show", "master", bridge)] == [veth]
        assert "eth1" not in {link["ifname"] for link in _ip_json("link", netns=sandbox)}
    finally:
        links.remove_endpoint(veth)
        links.remove_endpoint(veth)  # already gone: nothing to do
        links.remove_netns(key)
        links.remove_bridge(bridge)
    assert not links.owned_bridges(owner)
    assert bridge not in links.link_names()

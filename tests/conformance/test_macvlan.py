"""The built-in macvlan driver (and the ipvlan refusal), through the stock docker CLI.

The parent is a veth pair the test makes on the host; every packet stays inside it: the
containers talk to each other and to an address the test puts on the pair's other end.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Callable, Iterator

import pytest

from .daemon import Daemon

SLEEP = ("busybox", "sleep", "300")


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10, check=check)


def _links() -> set[str]:
    out = _ip("-o", "link", "show").stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}


@pytest.fixture
def veth() -> Iterator[tuple[str, str]]:
    """A veth pair (parent end, peer end) on the host, removed after the test."""
    tag = uuid.uuid4().hex[:6]
    parent, peer = f"dyt{tag}a", f"dyt{tag}b"
    _ip("link", "add", parent, "type", "veth", "peer", "name", peer)
    for link in (parent, peer):
        _ip("link", "set", link, "up")
    try:
        yield parent, peer
    finally:
        _ip("link", "del", parent, check=False)


@pytest.fixture
def macvlan(daemon: Daemon) -> Iterator[Callable[..., str]]:
    made: list[str] = []

    def create(*args: str) -> str:
        name = f"mv-{uuid.uuid4().hex[:8]}"
        daemon.docker_ok("network", "create", "-d", "macvlan", *args, name)
        made.append(name)
        return name

    yield create
    for name in made:
        daemon.docker("network", "rm", name)


def _inspect(daemon: Daemon, ref: str) -> dict:
    return json.loads(daemon.docker_ok("inspect", ref))[0]


def test_containers_on_a_macvlan_parent_reach_each_other_by_name_and_the_gateway(
        daemon: Daemon, container, macvlan, veth, name) -> None:
    parent, peer = veth
    net = macvlan("--subnet", "10.231.0.0/24", "--gateway", "10.231.0.1", "--aux-address",
                  "router=10.231.0.2", "-o", f"parent={parent}", "-o", "macvlan_mode=bridge")
    info = json.loads(daemon.docker_ok("network", "inspect", net))[0]
    assert info["Driver"] == "macvlan" and info["Scope"] == "local" and info["Internal"] is False
    assert info["Options"] == {"parent": parent, "macvlan_mode": "bridge"}
    assert info["IPAM"]["Config"] == [{"Subnet": "10.231.0.0/24", "Gateway": "10.231.0.1",
                                       "AuxiliaryAddresses": {"router": "10.231.0.2"}}]
    # The gateway is the pair's other end: the containers' default route leaves by the parent.
    _ip("addr", "add", "10.231.0.1/24", "dev", peer)
    server = name("mvs")
    sid = container("--name", server, "--network", net, "--ip", "10.231.0.50",
                    "--mac-address", "02:42:0a:e7:00:99", *SLEEP)
    endpoint = _inspect(daemon, sid)["NetworkSettings"]["Networks"][net]
    assert endpoint["IPAddress"] == "10.231.0.50" and endpoint["Gateway"] == "10.231.0.1"
    assert endpoint["MacAddress"] == "02:42:0a:e7:00:99"
    link = daemon.docker_ok("exec", sid, "ip", "-o", "link", "show", "eth0")
    assert "02:42:0a:e7:00:99" in link
    # A second container: the aux address is skipped, the name resolves through 127.0.0.11.
    code, out, err = daemon.docker("run", "--rm", "--network", net, "busybox", "sh", "-c",
                                   f"ip -o -4 addr show eth0; ping -c1 -W3 {server} && "
                                   "ping -c1 -W3 10.231.0.1")
    assert code == 0, out + err
    assert "10.231.0.3/24" in out and "10.231.0.50" in out
    containers = json.loads(daemon.docker_ok("network", "inspect", net))[0]["Containers"]
    assert containers[sid]["IPv4Address"] == "10.231.0.50/24"


def test_macvlan_ipv6_and_ports_not_published(daemon: Daemon, container, macvlan, veth, name) -> None:
    parent, _ = veth
    net = macvlan("--subnet", "10.232.0.0/24", "--ipv6", "--subnet", "fd00:232::/64",
                  "-o", f"parent={parent}")
    server = name("mv6")
    sid = container("--name", server, "--network", net, "-p", "18080:80", *SLEEP)
    endpoint = _inspect(daemon, sid)["NetworkSettings"]["Networks"][net]
    assert endpoint["GlobalIPv6Address"].startswith("fd00:232::")
    code, out, err = daemon.docker("run", "--rm", "--network", net, "busybox", "ping", "-6",
                                   "-c1", "-W3", server)
    assert code == 0, out + err
    # moby's macvlan driver logs that it does not map ports, and maps none.
    assert daemon.docker_ok("port", sid).strip() == ""


def test_macvlan_without_parent_gets_its_own_link_and_is_internal(
        daemon: Daemon, container, macvlan, name) -> None:
    net = macvlan("--subnet", "10.233.0.0/24")
    info = json.loads(daemon.docker_ok("network", "inspect", net))[0]
    standin = "dm-" + info["Id"][:12]
    assert info["Internal"] is True and standin in _links()
    server = name("mvi")
    container("--name", server, "--network", net, *SLEEP)
    code, out, err = daemon.docker("run", "--rm", "--network", net, "busybox", "sh", "-c",
                                   f"ping -c1 -W3 {server} && ip route")
    assert code == 0, out + err
    assert "default" not in out  # internal: no gateway
    daemon.docker_ok("rm", "-f", server)
    daemon.docker_ok("network", "rm", net)
    assert standin not in _links()


def _kernel_has_vlan(parent: str) -> bool:
    probe = _ip("link", "add", "link", parent, "name", f"{parent}.9", "type", "vlan", "id", "9",
                check=False)
    _ip("link", "del", f"{parent}.9", check=False)
    return probe.returncode == 0


def test_vlan_sub_interface_parent(daemon: Daemon, macvlan, veth) -> None:
    parent, _ = veth
    sub = f"{parent}.10"
    if _kernel_has_vlan(parent):
        net = macvlan("--subnet", "10.234.0.0/24", "-o", f"parent={sub}")
        assert sub in _links()
        daemon.docker_ok("network", "rm", net)
        assert sub not in _links()
        return
    code, _, err = daemon.docker("network", "create", "-d", "macvlan", "--subnet", "10.234.0.0/24",
                                 "-o", f"parent={sub}", "mv-vlan")
    assert code != 0 and f"failed to create {sub} vlan link" in err and "802.1q" in err
    assert sub not in _links() and daemon.docker("network", "inspect", "mv-vlan")[0] != 0


def test_macvlan_refusals(daemon: Daemon, macvlan, veth) -> None:
    parent, _ = veth
    cases = [
        (["-o", f"parent={parent}", "-o", "macvlan_mode=weird"],
         "requested macvlan mode 'weird' is not valid, 'bridge' mode is the macvlan driver default"),
        (["-o", "parent=lo"], "loopback interface is not a valid macvlan parent link"),
        (["-o", "parent=nosuchlink"], "invalid subinterface vlan name nosuchlink"),
        (["-o", f"parent={parent}.5000"], "vlan id must be between 1-4094, received: 5000"),
    ]
    for args, message in cases:
        code, _, err = daemon.docker("network", "create", "-d", "macvlan", *args, "mv-bad")
        assert code != 0 and message in err, err
    assert daemon.docker("network", "inspect", "mv-bad")[0] != 0
    macvlan("--subnet", "10.235.0.0/24", "-o", f"parent={parent}")
    code, _, err = daemon.docker("network", "create", "-d", "macvlan", "--subnet", "10.236.0.0/24",
                                 "-o", f"parent={parent}", "mv-twice")
    assert code != 0 and f"is already using parent interface {parent}" in err


def _kernel_has_ipvlan(parent: str) -> bool:
    probe = _ip("link", "add", "link", parent, "name", "dytipv", "type", "ipvlan", check=False)
    _ip("link", "del", "dytipv", check=False)
    return probe.returncode == 0


def test_ipvlan_refused_without_kernel_support_and_info_lists_drivers(daemon: Daemon, veth) -> None:
    parent, _ = veth
    listed = json.loads(daemon.docker_ok("info", "--format", "{{json .Plugins.Network}}"))
    assert {"bridge", "host", "macvlan", "null", "overlay"} <= set(listed)
    if _kernel_has_ipvlan(parent):
        pytest.skip("this kernel has ipvlan: nothing to refuse")
    assert "ipvlan" not in listed
    code, _, err = daemon.docker("network", "create", "-d", "ipvlan", "--subnet", "10.237.0.0/24",
                                 "-o", f"parent={parent}", "ipv-net")
    assert code != 0 and "failed to create the ipvlan port" in err and "kernel" in err, err
    assert daemon.docker("network", "inspect", "ipv-net")[0] != 0


@pytest.mark.slow
def test_macvlan_survives_a_daemon_restart(daemon_factory) -> None:
    d = daemon_factory()
    d.docker_ok("network", "create", "-d", "macvlan", "--subnet", "10.238.0.0/24", "mvr")
    standin = "dm-" + d.docker_ok("network", "inspect", "-f", "{{.Id}}", "mvr").strip()[:12]
    d.docker_ok("run", "-d", "--name", "mvr-srv", "--network", "mvr", *SLEEP)
    d.stop()  # containers keep running; so does their networking
    d.start()
    assert standin in _links()
    code, out, err = d.docker("run", "--rm", "--network", "mvr", "busybox", "ping", "-c1", "-W3",
                              "mvr-srv")
    assert code == 0, out + err
    # A second network on the same (stand-in) parent is still refused: the driver knows it again.
    code, _, err = d.docker("network", "create", "-d", "macvlan", "-o", f"parent={standin}", "mvr2")
    assert code != 0 and "is already using parent interface" in err
    d.docker_ok("rm", "-f", "mvr-srv")
    d.docker_ok("network", "rm", "mvr")
    assert standin not in _links()

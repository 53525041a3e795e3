"""Networks as a Docker user sees them: the box model, names on user networks, isolation, ports,
and teardown that leaves no device, rule or resolver behind.

Traffic only ever targets loopback (published ports) or the namespaces the daemon made for the
test's own containers. Names that the embedded resolver does not own are never asked for: it
would forward them to the host's resolvers.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .daemon import Daemon
from .polling import settled as _settled
from .subnets import spare_subnet

HTTPD = ("busybox", "httpd", "-f", "-p", "8080", "-h", "/etc")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str, timeout: float = 3.0) -> str | None:
    """The body at ``url``, or None when nothing answers there."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.read().decode()
    except (urllib.error.URLError, OSError):
        return None


def _get_soon(url: str, deadline: float = 10.0) -> str | None:
    # httpd needs a moment after `docker run -d` returns before it listens.
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        body = _get(url, timeout=1.0)
        if body is not None:
            return body
        time.sleep(0.1)
    return None


def _inspect(daemon: Daemon, ref: str) -> dict:
    return json.loads(daemon.docker_ok("inspect", ref))[0]


def _links() -> set[str]:
    out = subprocess.run(["ip", "-j", "link"], capture_output=True, text=True, timeout=10, check=True)
    return {link["ifname"] for link in json.loads(out.stdout)}


def _ports_of(bridge: str) -> set[str]:
    out = subprocess.run(["ip", "-j", "link", "show", "master", bridge], capture_output=True,
                         text=True, timeout=10, check=True)
    return {link["ifname"] for link in json.loads(out.stdout or "[]")}


def _ruleset() -> str:
    out = subprocess.run(["nft", "-j", "list", "ruleset"], capture_output=True, text=True, timeout=10,
                         check=True)
    return out.stdout


@pytest.fixture
def network(daemon: Daemon) -> Iterator[Callable[..., str]]:
    """``network(*create_args)`` creates a uniquely named network, removed after the test."""
    made: list[str] = []

    def create(*args: str) -> str:
        name = f"net-{uuid.uuid4().hex[:8]}"
        daemon.docker_ok("network", "create", *args, name)
        made.append(name)
        return name

    yield create
    for name in made:
        daemon.docker("network", "rm", name)


def test_box_model(daemon: Daemon, container, name) -> None:
    p1, p2, p3 = _free_port(), _free_port(), _free_port()
    app1 = container("--name", name("app1"), "-p", f"0.0.0.0:{p1}:8080", *HTTPD)
    app2 = container("--name", name("app2"), "-p", f"127.0.0.1:{p2}:8080", *HTTPD)
    # App3 listens on its own loopback only: published or not, the host cannot reach it.
    container("--name", name("app3"), "-p", f"{p3}:8080", "busybox", "httpd", "-f", "-p",
              "127.0.0.1:8080", "-h", "/etc")
    # Both App1 and App2 listen on 8080, each in its own namespace, and both answer.
    assert _get_soon(f"http://127.0.0.1:{p1}/hostname") == app1[:12] + "\n"
    assert _get_soon(f"http://127.0.0.1:{p2}/hostname") == app2[:12] + "\n"
    # App2 is published on 127.0.0.1 only: another loopback address does not reach it.
    assert _get(f"http://127.0.0.2:{p2}/hostname") is None
    assert _get(f"http://127.0.0.1:{p3}/hostname") is None
    # Nothing published on a port: nothing answers there.
    assert _get(f"http://127.0.0.1:{_free_port()}/hostname", timeout=1.0) is None
    ports = daemon.docker_ok("port", app2)
    assert ports.strip() == f"8080/tcp -> 127.0.0.1:{p2}"


def test_random_ports_udp_and_publish_all(daemon: Daemon, container, name) -> None:
    cid = container("--name", name("ports"), "--expose", "9000", "-P", "-p", "127.0.0.1::8080",
                    "-p", "5353:53/udp", *HTTPD)
    mapping = _inspect(daemon, cid)["NetworkSettings"]["Ports"]
    assert set(mapping) == {"8080/tcp", "9000/tcp", "53/udp"}
    assert mapping["8080/tcp"][0]["HostIp"] == "127.0.0.1"
    assert mapping["53/udp"] == [{"HostIp": "0.0.0.0", "HostPort": "5353"}]
    random_port = int(mapping["9000/tcp"][0]["HostPort"])
    assert random_port > 1024
    out = daemon.docker_ok("port", cid, "8080")
    host_port = int(out.strip().rsplit(":", 1)[1])
    assert _get_soon(f"http://127.0.0.1:{host_port}/hostname") == cid[:12] + "\n"
    ps = daemon.docker_ok("ps", "--filter", f"id={cid}", "--format", "{{.Ports}}")
    assert f"127.0.0.1:{host_port}->8080/tcp" in ps and "0.0.0.0:5353->53/udp" in ps


def test_a_taken_host_port_is_refused(daemon: Daemon, container, name) -> None:
    port = _free_port()
    container("--name", name("first"), "-p", f"{port}:8080", *HTTPD)
    bridge = json.loads(daemon.docker_ok("network", "inspect", "bridge"))[0]["Options"][
        "com.docker.network.bridge.name"]
    before = _ports_of(bridge)
    second = name("second")
    code, _, err = daemon.docker("run", "-d", "--name", second, "-p", f"{port}:8080", *HTTPD)
    try:
        assert code == 125
        assert "port is already allocated" in err
        assert _ports_of(bridge) == before  # no veth left on our bridge by the failed start
    finally:
        daemon.docker("rm", "-f", second)


def test_names_aliases_and_links_on_a_user_network(daemon: Daemon, container, network, name) -> None:
    net = network()
    db = name("db")
    container("--name", db, "--network", net, "--network-alias", "database", *HTTPD)
    for target in (db, "database", "dbalias"):
        code, out, err = daemon.docker(
            "run", "--rm", "--network", net, "--link", f"{db}:dbalias", "busybox", "sh", "-c",
            f"printf 'GET /hostname HTTP/1.0\\r\\n\\r\\n' | timeout 5 nc {target} 8080")
        assert code == 0, err
        assert out.endswith(_inspect(daemon, db)["Id"][:12] + "\n")
    code, out, _ = daemon.docker("run", "--rm", "--network", net, "busybox", "cat", "/etc/resolv.conf")
    assert "nameserver 127.0.0.11" in out


def test_networks_are_isolated(daemon: Daemon, container, network, name) -> None:
    one, two = network(), network()
    server = container("--name", name("srv"), "--network", one, *HTTPD)
    address = _inspect(daemon, server)["NetworkSettings"]["Networks"][one]["IPAddress"]
    probe = f"printf 'GET /hostname HTTP/1.0\\r\\n\\r\\n' | timeout 3 nc -w 2 {address} 8080"
    code, out, _ = daemon.docker("run", "--rm", "--network", one, "busybox", "sh", "-c", probe)
    assert code == 0 and out.endswith(server[:12] + "\n")
    code, out, _ = daemon.docker("run", "--rm", "--network", two, "busybox", "sh", "-c", probe)
    assert code != 0 and server[:12] not in out


def test_internal_network_has_no_route_out(daemon: Daemon, network) -> None:
    net = network("--internal")
    out = daemon.docker_ok("run", "--rm", "--network", net, "busybox", "ip", "route")
    assert "default" not in out


def test_network_verbs(daemon: Daemon, network, container, name) -> None:
    subnet = spare_subnet("10.123.0.0/24")
    net = network("--subnet", str(subnet), "--gateway", str(subnet[254]), "--label", "team=a")
    info = json.loads(daemon.docker_ok("network", "inspect", net))[0]
    assert info["IPAM"]["Config"] == [{"Subnet": str(subnet), "Gateway": str(subnet[254])}]
    assert info["Labels"] == {"team": "a"} and info["Driver"] == "bridge"
    assert net in daemon.docker_ok("network", "ls", "--format", "{{.Name}}").split()
    assert set(daemon.docker_ok("network", "ls", "--filter", "type=builtin", "--format",
                                "{{.Name}}").split()) == {"bridge", "host", "none"}
    code, _, err = daemon.docker("network", "create", net)
    assert code != 0 and "already exists" in err
    cid = container("--name", name("fixed"), "--network", net, "--ip", str(subnet[7]), *HTTPD)
    assert _inspect(daemon, cid)["NetworkSettings"]["Networks"][net]["IPAddress"] == str(subnet[7])
    code, _, err = daemon.docker("network", "rm", net)
    assert code != 0 and "active endpoints" in err
    other = network()
    daemon.docker_ok("network", "connect", "--alias", "extra", other, cid)
    networks = _inspect(daemon, cid)["NetworkSettings"]["Networks"]
    assert set(networks) == {net, other} and networks[other]["IPAddress"]
    code, out, err = daemon.docker("run", "--rm", "--network", other, "busybox", "sh", "-c",
                                   "printf 'GET /hostname HTTP/1.0\\r\\n\\r\\n' | timeout 5 nc extra 8080")
    assert code == 0 and out.endswith(cid[:12] + "\n"), err
    daemon.docker_ok("network", "disconnect", other, cid)
    assert set(_inspect(daemon, cid)["NetworkSettings"]["Networks"]) == {net}
    code, _, err = daemon.docker("network", "rm", "bridge")
    assert code != 0 and "pre-defined" in err
    code, _, err = daemon.docker("run", "--rm", "--network", "no-such-net", "busybox", "true")
    assert code == 125 and "network no-such-net not found" in err


def test_hosts_and_resolv_conf(daemon: Daemon) -> None:
    out = daemon.docker_ok("run", "--rm", "--hostname", "box", "--add-host", "gw:host-gateway",
                           "--add-host", "one:10.1.2.3", "--dns-search", "example.test",
                           "busybox", "sh", "-c", "cat /etc/hosts; echo ---; cat /etc/resolv.conf")
    hosts, resolv = out.split("---\n")
    gateway = json.loads(daemon.docker_ok("network", "inspect", "bridge"))[0]["IPAM"]["Config"][0]["Gateway"]
    assert f"{gateway}\tgw" in hosts and "10.1.2.3\tone" in hosts
    last = hosts.strip().splitlines()[-1].split()
    assert last[1] == "box" and last[0].count(".") == 3 and not last[0].startswith("127.")
    assert "search example.test" in resolv and "127.0.0.11" not in resolv


def _traces(daemon: Daemon, words: list[str]) -> list[str]:
    """Which of ``words`` (device names, addresses) still appear on the host, and the sandboxes
    (netns files) no running container owns: the shared daemon may still run another test's
    containers, whose sandboxes are theirs, not leftovers."""
    links, rules = _links(), _ruleset()
    netns = list((daemon.exec_root / "netns").glob("*")) if (daemon.exec_root / "netns").exists() else []
    live = set(daemon.docker_ok("ps", "-q", "--no-trunc").split()) if netns and daemon.running else set()
    return [w for w in words if w in links or w in rules] + [str(p) for p in netns if p.name not in live]


def _explain(daemon: Daemon, traces: list[str]) -> str:
    """What the daemon's log says of each leftover sandbox's container (for a failure message)."""
    lines = daemon.log_path.read_text(errors="replace").splitlines()
    ids = [Path(t).name[:12] for t in traces if t.startswith("/")]
    return "\n".join(line for line in lines if any(i in line for i in ids))[-4000:]


def test_teardown_leaves_nothing(daemon: Daemon, network, name) -> None:
    net = network()
    cid = daemon.docker_ok("run", "-d", "--name", name("gone"), "--network", net, "-p",
                           f"127.0.0.1:{_free_port()}:8080", *HTTPD).strip()
    info = _inspect(daemon, cid)
    endpoint = info["NetworkSettings"]["Networks"][net]
    bridge = "dy-" + endpoint["NetworkID"][:12]
    veth = "dyv" + endpoint["EndpointID"][:8]
    address = endpoint["IPAddress"]
    assert bridge in _links() and veth in _links() and address in _ruleset()
    daemon.docker_ok("rm", "-f", cid)
    left = _settled(lambda: _traces(daemon, [veth, address]))
    assert left == [], _explain(daemon, left)
    daemon.docker_ok("network", "rm", net)
    left = _settled(lambda: _traces(daemon, [bridge]))
    assert left == [], _explain(daemon, left)


@pytest.mark.slow
def test_daemon_restart_keeps_and_then_clears_the_network(daemon_factory) -> None:
    d = daemon_factory()
    d.docker_ok("network", "create", "app-net")
    port = _free_port()
    cid = d.docker_ok("run", "-d", "--name", "web", "--network", "app-net", "-p",
                      f"127.0.0.1:{port}:8080", *HTTPD).strip()
    assert _get_soon(f"http://127.0.0.1:{port}/hostname") == cid[:12] + "\n"
    assert d.stop(signal.SIGTERM) is not None
    d.start()
    assert _get_soon(f"http://127.0.0.1:{port}/hostname") == cid[:12] + "\n"
    code, out, err = d.docker("run", "--rm", "--network", "app-net", "busybox", "sh", "-c",
                              "printf 'GET /hostname HTTP/1.0\\r\\n\\r\\n' | timeout 5 nc web 8080")
    assert code == 0 and out.endswith(cid[:12] + "\n"), err
    endpoint = _inspect(d, cid)["NetworkSettings"]["Networks"]["app-net"]
    bridge = "dy-" + endpoint["NetworkID"][:12]
    veth = "dyv" + endpoint["EndpointID"][:8]
    d.docker_ok("rm", "-f", cid)
    d.docker_ok("network", "rm", "app-net")
    default_bridge = json.loads(d.docker_ok("network", "inspect", "bridge"))[0]["Options"][
        "com.docker.network.bridge.name"]
    assert d.stop(signal.SIGTERM) is not None
    # Nothing runs: a stopped daemon leaves no bridge, veth, rule or sandbox behind.
    assert _traces(d, [bridge, veth, endpoint["IPAddress"], default_bridge]) == []


def test_lab_db_and_app_on_a_custom_network(daemon: Daemon, network, name) -> None:
    """The course's lab: a db keeps its data on the named volume db_data, an app reaches it by
    name, and the data outlives the removal and re-creation of the db container."""
    net = network()
    db = name("db")
    fetch = ("run", "--rm", "--network", net, "busybox", "sh", "-c",
             f"printf 'GET /record HTTP/1.0\\r\\n\\r\\n' | timeout 5 nc {db} 5000")
    serve = ("--network", net, "-v", "db_data:/data", "busybox", "httpd", "-f", "-p", "5000",
             "-h", "/data")
    try:
        daemon.docker_ok("run", "-d", "--name", db, *serve)
        daemon.docker_ok("exec", db, "sh", "-c", "echo saved-by-app > /data/record")
        code, out, err = daemon.docker(*fetch)
        assert code == 0 and out.endswith("saved-by-app\n"), err
        daemon.docker_ok("rm", "-f", db)
        daemon.docker_ok("run", "-d", "--name", db, *serve)
        code, out, err = daemon.docker(*fetch)
        assert code == 0 and out.endswith("saved-by-app\n"), err
    finally:
        daemon.docker("rm", "-f", db)
        daemon.docker("volume", "rm", "db_data")


def test_docker_py_networks(client, name) -> None:
    """docker-py's network calls; every response is checked against the API's schemas."""
    net = client.networks.create(f"net-{uuid.uuid4().hex[:8]}", driver="bridge", labels={"k": "v"})
    try:
        assert net.name in [n.name for n in client.networks.list()]
        box = client.containers.run("busybox", ["httpd", "-f", "-p", "8080"], detach=True,
                                    name=name("py"), network=net.name, ports={"8080/tcp": None})
        try:
            box.reload()
            settings = box.attrs["NetworkSettings"]
            assert settings["Networks"][net.name]["IPAddress"]
            assert int(settings["Ports"]["8080/tcp"][0]["HostPort"]) > 0
            net.reload()
            assert box.id in net.attrs["Containers"]
        finally:
            box.remove(force=True)
    finally:
        net.remove()

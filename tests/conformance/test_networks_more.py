"""Networks beyond the basics, through the stock docker CLI: IPv6 networks, hairpin NAT, the
embedded DNS over TCP and across a rename, and a daemon killed with -9 cleaning up after itself.

Traffic targets only loopback, the bridges the test's daemon made, and the test's containers.
"""

from __future__ import annotations

import ipaddress
import json
import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from . import test_networks
from .daemon import Daemon
from .subnets import spare_subnet
from .test_networks import HTTPD, _free_port, _get_soon, _inspect, _links

network = test_networks.network  # the fixture: a uniquely named network, removed after the test

GET = "printf 'GET /hostname HTTP/1.0\\r\\n\\r\\n' | timeout 5 nc {host} {port}"


def _ipv6_usable() -> bool:
    try:
        return Path("/proc/sys/net/ipv6/conf/all/disable_ipv6").read_text().strip() == "0"
    except OSError:
        return False


needs_ipv6 = pytest.mark.skipif(not _ipv6_usable(), reason="IPv6 is disabled on this host")


@needs_ipv6
def test_ipv6_network_names_addresses_and_published_ports(daemon: Daemon, container, network,
                                                          name) -> None:
    net = network("--ipv6")
    config = json.loads(daemon.docker_ok("network", "inspect", net))[0]
    assert config["EnableIPv6"] is True
    v6 = [c for c in config["IPAM"]["Config"] if ":" in c["Subnet"]]
    assert len(v6) == 1 and v6[0]["Subnet"].startswith("fd") and v6[0]["Subnet"].endswith("/64")
    port = _free_port()
    srv = name("six")
    cid = container("--name", srv, "--network", net, "-p", f"[::1]:{port}:8080", *HTTPD)
    endpoint = _inspect(daemon, cid)["NetworkSettings"]["Networks"][net]
    assert endpoint["GlobalIPv6Address"].startswith(v6[0]["Subnet"].split("::")[0])
    assert endpoint["GlobalIPv6PrefixLen"] == 64 and endpoint["IPv6Gateway"] == v6[0]["Gateway"]
    # A sibling pings the server by name over IPv6: an AAAA answer from the embedded DNS.
    code, out, err = daemon.docker("run", "--rm", "--network", net, "busybox", "ping", "-6", "-c1",
                                   "-W3", srv)
    assert code == 0, out + err
    assert endpoint["GlobalIPv6Address"] in out
    # The port published on [::1] answers on the host's IPv6 loopback.
    assert _get_soon(f"http://[::1]:{port}/hostname") == cid[:12] + "\n"
    assert daemon.docker_ok("port", cid).strip() == f"8080/tcp -> [::1]:{port}"


@needs_ipv6
def test_ipv6_network_with_a_given_subnet_and_address(daemon: Daemon, container, network,
                                                      name) -> None:
    subnet = spare_subnet("10.124.0.0/24")
    net = network("--ipv6", "--subnet", "fd42:7a:1::/64", "--subnet", str(subnet))
    cid = container("--name", name("fixed6"), "--network", net, "--ip6", "fd42:7a:1::42", *HTTPD)
    endpoint = _inspect(daemon, cid)["NetworkSettings"]["Networks"][net]
    assert endpoint["GlobalIPv6Address"] == "fd42:7a:1::42"
    assert ipaddress.ip_address(endpoint["IPAddress"]) in subnet
    out = daemon.docker_ok("run", "--rm", "--network", net, "busybox", "sh", "-c",
                           GET.format(host="fd42:7a:1::42", port=8080))
    assert out.endswith(cid[:12] + "\n")
    code, _, err = daemon.docker("network", "create", "--subnet", "fd42:7a:1::/64", "--ipv6",
                                 name("overlap"))
    assert code != 0 and "overlaps" in err


def test_hairpin_nat_through_a_host_address(daemon: Daemon, container, network, name) -> None:
    net = network()
    port = _free_port()
    cid = container("--name", name("hair"), "--network", net, "-p", f"{port}:8080", *HTTPD)
    gateway = _inspect(daemon, cid)["NetworkSettings"]["Networks"][net]["Gateway"]
    assert _get_soon(f"http://127.0.0.1:{port}/hostname") == cid[:12] + "\n"
    # The container reaches its own published port through the host's (bridge) address...
    out = daemon.docker_ok("exec", cid, "sh", "-c", GET.format(host=gateway, port=port))
    assert out.endswith(cid[:12] + "\n")
    # ...and so does a sibling on the same network.
    out = daemon.docker_ok("run", "--rm", "--network", net, "busybox", "sh", "-c",
                           GET.format(host=gateway, port=port))
    assert out.endswith(cid[:12] + "\n")


def _tcp_query(daemon: Daemon, net: str, qname: str) -> list[str]:
    """Addresses the embedded DNS answers for ``qname`` over TCP, asked from a container."""
    from dnslib import QTYPE, DNSRecord

    query = DNSRecord.question(qname, "A").pack()
    framed = len(query).to_bytes(2, "big") + query
    escaped = "".join(f"\\{b:03o}" for b in framed)
    out = daemon.docker_ok("run", "--rm", "--network", net, "busybox", "sh", "-c",
                           f"printf '{escaped}' | nc -w 3 127.0.0.11 53 | od -An -v -tx1")
    raw = bytes.fromhex("".join(out.split()))
    assert len(raw) > 2, "no answer over TCP"
    reply = DNSRecord.parse(raw[2:2 + int.from_bytes(raw[:2], "big")])
    return [str(rr.rdata) for rr in reply.rr if rr.rtype == QTYPE.A]


def test_embedded_dns_over_tcp_and_across_a_rename(daemon: Daemon, container, network,
                                                   name) -> None:
    # Internal: a name the resolver does not own is refused there, never forwarded off the host.
    net = network("--internal")
    old, new = name("before"), name("after")
    cid = container("--name", old, "--network", net, *HTTPD)
    address = _inspect(daemon, cid)["NetworkSettings"]["Networks"][net]["IPAddress"]
    assert _tcp_query(daemon, net, old) == [address]
    daemon.docker_ok("rename", old, new)
    # The new name resolves (over UDP, as nslookup asks) and the old one no longer does.
    out = daemon.docker_ok("run", "--rm", "--network", net, "busybox", "sh", "-c",
                           GET.format(host=new, port=8080))
    assert out.endswith(cid[:12] + "\n")
    assert _tcp_query(daemon, net, new) == [address]
    assert _inspect(daemon, cid)["NetworkSettings"]["Networks"][net]["DNSNames"][0] == new
    assert _tcp_query(daemon, net, old) == []


def _table(d: Daemon) -> str:
    import hashlib

    return "dockyard_" + hashlib.sha256(str(d.data_root).encode()).hexdigest()[:8]


@pytest.mark.slow
def test_after_kill_9_the_next_daemon_removes_what_no_record_owns(daemon_factory) -> None:
    d = daemon_factory(busybox=False)
    d.docker_ok("network", "create", "kept")
    gone_id = d.docker_ok("network", "create", "--ipv6", "orphan").strip()
    kept_bridge, gone_bridge = "dy-" + d.docker_ok("network", "inspect", "-f", "{{.Id}}",
                                                   "kept").strip()[:12], "dy-" + gone_id[:12]
    table = _table(d)
    assert d.stop(signal.SIGKILL) is not None
    # The crash left the bridges and rules up; now one network's record goes missing (as when a
    # daemon dies between removing the record and the bridge), and the table gets a stray rule.
    with sqlite3.connect(d.data_root / "dockyard.db") as db:
        db.execute("DELETE FROM networks WHERE id = ?", (gone_id,))
    subprocess.run(["nft", "add", "element", "ip", table, "dnat_any",
                    "{ tcp . 1 : 10.255.255.254 . 1 }"], check=True, timeout=10)
    assert {kept_bridge, gone_bridge} <= _links()
    d.start()
    links = _links()
    assert kept_bridge in links and gone_bridge not in links
    ruleset = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True,
                             timeout=10, check=True).stdout
    assert "10.255.255.254" not in ruleset and gone_bridge not in ruleset
    assert kept_bridge in ruleset
    iptables = subprocess.run(["iptables", "-S", "FORWARD"], capture_output=True, text=True,
                              timeout=10).stdout
    assert gone_bridge not in iptables
    assert [n for n in d.docker_ok("network", "ls", "--format", "{{.Name}}").split()] == [
        "bridge", "host", "kept", "none"] or "orphan" not in d.docker_ok("network", "ls")


def _dockyard(d: Daemon, *args: str) -> subprocess.CompletedProcess[str]:
    import os
    import sys

    env = {**os.environ, "DOCKER_HOST": f"unix://{d.sock}"}
    return subprocess.run([sys.executable, "-m", "dockyard.cli.main", *args], capture_output=True,
                          text=True, timeout=60, env=env, check=False)


def test_dockyard_cli_network_flags(daemon: Daemon, container, network, name) -> None:
    subnet = spare_subnet("10.125.0.0/24")
    fixed = str(subnet[50])
    net = network("--subnet", str(subnet))
    db = name("db")
    container("--name", db, "--network", net, *HTTPD)
    port = _free_port()
    app = name("app")
    proc = _dockyard(daemon, "run", "-d", "--name", app, "--network", net, "--ip", fixed,
                     "--network-alias", "web", "--link", f"{db}:dbl", "-P", "--expose", "7000-7001",
                     "-p", f"127.0.0.1:{port}-{port}:8080", "--dns-search", "corp.test",
                     "--dns-option", "ndots:3", "--add-host", "h1:10.9.8.7", "--domainname",
                     "dom.test", "busybox", "httpd", "-f", "-p", "8080", "-h", "/etc")
    assert proc.returncode == 0, proc.stderr
    cid = proc.stdout.strip()
    try:
        info = _inspect(daemon, cid)
        endpoint = info["NetworkSettings"]["Networks"][net]
        assert endpoint["IPAddress"] == fixed and "web" in endpoint["Aliases"]
        ports = info["NetworkSettings"]["Ports"]
        assert {"7000/tcp", "7001/tcp", "8080/tcp"} <= set(ports) and ports["7000/tcp"]
        assert _get_soon(f"http://127.0.0.1:{port}/hostname") == cid[:12] + "\n"
        files = daemon.docker_ok("exec", cid, "cat", "/etc/resolv.conf", "/etc/hosts")
        assert "search corp.test" in files and "ndots:3" in files and "10.9.8.7\th1" in files
        # The alias and the link answer on the user network.
        for target in ("web", "dbl"):
            out = daemon.docker_ok("exec", cid if target == "dbl" else db, "sh", "-c",
                                   GET.format(host=target, port=8080))
            assert "200 OK" in out
    finally:
        daemon.docker("rm", "-f", cid)


@pytest.fixture
def routed_elsewhere() -> Iterator[ipaddress.IPv4Network]:
    """A /16 the host routes (a blackhole: traffic to it goes nowhere, as before the test)."""
    routed = spare_subnet("10.126.0.0/16")
    subprocess.run(["ip", "route", "add", "blackhole", str(routed)], check=True, timeout=10)
    try:
        yield routed
    finally:
        subprocess.run(["ip", "route", "del", "blackhole", str(routed)], check=False, timeout=10)


def test_a_given_subnet_may_overlap_a_host_route(daemon: Daemon, network,
                                                 routed_elsewhere: ipaddress.IPv4Network) -> None:
    """libnetwork checks a user's subnet against its own networks only; the host's routes steer
    only the subnets it picks."""
    given = next(routed_elsewhere.subnets(new_prefix=24))
    net = network("--subnet", str(given))
    assert json.loads(daemon.docker_ok("network", "inspect", net))[0]["IPAM"]["Config"][0][
        "Subnet"] == str(given)
    code, _, err = daemon.docker("network", "create", "--subnet", str(given), net + "-twin")
    assert code != 0 and "overlaps" in err

"""Networks in the core with a fake backend: IPAM, ports, names, verbs and their errors."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from dnslib import QTYPE, RCODE, DNSRecord

from dockyard.backends.dns import answer_query
from dockyard.backends.nftables import port_elements, table_script
from dockyard.core.containers.hostfiles import network_resolv_conf
from dockyard.core.metadata import Metadata
from dockyard.core.networks import ipam
from dockyard.core.networks.backend import NameLookup
from dockyard.core.networks.model import Endpoint, EndpointRequest, NameAnswer, Network, PortBinding
from dockyard.core.networks.ports import port_bindings, ports_json
from dockyard.core.networks.service import NetworkCreate, NetworkService
from dockyard.errors import AlreadyExists, Conflict, Forbidden, InUse, InvalidArgument, NotFound, Unavailable

Net = ipaddress.IPv4Network


class FakeBackend:
    def __init__(self, occupied: Sequence[str] = ()) -> None:
        self.occupied = [Net(n) for n in occupied]
        self.bridges: set[str] = set()
        self.sandboxes: set[str] = set()
        self.attached: dict[str, Endpoint] = {}
        self.fail_attach = False

    async def check(self) -> None:
        return None

    async def occupied_subnets(self) -> list[Net]:
        return list(self.occupied)

    async def create_network(self, network: Network) -> None:
        if network.bridge == "broken":
            raise Unavailable("cannot create bridge")
        self.bridges.add(network.bridge)

    async def remove_network(self, network: Network) -> None:
        self.bridges.discard(network.bridge)

    async def create_sandbox(self, key: str, *, source: str = "") -> str:
        self.sandboxes.add(key)
        return f"/run/netns/{key}"

    async def remove_sandbox(self, key: str) -> None:
        self.sandboxes.discard(key)

    async def attach(self, network: Network, endpoint: Endpoint) -> list[PortBinding]:
        if self.fail_attach:
            raise Conflict("port is already allocated")
        self.attached[endpoint.id] = endpoint
        return [PortBinding(p.container_port, p.proto, p.host_ip, p.host_port or 40000)
                for p in endpoint.ports]

    async def detach(self, network: Network, endpoint: Endpoint) -> None:
        self.attached.pop(endpoint.id, None)

    async def restore(self, networks: Sequence[Network], endpoints: Sequence[Endpoint]) -> None:
        return None

    async def close(self, *, keep: bool) -> None:
        return None


class FakeResolver:
    def __init__(self) -> None:
        self.serving: dict[str, NameLookup] = {}

    async def serve(self, key: str, sandbox: str, lookup: NameLookup) -> None:
        self.serving[key] = lookup

    async def stop(self, key: str) -> None:
        self.serving.pop(key, None)

    async def close(self) -> None:
        self.serving.clear()


async def _service(tmp_path: Path, occupied: Sequence[str] = ("192.0.2.0/24",)) -> tuple[
        NetworkService, FakeBackend, FakeResolver]:
    backend, resolver = FakeBackend(occupied), FakeResolver()
    service = NetworkService(db=Metadata(tmp_path / "db"), backend=backend, resolver=resolver,
                             default_bridge="dytest0", upstreams=("10.255.255.53",))
    await service.open()
    return service, backend, resolver


# ---- IPAM ----
def test_pick_subnet_skips_the_hosts_routes_and_ours() -> None:
    assert ipam.pick_subnet([Net("0.0.0.0/0"), Net("172.17.5.0/24")]) == Net("172.18.0.0/16")
    every_172 = [Net(f"172.{i}.0.0/16") for i in range(17, 32)]
    assert ipam.pick_subnet(every_172) == Net("192.168.0.0/20")


def test_allocate_hands_out_free_addresses() -> None:
    assert ipam.allocate("10.0.0.0/24", "10.0.0.1", []) == "10.0.0.2"
    assert ipam.allocate("10.0.0.0/24", "10.0.0.1", ["10.0.0.2"]) == "10.0.0.3"
    assert ipam.allocate("10.0.0.0/24", "10.0.0.1", [], ip_range="10.0.0.128/25") == "10.0.0.129"
    assert ipam.allocate("10.0.0.0/24", "10.0.0.1", [], wanted="10.0.0.9") == "10.0.0.9"
    with pytest.raises(Conflict):
        ipam.allocate("10.0.0.0/24", "10.0.0.1", ["10.0.0.9"], wanted="10.0.0.9")
    with pytest.raises(InvalidArgument):
        ipam.allocate("10.0.0.0/24", "10.0.0.1", [], wanted="10.9.0.9")
    with pytest.raises(Unavailable):
        ipam.allocate("10.0.0.0/30", "10.0.0.1", ["10.0.0.2"])
    assert ipam.mac_of("172.18.0.2") == "02:42:ac:12:00:02"


def test_subnet_and_gateway_validation() -> None:
    with pytest.raises(InvalidArgument):
        ipam.parse_subnet("10.0.0.1/24")
    with pytest.raises(InvalidArgument):
        ipam.gateway_of(Net("10.0.0.0/24"), "10.0.1.1")
    with pytest.raises(Conflict):
        ipam.check_overlap(Net("10.0.0.0/16"), [Net("10.0.3.0/24")])


# ---- ports ----
def test_port_bindings_follow_dockers_host_config() -> None:
    host = {"PortBindings": {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "18080"}],
                             "53/udp": [{"HostIp": "", "HostPort": ""}]},
            "PublishAllPorts": True}
    bindings = port_bindings(host, {"9000/tcp": {}, "8080/tcp": {}})
    assert PortBinding(8080, "tcp", "127.0.0.1", 18080) in bindings
    assert PortBinding(53, "udp", "", 0) in bindings
    assert PortBinding(9000, "tcp", "", 0) in bindings and len(bindings) == 3
    with pytest.raises(InvalidArgument):
        port_bindings({"PortBindings": {"80/xyz": None}}, {})
    shown = ports_json({"9000/tcp": {}}, [PortBinding(8080, "tcp", "", 40001)])
    assert shown == {"9000/tcp": None, "8080/tcp": [{"HostIp": "0.0.0.0", "HostPort": "40001"}]}


# ---- nftables ----
def test_one_table_script_and_element_changes() -> None:
    network = Network(id="n" * 64, name="web", driver="bridge", created="", subnet="172.20.0.0/16",
                      gateway="172.20.0.1", bridge="dy-nnnn")
    script = table_script("dockyard_t", [network], [])
    assert script.startswith("add table ip dockyard_t\ndelete table ip dockyard_t\n")
    assert 'add element ip dockyard_t bridges { "dy-nnnn" }' in script
    assert "add element ip dockyard_t masq { 172.20.0.0/16 }" in script
    lines = port_elements("t", "172.20.0.2", [PortBinding(8080, "tcp", "127.0.0.1", 18080),
                                              PortBinding(53, "udp", "", 5353)], "add")
    assert lines == ["add element ip t dnat_addr { 127.0.0.1 . tcp . 18080 : 172.20.0.2 . 8080 }",
                     "add element ip t dnat_any { udp . 5353 : 172.20.0.2 . 53 }"]
    assert port_elements("t", "172.20.0.2", [PortBinding(53, "udp", "", 5353)], "delete") == [
        "delete element ip t dnat_any { udp . 5353 }"]


# ---- the service ----
async def test_builtin_networks_and_default_subnet(tmp_path: Path) -> None:
    service, backend, _ = await _service(tmp_path, occupied=("172.17.0.0/16",))
    assert {n.name for n in service.list()} == {"bridge", "host", "none"}
    bridge = service.inspect("bridge")
    assert bridge.subnet == "172.18.0.0/16" and bridge.bridge == "dytest0" and not bridge.has_dns
    with pytest.raises(Forbidden):
        await service.remove("bridge")
    with pytest.raises(NotFound, match="network nope not found"):
        service.inspect("nope")


async def test_create_remove_and_prune(tmp_path: Path) -> None:
    service, backend, _ = await _service(tmp_path)
    net = await service.create(NetworkCreate(name="app", labels={"team": "a"}))
    assert net.bridge in backend.bridges and service.inspect(net.id[:8]) is net
    with pytest.raises(AlreadyExists):
        await service.create(NetworkCreate(name="app"))
    with pytest.raises(Conflict):
        await service.create(NetworkCreate(name="clash", subnet=net.subnet))
    with pytest.raises(Unavailable):
        await service.create(NetworkCreate(name="bad", options={
            "com.docker.network.bridge.name": "broken"}))
    assert "bad" not in {n.name for n in service.list()}
    other = await service.create(NetworkCreate(name="other"))
    assert await service.prune(["team=a"]) == ["app"]
    await service.remove(other.name)
    assert backend.bridges == set()


async def test_join_leave_and_names(tmp_path: Path) -> None:
    service, backend, resolver = await _service(tmp_path)
    await service.create(NetworkCreate(name="app", subnet="10.5.0.0/24"))
    await service.create(NetworkCreate(name="other"))
    await service.join("a" * 64, "db", [EndpointRequest("app", aliases=("database",))],
                       [PortBinding(5432)])
    await service.join("b" * 64, "web", [EndpointRequest("app", links=("db:pg",))], [])
    await service.join("c" * 64, "lonely", [EndpointRequest("other")], [])
    ips = {e.container_name: e.ip for e in service.endpoints()}
    assert ips["db"] == "10.5.0.2" and ips["web"] == "10.5.0.3"
    assert service.endpoints(container_id="a" * 64)[0].ports == [PortBinding(5432, "tcp", "", 40000)]
    lookup = resolver.serving["b" * 64]
    assert lookup("b" * 64, "db.") == NameAnswer(addresses=("10.5.0.2",))
    assert lookup("b" * 64, "DATABASE") == NameAnswer(addresses=("10.5.0.2",))
    assert lookup("b" * 64, "pg") == NameAnswer(addresses=("10.5.0.2",))
    assert lookup("c" * 64, "db") == NameAnswer(forward=("10.255.255.53",))
    with pytest.raises(InUse):
        await service.remove("app")
    await service.leave("a" * 64)
    assert "a" * 64 not in backend.sandboxes and "a" * 64 not in resolver.serving
    assert lookup("b" * 64, "db") == NameAnswer(forward=("10.255.255.53",))


async def test_a_failed_join_leaves_nothing(tmp_path: Path) -> None:
    service, backend, resolver = await _service(tmp_path)
    backend.fail_attach = True
    with pytest.raises(Conflict):
        await service.join("a" * 64, "x", [EndpointRequest("bridge")], [PortBinding(80, host_port=80)])
    assert service.endpoints() == [] and backend.sandboxes == set() and resolver.serving == {}


async def test_endpoint_requests_are_checked(tmp_path: Path) -> None:
    service, _, _ = await _service(tmp_path)
    await service.create(NetworkCreate(name="auto"))
    with pytest.raises(InvalidArgument, match="user configured subnets"):
        await service.join("a" * 64, "x", [EndpointRequest("auto", ip="172.18.0.9")], [])
    with pytest.raises(InvalidArgument, match="user defined networks"):
        await service.join("a" * 64, "x", [EndpointRequest("bridge", aliases=("y",))], [])


async def test_internal_networks_do_not_forward(tmp_path: Path) -> None:
    service, _, resolver = await _service(tmp_path)
    await service.create(NetworkCreate(name="closed", internal=True))
    await service.join("a" * 64, "x", [EndpointRequest("closed")], [])
    assert resolver.serving["a" * 64]("a" * 64, "example.com") == NameAnswer(refuse=True)


async def test_records_survive_a_restart(tmp_path: Path) -> None:
    service, _, _ = await _service(tmp_path)
    net = await service.create(NetworkCreate(name="keep"))
    await service.join("a" * 64, "x", [EndpointRequest("keep")], [])
    again, _, resolver = await _service(tmp_path)
    assert again.inspect("keep").id == net.id
    assert [e.container_name for e in again.endpoints()] == ["x"]
    assert "a" * 64 in resolver.serving


# ---- resolver and resolv.conf ----
def test_dns_answers_forwards_and_refuses() -> None:
    def lookup(key: str, name: str) -> NameAnswer:
        if name == "db.":
            return NameAnswer(addresses=("10.0.0.2",))
        if name == "out.":
            return NameAnswer(forward=("10.9.9.9",))
        return NameAnswer(refuse=True)

    reply, _ = answer_query(DNSRecord.question("db").pack(), "k", lookup)
    assert reply is not None
    parsed = DNSRecord.parse(reply)
    assert [str(rr.rdata) for rr in parsed.rr] == ["10.0.0.2"] and parsed.rr[0].rtype == QTYPE.A
    reply, upstreams = answer_query(DNSRecord.question("out").pack(), "k", lookup)
    assert reply is None and upstreams == ("10.9.9.9",)
    reply, _ = answer_query(DNSRecord.question("x").pack(), "k", lookup)
    assert reply is not None and DNSRecord.parse(reply).header.rcode == RCODE.REFUSED


def test_resolv_conf_on_user_and_default_networks() -> None:
    user = network_resolv_conf({"DnsSearch": ["corp.test"], "DnsOptions": ["timeout:2"]},
                               embedded_dns=True)
    assert "nameserver 127.0.0.11" in user and "search corp.test" in user
    assert "options timeout:2 ndots:0" in user
    default = network_resolv_conf({"Dns": ["10.1.1.1"]}, embedded_dns=False)
    assert "nameserver 10.1.1.1" in default and "127.0.0.11" not in default


# ---- a container's requests ----
def test_endpoint_requests_from_a_create_body() -> None:
    from dockyard.core.containers.networking import endpoint_requests, seed_endpoints

    def requests(mode: str, networking: dict[str, object], host: dict[str, object]) -> object:
        return endpoint_requests(mode, seed_endpoints(mode, networking), host)

    assert requests("none", {}, {}) == [] and requests("container:x", {}, {}) == []
    assert requests("default", {}, {"Links": ["db:d"]}) == [EndpointRequest("bridge")]
    networking = {"EndpointsConfig": {"extra": {}, "app": {"IPAMConfig": {"IPv4Address": "10.0.0.5"},
                                                           "Aliases": ["web"]}}}
    assert requests("app", networking, {"Links": ["db:d"]}) == [
        EndpointRequest("app", ip="10.0.0.5", aliases=("web",), links=("db:d",)),
        EndpointRequest("extra", links=("db:d",))]
    assert requests("app", {"EndpointsConfig": {"default": {"Aliases": ["w"]}}}, {}) == [
        EndpointRequest("app", aliases=("w",))]


def test_a_created_container_disconnected_from_its_network_mode_joins_only_what_is_left() -> None:
    """moby keeps NetworkMode and drops the endpoint entry; a later connect adds one back."""
    from dockyard.core.containers.networking import endpoint_requests, seed_endpoints

    stored = seed_endpoints("app", {})
    assert endpoint_requests("app", {"EndpointsConfig": {}}, {}) == []
    reconnected = {"EndpointsConfig": {**stored["EndpointsConfig"], "app": {"Aliases": ["web"]}}}
    assert endpoint_requests("app", reconnected, {}) == [EndpointRequest("app", aliases=("web",))]


def test_a_record_from_before_seeding_keeps_its_network_mode_network() -> None:
    """Old data roots: the NetworkMode's network was joined whatever EndpointsConfig said; a seeded
    record that was disconnected since stays off it."""
    from types import SimpleNamespace

    from dockyard.core.containers.networking import endpoint_requests, stored_networking

    def container(networking: dict[str, object]) -> Any:
        return SimpleNamespace(networking=networking, host=SimpleNamespace(network_mode="app"))

    old = stored_networking(container({"EndpointsConfig": {"extra": {}}}))
    assert endpoint_requests("app", old, {}) == [EndpointRequest("app"), EndpointRequest("extra")]
    disconnected = {**old, "EndpointsConfig": {"extra": {}}}
    assert endpoint_requests("app", stored_networking(container(disconnected)), {}) == [
        EndpointRequest("extra")]


def test_ipv6_pool_skips_routed_prefixes_and_addresses_are_handed_out_in_order() -> None:
    seed = "ab" * 32
    first = ipam.pick_subnet6([], seed)
    assert str(first).startswith("fdab:abab:abab:") and first.prefixlen == 64
    second = ipam.pick_subnet6([first, ipaddress.IPv4Network("10.0.0.0/8")], seed)
    assert second != first and not second.overlaps(first)
    gateway = ipam.gateway_of(first)
    assert ipam.allocate6(str(first), gateway, []) == str(first.network_address + 2)
    with pytest.raises(Conflict):
        ipam.allocate6(str(first), gateway, [], wanted=gateway)
    with pytest.raises(InvalidArgument):
        ipam.parse_subnet6("10.0.0.0/8")


def test_embedded_dns_answers_aaaa_for_ipv6_peers() -> None:
    answer = NameAnswer(addresses=("172.18.0.2", "fd00:1::2"))
    query = DNSRecord.question("db", "AAAA").pack()
    reply, _ = answer_query(query, "c", lambda key, name: answer)
    assert reply is not None
    records = DNSRecord.parse(reply).rr
    assert [(r.rtype, str(r.rdata)) for r in records] == [(QTYPE.AAAA, "fd00:1::2")]


@pytest.mark.parametrize(("subnet", "gateway", "wanted", "error"), [
    ("10.0.0.0/24", "10.0.0.1", "fd00::5", "invalid IPv4 address"),
    ("10.0.0.0/24", "10.0.0.1", "not-an-ip", "invalid IPv4 address"),
    ("fd00:1::/64", "fd00:1::1", "10.0.0.5", "invalid IPv6 address"),
    ("fd00:1::/64", "fd00:1::1", "fd00:2::5", "no configured subnet"),
])
def test_a_requested_address_must_be_of_the_network_s_family_and_subnet(
        subnet: str, gateway: str, wanted: str, error: str) -> None:
    allocate = ipam.allocate if "." in subnet else ipam.allocate6
    with pytest.raises(InvalidArgument, match=error):
        allocate(subnet, gateway, [], wanted=wanted)
    assert ipam.allocate6("fd00:1::/64", "fd00:1::1", [], wanted="fd00:1::9") == "fd00:1::9"
    with pytest.raises(Conflict, match="Address already in use"):
        ipam.allocate6("fd00:1::/64", "fd00:1::1", ["fd00:1::9"], wanted="fd00:1::9")

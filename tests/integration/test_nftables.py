"""Our nftables table for real: built in one transaction, elements added and removed, deleted."""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest

from dockyard.backends.nftables import NftFirewall
from dockyard.core.networks.model import Endpoint, Network, PortBinding

pytestmark = pytest.mark.root


def _table(name: str) -> list[dict]:
    proc = subprocess.run(["nft", "-j", "list", "table", "ip", name], capture_output=True, text=True,
                          timeout=10)
    return json.loads(proc.stdout)["nftables"] if proc.returncode == 0 else []


def _elements(name: str, set_name: str) -> list:
    for item in _table(name):
        data = item.get("set") or item.get("map")
        if data and data["name"] == set_name:
            return list(data.get("elem") or [])
    return []


async def test_table_lifecycle() -> None:
    table = f"dockyard_test_{uuid.uuid4().hex[:8]}"
    firewall = NftFirewall(table)
    network = Network(id="n" * 64, name="t", driver="bridge", created="", subnet="10.250.0.0/24",
                      gateway="10.250.0.1", bridge="dyt-nft")
    endpoint = Endpoint(id="e" * 64, network_id=network.id, container_id="c" * 64,
                        container_name="c", ip="10.250.0.2", mac="", ifname="eth0", veth="dyvx",
                        sandbox="", ports=[PortBinding(8080, "tcp", "127.0.0.1", 18080)])
    try:
        await firewall.reset([], [])
        await firewall.reset([], [])  # rebuilding an existing table is fine
        await firewall.add_network(network)
        await firewall.publish(endpoint, endpoint.ports)
        assert _elements(table, "bridges") == ["dyt-nft"]
        assert "10.250.0.2" in json.dumps(_elements(table, "dnat_addr"))
        await firewall.unpublish(endpoint)
        await firewall.remove_network(network)
        assert _elements(table, "dnat_addr") == [] and _elements(table, "bridges") == []
    finally:
        await firewall.delete()
    assert _table(table) == []

"""``dockyard create`` networking flags send the same request body as the stock docker CLI: both
clients talk to one fake daemon and their ``POST /containers/create`` bodies are compared."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from test_cli_requests import FakeDaemon, cli, daemon, reply  # noqa: F401

from dockyard.cli.client import CliError
from dockyard.cli.network_opts import parse_ports

DOCKER = shutil.which("docker") or "/usr/local/bin/docker"

FLAGS = [
    ["--network", "mynet", "--network-alias", "a1", "--network-alias", "a2", "--ip", "10.1.0.5",
     "--ip6", "fd00:1::5", "--link", "other:al", "-P", "--expose", "7000-7002", "--expose",
     "9000/udp", "-p", "8000-8001:80-81", "-p", "127.0.0.1::53/udp", "-p", "[::1]:9090:90",
     "-p", "7100-7110:7100", "--dns", "192.0.2.1", "--dns-search", "ex.test", "--dns-option",
     "ndots:2", "--add-host", "h1:10.0.0.1", "--mac-address", "02:42:ac:11:00:99",
     "--domainname", "dom.test"],
    ["--ip", "10.1.0.5", "--mac-address", "02:42:ac:11:00:99", "-p", "5000-5001:6000-6001/udp"],
    ["-p", "8080", "--expose", "80"],
]

HOST_KEYS = ("NetworkMode", "PortBindings", "PublishAllPorts", "Dns", "DnsSearch", "DnsOptions",
             "ExtraHosts", "Links")


def _networking(body: dict[str, Any]) -> dict[str, Any]:
    return {"ExposedPorts": body.get("ExposedPorts") or None, "Domainname": body["Domainname"],
            "MacAddress": body.get("MacAddress"),
            "NetworkingConfig": body["NetworkingConfig"],
            **{k: body["HostConfig"].get(k) for k in HOST_KEYS}}


@pytest.mark.skipif(not Path(DOCKER).exists(), reason="no stock docker CLI")
@pytest.mark.parametrize("flags", FLAGS)
def test_create_body_matches_the_docker_cli(daemon: FakeDaemon, flags: list[str]) -> None:  # noqa: F811
    daemon.route("POST", "/containers/create", reply(400, {"message": "recorded"}))
    subprocess.run([DOCKER, "-H", f"unix://{daemon.sock}", "create", *flags, "busybox", "true"],
                   capture_output=True, timeout=30, check=False)
    assert cli("create", *flags, "busybox", "true") != 0
    creates = [r.json() for r in daemon.requests if r.path.endswith("/containers/create")]
    assert len(creates) == 2, "both clients should have sent a create"
    theirs, ours = creates
    assert _networking(ours) == _networking(theirs)


def test_port_ranges_must_match() -> None:
    with pytest.raises(CliError, match="invalid ranges specified"):
        parse_ports(["7000:7000-7001"], [])
    exposed, bindings = parse_ports(["[::1]:9090:90/udp"], ["1-2/udp"])
    assert bindings == {"90/udp": [{"HostIp": "::1", "HostPort": "9090"}]}
    assert set(exposed) == {"90/udp", "1/udp", "2/udp"}

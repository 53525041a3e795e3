"""Networks of a container that is created but not started (what Compose v1 does before start:
disconnect, then connect again with aliases): moby keeps NetworkMode and joins what is left."""

from __future__ import annotations

import json

from . import test_networks
from .daemon import Daemon
from .test_networks import _free_port, _get_soon

network = test_networks.network


def test_disconnect_then_connect_before_start_keeps_network_and_ports(daemon: Daemon, network,
                                                                       name) -> None:
    net = network()
    port = _free_port()
    cname = name("created")
    daemon.docker_ok("create", "--name", cname, "--network", net, "-p", f"127.0.0.1:{port}:8080",
                     "busybox", "httpd", "-f", "-p", "8080", "-h", "/etc")
    try:
        daemon.docker_ok("network", "disconnect", net, cname)
        networks = json.loads(daemon.docker_ok("inspect", "-f", "{{json .NetworkSettings.Networks}}", cname))
        assert networks == {}
        assert daemon.docker_ok("inspect", "-f", "{{.HostConfig.NetworkMode}}", cname).strip() == net
        daemon.docker_ok("network", "connect", "--alias", "web", net, cname)
        daemon.docker_ok("start", cname)
        assert daemon.docker_ok("inspect", "-f", "{{.HostConfig.NetworkMode}}", cname).strip() == net
        addresses = daemon.docker_ok("exec", cname, "ip", "-4", "-o", "addr")
        assert "eth0" in addresses, "the container joined its network"
        assert _get_soon(f"http://127.0.0.1:{port}/hostname") is not None, "its port is published"
        peer = daemon.docker("run", "--rm", "--network", net, "busybox", "nslookup", "web")
        assert peer[0] == 0, peer
    finally:
        daemon.docker("rm", "-f", cname)


def test_a_created_container_left_with_no_network_starts_with_loopback_only(daemon: Daemon, network,
                                                                           name) -> None:
    net = network()
    cname = name("bare")
    daemon.docker_ok("create", "--name", cname, "--network", net, "busybox", "sleep", "60")
    try:
        daemon.docker_ok("network", "disconnect", net, cname)
        code, _, err = daemon.docker("network", "disconnect", net, cname)
        assert code != 0 and "is not connected to network" in err
        daemon.docker_ok("start", cname)
        assert "eth0" not in daemon.docker_ok("exec", cname, "ip", "-o", "link")
    finally:
        daemon.docker("rm", "-f", cname)

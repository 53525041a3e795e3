"""Service networking: ingress-mode published ports spread connections over every task,
``tasks.<service>`` and the service name resolve through the embedded DNS on an overlay network,
host-mode ports bind the task's own port, and plain containers join only attachable overlays."""

from __future__ import annotations

import json
import re
import socket

from conformance.daemon import Daemon
from conformance.polling import wait_for

from .conftest import SERVICE_LABEL, running_tasks

SERVE = "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www"


def _get(port: int) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        data = b""
        while chunk := conn.recv(4096):
            data += chunk
    return data.decode(errors="replace").split("\r\n\r\n", 1)[-1].strip()


def test_ingress_port_spreads_connections_over_tasks(swarm: Daemon) -> None:
    swarm.docker_ok("service", "create", "-d", "--no-resolve-image", "--name", "lb", "--replicas", "3",
                    "--hostname", "lb-{{.Task.Slot}}", "--publish", "18711:80",
                    "--stop-grace-period", "1s",
                    "busybox", "sh", "-c", SERVE)
    try:
        wait_for(lambda: len(running_tasks(swarm, "lb")) == 3, 60, "3 tasks")
        seen = wait_for(lambda: {_safe_get(18711) for _ in range(6)} >= {"lb-1", "lb-2", "lb-3"}
                        and True, 30, "every task answering")
        assert seen
        ports = swarm.docker_ok("service", "ls", "--filter", "name=lb", "--format", "{{.Ports}}")
        assert "*:18711->80/tcp" in ports
        # Scaled down: the port keeps answering, from the tasks that are left only.
        swarm.docker_ok("service", "scale", "-d", "lb=1")
        wait_for(lambda: len(running_tasks(swarm, "lb")) == 1, 60, "1 task")
        assert {_safe_get(18711) for _ in range(4)} == {"lb-1"}
    finally:
        swarm.docker_ok("service", "rm", "lb")
    wait_for(lambda: _safe_get(18711) == "", 10, "port closed after rm")


def _safe_get(port: int) -> str:
    try:
        return _get(port)
    except OSError:
        return ""


def test_host_mode_port_binds_the_task_port(swarm: Daemon) -> None:
    swarm.docker_ok("service", "create", "-d", "--no-resolve-image", "--name", "hostport",
                    "--hostname", "hp", "--publish", "mode=host,published=18712,target=80",
                    "busybox", "sh", "-c", SERVE)
    try:
        wait_for(lambda: len(running_tasks(swarm, "hostport")) == 1, 60, "the task")
        assert wait_for(lambda: _safe_get(18712) == "hp", 30, "host port answering")
        cid = swarm.docker_ok("ps", "-q", "--filter", f"{SERVICE_LABEL}=hostport").strip()
        assert "18712" in swarm.docker_ok("port", cid)
    finally:
        swarm.docker_ok("service", "rm", "hostport")


def _lookup(swarm: Daemon, name: str, network: str = "front") -> set[str]:
    out = swarm.docker_ok("run", "--rm", "--network", network, "busybox", "nslookup", name)
    return set(re.findall(r"^Address: (\S+)$", out, re.MULTILINE))


def test_dns_names_on_an_overlay_network(swarm: Daemon) -> None:
    swarm.docker_ok("network", "create", "-d", "overlay", "--attachable", "front")
    swarm.docker_ok("network", "create", "-d", "overlay", "private")
    try:
        swarm.docker_ok("service", "create", "-d", "--no-resolve-image", "--name", "dnsweb",
                        "--replicas", "2", "--network", "front", "--endpoint-mode", "dnsrr",
                        "busybox", "sleep", "600")
        try:
            wait_for(lambda: len(running_tasks(swarm, "dnsweb")) == 2, 60, "2 tasks")
            answers = _lookup(swarm, "tasks.dnsweb")
            addresses = {a["Addresses"][0].split("/")[0] for t in running_tasks(swarm, "dnsweb")
                         for a in t["NetworksAttachments"] if a["Network"]["Spec"]["Name"] == "front"}
            assert len(answers) == 2 and answers == addresses
            assert _lookup(swarm, "dnsweb") == answers  # dnsrr: the name answers every task IP
        finally:
            swarm.docker_ok("service", "rm", "dnsweb")
        code, _, err = swarm.docker("run", "--rm", "--network", "private", "busybox", "true")
        assert code != 0 and "not manually attachable" in err
    finally:
        swarm.docker("network", "rm", "front", "private")


def test_vip_spreads_connections_over_tasks(swarm: Daemon) -> None:
    swarm.docker_ok("network", "create", "-d", "overlay", "--attachable", "mesh")
    try:
        swarm.docker_ok("service", "create", "-d", "--no-resolve-image", "--name", "vipweb",
                        "--replicas", "3", "--network", "mesh", "--hostname", "vip-{{.Task.Slot}}",
                        "--stop-grace-period", "1s", "busybox", "sh", "-c", SERVE)
        try:
            wait_for(lambda: len(running_tasks(swarm, "vipweb")) == 3, 60, "3 tasks")
            service = json.loads(swarm.docker_ok("service", "inspect", "vipweb"))[0]
            vip = service["Endpoint"]["VirtualIPs"][0]["Addr"].split("/")[0]
            assert _lookup(swarm, "vipweb", "mesh") == {vip}
            script = ("for i in 1 2 3 4 5 6; do printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc vipweb 80 "
                      "| tail -n 1; done")
            answers = set(swarm.docker_ok("run", "--rm", "--network", "mesh", "busybox", "sh", "-c",
                                          script).split())
            assert answers == {"vip-1", "vip-2", "vip-3"}, answers
            # A task on its way out leaves the set before it stops.
            swarm.docker_ok("service", "scale", "-d", "vipweb=1")
            wait_for(lambda: len(running_tasks(swarm, "vipweb")) == 1, 60, "1 task")
            answers = set(swarm.docker_ok("run", "--rm", "--network", "mesh", "busybox", "sh", "-c",
                                          script).split())
            assert answers == {"vip-1"}, answers
        finally:
            swarm.docker_ok("service", "rm", "vipweb")
    finally:
        swarm.docker("network", "rm", "mesh")


def test_a_service_vip_is_reserved_in_the_network_ipam(swarm: Daemon) -> None:
    swarm.docker_ok("network", "create", "-d", "overlay", "--attachable", "--subnet",
                    "10.244.0.0/24", "vipres")

    def run_on_vip(address: str) -> tuple[int, str]:
        # Not --rm: this engine leaves a container whose start failed (the CLI would wait on it).
        code, out, err = swarm.docker("run", "--name", "vipres-c", "--network", "vipres", "--ip",
                                      address, "busybox", "true", timeout=30)
        swarm.docker("rm", "-f", "vipres-c")
        return code, out + err

    try:
        swarm.docker_ok("service", "create", "-d", "--no-resolve-image", "--name", "vipres-svc",
                        "--network", "vipres", "busybox", "sleep", "300")
        try:
            def vip() -> str:
                service = json.loads(swarm.docker_ok("service", "inspect", "vipres-svc"))[0]
                addrs = service.get("Endpoint", {}).get("VirtualIPs") or []
                return addrs[0]["Addr"].split("/")[0] if addrs else ""
            address = wait_for(vip, 60, "the service's VIP")
            # Removed only once running: a service removed while its task starts leaves the
            # task's container running (an orchestrator race, not this test's subject).
            wait_for(lambda: len(running_tasks(swarm, "vipres-svc")) == 1, 60, "1 task")
            code, output = run_on_vip(address)
            assert code != 0 and "Address already in use" in output, output
        finally:
            swarm.docker_ok("service", "rm", "vipres-svc")
        # Given back on removal: the address is a container's to take again.
        wait_for(lambda: run_on_vip(address)[0] == 0, 60, "the VIP released")
    finally:
        wait_for(lambda: swarm.docker("network", "rm", "vipres")[0] == 0, 60, "network removed")

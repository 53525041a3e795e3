"""``PORTS`` as docker's DisplayablePorts writes it (docker ps, compose ps): ranges folded per type
and per IP, groups in the order they began, mappings to another host port last."""

from __future__ import annotations

from typing import Any

import pytest

from dockyard.cli.ps import format_ports


def _port(private: int, kind: str = "tcp", ip: str = "", public: int = 0) -> dict[str, Any]:
    return {"PrivatePort": private, "Type": kind, **({"IP": ip, "PublicPort": public} if ip else {})}


@pytest.mark.parametrize("ports,shown", [
    ([], ""),
    ([_port(8081, ip="0.0.0.0", public=3), _port(9000), _port(8080, ip="127.0.0.1", public=1),
      _port(7000, "udp")], "7000/udp, 9000/tcp, 127.0.0.1:1->8080/tcp, 0.0.0.0:3->8081/tcp"),
    ([_port(81, ip="0.0.0.0", public=81), _port(80, ip="0.0.0.0", public=80), _port(80, ip="::", public=80)],
     "0.0.0.0:80-81->80-81/tcp, :::80->80/tcp"),
    ([_port(80, ip="::", public=8000), _port(83), _port(85), _port(84, "udp")],
     "83/tcp, 85/tcp, 84/udp, [::]:8000->80/tcp"),  # the tcp group keeps its place (seen with docker 28)
    ([_port(1000), _port(1001), _port(1002), _port(2000)], "1000-1002/tcp, 2000/tcp"),
])
def test_ports_read_as_docker_writes_them(ports: list[dict[str, Any]], shown: str) -> None:
    assert format_ports(ports) == shown

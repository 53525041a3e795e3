"""Published ports: Docker's ``PortBindings``/``ExposedPorts``/``PublishAllPorts`` as PortBindings."""

from __future__ import annotations

import ipaddress
from typing import Any

from dockyard.core.networks.model import PortBinding
from dockyard.errors import InvalidArgument

PROTOCOLS = ("tcp", "udp", "sctp")


def parse_port_key(key: str) -> tuple[int, str]:
    """``8080/tcp`` or ``8080`` -> (8080, "tcp")."""
    number, _, proto = key.partition("/")
    proto = (proto or "tcp").lower()
    if proto not in PROTOCOLS:
        raise InvalidArgument(f"invalid proto: {proto}")
    try:
        port = int(number)
    except ValueError as exc:
        raise InvalidArgument(f"invalid containerPort: {number}") from exc
    if not 0 < port < 65536:
        raise InvalidArgument(f"invalid containerPort: {number}")
    return port, proto


def _host_port(text: Any) -> int:
    if text in (None, ""):
        return 0
    try:
        port = int(str(text).split("-")[0])
    except ValueError as exc:
        raise InvalidArgument(f"invalid hostPort: {text}") from exc
    if not 0 <= port < 65536:
        raise InvalidArgument(f"invalid hostPort: {text}")
    return port


def _host_ip(text: Any) -> str:
    value = str(text or "").strip("[]")
    if value in ("", "0.0.0.0"):
        return ""
    try:
        address = ipaddress.ip_address(value)
    except ValueError as exc:
        raise InvalidArgument(f"invalid host IP address: {value}") from exc
    # "::" stays: Docker publishes ``[::]:8080:80`` on IPv6 only, "" on every address.
    return str(address)


def port_bindings(host_config: dict[str, Any], exposed: dict[str, Any]) -> list[PortBinding]:
    """Every binding the container asks for; PublishAllPorts adds a random port per EXPOSE."""
    raw = host_config.get("PortBindings") or {}
    if not isinstance(raw, dict):
        raise InvalidArgument("invalid PortBindings")
    result: list[PortBinding] = []
    for key, bindings in raw.items():
        port, proto = parse_port_key(str(key))
        for binding in bindings or [{}]:
            binding = binding or {}
            result.append(PortBinding(container_port=port, proto=proto,
                                      host_ip=_host_ip(binding.get("HostIp")),
                                      host_port=_host_port(binding.get("HostPort"))))
    if host_config.get("PublishAllPorts"):
        bound = {(b.container_port, b.proto) for b in result}
        for key in exposed:
            port, proto = parse_port_key(str(key))
            if (port, proto) not in bound:
                result.append(PortBinding(container_port=port, proto=proto))
    return result


def ports_json(exposed: dict[str, Any], bindings: list[PortBinding]) -> dict[str, Any]:
    """NetworkSettings.Ports: every exposed or published port, with its host bindings or null."""
    result: dict[str, Any] = {}
    for key in exposed:
        port, proto = parse_port_key(str(key))
        result[f"{port}/{proto}"] = None
    for binding in bindings:
        entries = result.get(binding.key) or []
        entries.append({"HostIp": binding.host_ip or "0.0.0.0", "HostPort": str(binding.host_port)})
        result[binding.key] = entries
    return result

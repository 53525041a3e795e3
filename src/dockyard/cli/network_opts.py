"""The networking flags of ``run``/``create`` and the parts of the create body they fill, shaped as
the docker 28 CLI sends them (captured from its requests): published port ranges, exposed ports,
DNS settings, extra hosts, links, and the endpoint config of the container's network (aliases,
fixed addresses, MAC address).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import click

from dockyard.cli.client import CliError


def network_options() -> list[Callable[[Any], Any]]:
    """Flags not in create_opts' own list (``-p``, ``--expose``, ``--dns``, ``--add-host``,
    ``--mac-address`` and ``--domainname`` are there)."""
    o = click.option
    return [
        o("--network-alias", multiple=True, help="Add network-scoped alias for the container"),
        o("--ip", help="IPv4 address (e.g., 172.30.100.104)"),
        o("--ip6", help="IPv6 address (e.g., 2001:db8::33)"),
        o("--link", multiple=True, help="Add link to another container"),
        o("-P", "--publish-all", is_flag=True, help="Publish all exposed ports to random ports"),
        o("--dns-search", multiple=True, help="Set custom DNS search domains"),
        o("--dns-option", multiple=True, help="Set DNS options"),
    ]


def _range(text: str, what: str) -> list[int]:
    """``8000`` or ``8000-8005`` as the ports it names."""
    low, sep, high = text.partition("-")
    try:
        first, last = int(low), int(high) if sep else int(low)
    except ValueError as exc:
        raise CliError(f"invalid {what}: {text}", 125) from exc
    if not 0 <= first <= last <= 65535:
        raise CliError(f"invalid {what}: {text}", 125)
    return list(range(first, last + 1))


def _split_publish(spec: str) -> tuple[str, str, str, str]:
    """``[ip:][hostPort:]containerPort[/proto]`` → (ip, host ports, container ports, proto);
    an IPv6 address comes in brackets, as ``[::1]:8080:80``."""
    port, _, proto = spec.partition("/")
    host_ip = ""
    if port.startswith("["):
        end = port.find("]")
        if end < 0:
            raise CliError(f"invalid IP address: {spec}", 125)
        host_ip, port = port[1:end], port[end + 2:]
        parts = port.rsplit(":", 1)
        host_port, container = (parts[0], parts[1]) if len(parts) == 2 else ("", parts[0])
        return host_ip, host_port, container, proto or "tcp"
    parts = port.rsplit(":", 2)
    container = parts[-1]
    host_port = parts[-2] if len(parts) >= 2 else ""
    host_ip = parts[-3] if len(parts) == 3 else ""
    return host_ip, host_port, container, proto or "tcp"


def parse_ports(publish: Sequence[str], expose: Sequence[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``-p`` and ``--expose`` → (ExposedPorts, PortBindings), ranges included, as docker's
    ``nat.ParsePortSpecs``: a container range takes a host range of the same length, one port each;
    a single container port with a host range lets the daemon pick one port in it."""
    exposed: dict[str, Any] = {}
    bindings: dict[str, list[dict[str, str]]] = {}
    for spec in publish:
        host_ip, host_port, container, proto = _split_publish(spec)
        if not container:
            raise CliError(f"no port specified: {spec}<empty>", 125)
        ports = _range(container, "containerPort")
        hosts = _range(host_port, "hostPort") if host_port else []
        if len(ports) > 1 and hosts and len(hosts) != len(ports):
            raise CliError(f"invalid ranges specified for container and host Ports: {container} and "
                           f"{host_port}", 125)
        for index, number in enumerate(ports):
            key = f"{number}/{proto}"
            exposed[key] = {}
            if len(ports) == 1:
                host = host_port
            else:
                host = str(hosts[index]) if hosts else ""
            bindings.setdefault(key, []).append({"HostIp": host_ip, "HostPort": host})
    for spec in expose:
        port, _, proto = spec.partition("/")
        for number in _range(port, "range format for expose"):
            exposed[f"{number}/{proto or 'tcp'}"] = {}
    return exposed, bindings


def _endpoint_settings(opts: Mapping[str, Any]) -> dict[str, Any]:
    """EndpointSettings for the container's network (docker sends one even when no flag fills it)."""
    aliases = list(opts.get("network_alias") or ())
    links = list(opts.get("link") or ())
    ip, ip6, mac = opts.get("ip") or "", opts.get("ip6") or "", opts.get("mac_address") or ""
    ipam = {k: v for k, v in (("IPv4Address", ip), ("IPv6Address", ip6)) if v}
    return {"Aliases": aliases or None, "DNSNames": None, "DriverOpts": None, "EndpointID": "",
            "Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "GwPriority": 0,
            "IPAMConfig": ipam or None, "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "",
            "Links": links or None, "MacAddress": mac, "NetworkID": ""}


def apply_network_opts(body: dict[str, Any], opts: Mapping[str, Any]) -> None:
    """Fill the networking parts of a create body from the flags (after create_opts built it)."""
    host = body["HostConfig"]
    host["Dns"] = list(opts.get("dns") or ())
    host["DnsSearch"] = list(opts.get("dns_search") or ())
    host["DnsOptions"] = list(opts.get("dns_option") or ())
    host["ExtraHosts"] = list(opts.get("add_host") or ()) or None
    host["Links"] = list(opts.get("link") or ()) or None
    host["PublishAllPorts"] = bool(opts.get("publish_all"))
    # API 1.44 moved the MAC address into the endpoint config; the top-level field is gone.
    body.pop("MacAddress", None)
    network = host.get("NetworkMode") or "default"
    body["NetworkingConfig"] = {"EndpointsConfig": {network: _endpoint_settings(opts)}}

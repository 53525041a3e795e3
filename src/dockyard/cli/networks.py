"""``dockyard network create|ls|inspect|rm|prune|connect|disconnect`` and ``dockyard port``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import click

from dockyard.cli.client import CliError, filters_param
from dockyard.cli.formatter import render_rows
from dockyard.cli.lifecycle import for_each
from dockyard.cli.session import Session, session
from dockyard.cli.system import lookup_json, show_inspected

NETWORKS_FORMAT = "{{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"
NETWORK_HEADERS = {"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE",
                   "Internal": "INTERNAL", "Labels": "LABELS", "CreatedAt": "CREATED AT"}


@dataclass(frozen=True)
class NetworkRow:
    """One ``network ls`` row, with docker's template field names."""

    ID: str
    Name: str
    Driver: str
    Scope: str
    Internal: str
    Labels: str
    CreatedAt: str


def _pairs(values: tuple[str, ...], flag: str) -> dict[str, str]:
    result = {}
    for value in values:
        key, _, rest = value.partition("=")
        if not key:
            raise CliError(f'invalid argument "{value}" for "--{flag}" flag: bad format', 125)
        result[key] = rest
    return result


@click.group("network")
def network_group() -> None:
    """Manage networks"""


@network_group.command("create")
@click.option("-d", "--driver", default="bridge", help="Driver to manage the Network")
@click.option("--subnet", help="Subnet in CIDR format that represents a network segment")
@click.option("--gateway", help="IPv4 Gateway for the master subnet")
@click.option("--ip-range", help="Allocate container ip from a sub-range")
@click.option("--internal", is_flag=True, help="Restrict external access to the network")
@click.option("--ipv6", is_flag=True, help="Enable IPv6 networking")
@click.option("--label", "labels", multiple=True, help="Set metadata on a network")
@click.option("-o", "--opt", "opts", multiple=True, help="Set driver specific options")
@click.argument("name")
def create_command(driver: str, subnet: str | None, gateway: str | None, ip_range: str | None,
                   internal: bool, ipv6: bool, labels: tuple[str, ...], opts: tuple[str, ...],
                   name: str) -> None:
    """Create a network"""
    s = session()
    config = {k: v for k, v in (("Subnet", subnet), ("Gateway", gateway), ("IPRange", ip_range)) if v}
    body = {"Name": name, "Driver": driver, "Internal": internal, "EnableIPv6": ipv6,
            "IPAM": {"Driver": "default", "Config": [config] if config else []},
            "Labels": _pairs(labels, "label"), "Options": _pairs(opts, "opt")}
    created = s.client.post_json("/networks/create", body=body)
    s.out(created["Id"] + "\n")


@network_group.command("ls")
@click.option("-q", "--quiet", is_flag=True, help="Only display network IDs")
@click.option("-f", "--filter", "filters", multiple=True, help="Provide filter values (e.g. 'driver=bridge')")
@click.option("--format", "fmt", help="Format output using a custom template")
@click.option("--no-trunc", is_flag=True, help="Do not truncate the output")
def ls_command(quiet: bool, filters: tuple[str, ...], fmt: str | None, no_trunc: bool) -> None:
    """List networks"""
    s = session()
    params = {"filters": filters_param(filters)} if filters else None
    networks = s.client.get_json("/networks", params=params) or []
    rows = [NetworkRow(n["Id"] if no_trunc else n["Id"][:12], n["Name"], n["Driver"], n["Scope"],
                       str(n.get("Internal", False)).lower(),
                       ",".join(f"{k}={v}" for k, v in (n.get("Labels") or {}).items()),
                       n.get("Created", ""))
            for n in sorted(networks, key=lambda n: n["Name"])]
    if quiet and not fmt:
        fmt = "{{.ID}}"
    s.out(render_rows(fmt, rows, default=NETWORKS_FORMAT, headers=NETWORK_HEADERS))


@network_group.command("inspect")
@click.option("-f", "--format", "fmt", help="Format output using a custom template")
@click.argument("names", nargs=-1, required=True)
def inspect_command(fmt: str | None, names: tuple[str, ...]) -> None:
    """Display detailed information on one or more networks"""
    s = session()
    show_inspected(s, (lookup_json(s, f"/networks/{name}") for name in names), fmt)


@network_group.command("rm")
@click.argument("names", nargs=-1, required=True)
def rm_command(names: tuple[str, ...]) -> None:
    """Remove one or more networks"""
    def remove(s: Session, name: str) -> str:
        s.client.request("DELETE", f"/networks/{name}")
        return name
    for_each(names, remove)


@network_group.command("prune")
@click.option("--filter", "filters", multiple=True, help="Provide filter values (e.g. 'label=<label>')")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
def prune_command(filters: tuple[str, ...], force: bool) -> None:
    """Remove all unused networks"""
    s = session()
    params = {"filters": filters_param(filters)} if filters else None
    report = s.client.post_json("/networks/prune", params=params)
    deleted = report.get("NetworksDeleted") or []
    if deleted:
        s.out("Deleted Networks:\n" + "".join(f"{name}\n" for name in deleted))


@network_group.command("connect")
@click.option("--alias", "aliases", multiple=True, help="Add network-scoped alias for the container")
@click.option("--ip", help="IPv4 address (e.g., 172.30.100.104)")
@click.option("--link", "links", multiple=True, help="Add link to another container")
@click.argument("network")
@click.argument("container")
def connect_command(aliases: tuple[str, ...], ip: str | None, links: tuple[str, ...], network: str,
                    container: str) -> None:
    """Connect a container to a network"""
    config: dict[str, Any] = {"Aliases": list(aliases), "Links": list(links)}
    if ip:
        config["IPAMConfig"] = {"IPv4Address": ip}
    session().client.request("POST", f"/networks/{network}/connect",
                             body={"Container": container, "EndpointConfig": config})


@network_group.command("disconnect")
@click.option("-f", "--force", is_flag=True, help="Force the container to disconnect from a network")
@click.argument("network")
@click.argument("container")
def disconnect_command(force: bool, network: str, container: str) -> None:
    """Disconnect a container from a network"""
    session().client.request("POST", f"/networks/{network}/disconnect",
                             body={"Container": container, "Force": force})


@click.command("port")
@click.argument("container")
@click.argument("private_port", required=False)
def port_command(container: str, private_port: str | None) -> None:
    """List port mappings or a specific mapping for the container"""
    s = session()
    info = s.client.get_json(f"/containers/{container}/json")
    ports: dict[str, Any] = info["NetworkSettings"].get("Ports") or {}
    if private_port:
        key = private_port if "/" in private_port else f"{private_port}/tcp"
        bindings = ports.get(key)
        if not bindings:
            raise CliError(f"Error: No public port '{key}' published for {container}", 1)
        s.out("".join(f"{b['HostIp']}:{b['HostPort']}\n" for b in bindings))
        return
    lines = [f"{key} -> {b['HostIp']}:{b['HostPort']}\n"
             for key, bindings in sorted(ports.items()) for b in bindings or []]
    s.out("".join(lines))

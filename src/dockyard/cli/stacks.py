"""``dockyard stack``: deploy a compose file as a stack (the file read here, as docker's CLI does),
and ls/ps/services/rm of stacks, which are only what the objects' namespace label says."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from dockyard.cli import stack_compose
from dockyard.cli.client import CliError, filters_param
from dockyard.cli.formatter import render_rows
from dockyard.cli.services import TASK_HEADERS, TASKS_FORMAT, task_rows
from dockyard.cli.session import Session, session

NAMESPACE = stack_compose.NAMESPACE


def _labelled(s: Session, path: str, stack: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = s.client.get_json(
        path, params={"filters": filters_param([f"label={NAMESPACE}={stack}"])})
    return found


@click.group("stack")
def stack_group() -> None:
    """Manage Swarm stacks"""


@stack_group.command("deploy")
@click.option("-c", "--compose-file", "files", multiple=True, required=True,
              help="Path to a Compose file")
@click.option("--prune", is_flag=True, help="Prune services that are no longer referenced")
@click.option("--resolve-image", type=click.Choice(["always", "changed", "never"]), default="never",
              help="Query the registry to resolve image digest (this engine never does)")
@click.argument("stack")
def deploy_command(files: tuple[str, ...], prune: bool, resolve_image: str, stack: str) -> None:
    """Deploy a new stack or update an existing stack"""
    if resolve_image != "never":
        raise CliError("--resolve-image: this engine resolves images locally only; use never")
    if len(files) != 1:
        raise CliError("one compose file is supported")
    s = session()
    path = Path(files[0])
    data = stack_compose.load(path)
    network_ids = _ensure_networks(s, stack, stack_compose.networks(stack, data))
    refs = {kind: _ensure_blobs(s, kind, stack_compose.blobs(stack, data, kind, path.parent))
            for kind in ("secret", "config")}
    existing = {svc["Spec"]["Name"]: svc for svc in _labelled(s, "/services", stack)}
    for name, svc in data["services"].items():
        spec = stack_compose.service_spec(stack, name, svc or {}, network_ids=network_ids, refs=refs)
        current = existing.pop(spec["Name"], None)
        if current is None:
            s.out(f"Creating service {spec['Name']}\n")
            s.client.post_json("/services/create", body=spec)
        else:
            s.out(f"Updating service {spec['Name']} (id: {current['ID']})\n")
            s.client.post_json(f"/services/{current['ID']}/update",
                               params={"version": str(current["Version"]["Index"])}, body=spec)
    if prune:
        for name, svc in existing.items():
            s.out(f"Removing service {name}\n")
            s.client.request("DELETE", f"/services/{svc['ID']}")


def _ensure_networks(s: Session, stack: str, wanted: dict[str, dict[str, Any]]) -> dict[str, str]:
    existing = {n["Name"]: n["Id"] for n in _labelled(s, "/networks", stack)}
    ids = {}
    for key, body in wanted.items():
        if "external" in body:
            ids[key] = s.client.get_json(f"/networks/{body['external']}")["Id"]
        elif body["Name"] in existing:
            ids[key] = existing[body["Name"]]
        else:
            s.out(f"Creating network {body['Name']}\n")
            ids[key] = s.client.post_json("/networks/create", body=body)["Id"]
    return ids


def _ensure_blobs(s: Session, kind: str, wanted: dict[str, dict[str, Any]]) -> dict[str, tuple[str, str]]:
    refs = {}
    for key, body in wanted.items():
        name = body.get("external") or body["Name"]
        found = s.client.get_json(f"/{kind}s", params={"filters": filters_param([f"name={name}"])})
        match = [b for b in found if b["Spec"]["Name"] == name]
        if match:
            refs[key] = (match[0]["ID"], name)
        elif "external" in body:
            raise CliError(f"{kind} not found: {name}")
        else:
            s.out(f"Creating {kind} {name}\n")
            refs[key] = (s.client.post_json(f"/{kind}s/create", body=body)["ID"], name)
    return refs


@dataclass(frozen=True)
class StackRow:
    Name: str
    Services: int


@stack_group.command("ls")
@click.option("--format", "fmt", help="Format output using a custom template")
def ls_command(fmt: str | None) -> None:
    """List stacks"""
    s = session()
    counts: dict[str, int] = {}
    for svc in s.client.get_json("/services", params={"filters": filters_param([f"label={NAMESPACE}"])}):
        name = svc["Spec"]["Labels"][NAMESPACE]
        counts[name] = counts.get(name, 0) + 1
    rows = [StackRow(name, count) for name, count in sorted(counts.items())]
    s.out(render_rows(fmt, rows, default="{{.Name}}\t{{.Services}}",
                      headers={"Name": "NAME", "Services": "SERVICES"}))


@stack_group.command("ps")
@click.option("--format", "fmt", help="Pretty-print tasks using a Go template")
@click.option("--no-trunc", is_flag=True, help="Do not truncate output")
@click.argument("stack")
def ps_command(fmt: str | None, no_trunc: bool, stack: str) -> None:
    """List the tasks in the stack"""
    s = session()
    tasks = _labelled(s, "/tasks", stack)
    if not tasks:
        raise CliError(f"nothing found in stack: {stack}")
    s.out(render_rows(fmt, task_rows(s, tasks, no_trunc), default=TASKS_FORMAT, headers=TASK_HEADERS))


@stack_group.command("services")
@click.option("--format", "fmt", help="Format output using a custom template")
@click.argument("stack")
def services_command(fmt: str | None, stack: str) -> None:
    """List the services in the stack"""
    from dockyard.cli.services import SERVICE_HEADERS, SERVICES_FORMAT, ServiceRow, _ports_text

    s = session()
    rows = []
    for svc in s.client.get_json("/services", params={
            "status": "true", "filters": filters_param([f"label={NAMESPACE}={stack}"])}):
        status = svc.get("ServiceStatus") or {}
        mode = "global" if "Global" in svc["Spec"].get("Mode", {}) else "replicated"
        rows.append(ServiceRow(svc["ID"][:12], svc["Spec"]["Name"], mode,
                               f"{status.get('RunningTasks', 0)}/{status.get('DesiredTasks', 0)}",
                               svc["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"], _ports_text(svc)))
    if not rows:
        raise CliError(f"Nothing found in stack: {stack}")
    s.out(render_rows(fmt, rows, default=SERVICES_FORMAT, headers=SERVICE_HEADERS))


@stack_group.command("rm")
@click.argument("stacks", nargs=-1, required=True)
def rm_command(stacks: tuple[str, ...]) -> None:
    """Remove one or more stacks"""
    s = session()
    for stack in stacks:
        services = _labelled(s, "/services", stack)
        networks = _labelled(s, "/networks", stack)
        secrets = _labelled(s, "/secrets", stack)
        configs = _labelled(s, "/configs", stack)
        if not (services or networks or secrets or configs):
            s.out(f"Nothing found in stack: {stack}\n")
            continue
        for svc in services:
            s.out(f"Removing service {svc['Spec']['Name']}\n")
            s.client.request("DELETE", f"/services/{svc['ID']}")
        for kind, found in (("secret", secrets), ("config", configs)):
            for blob in found:
                s.out(f"Removing {kind} {blob['Spec']['Name']}\n")
                s.client.request("DELETE", f"/{kind}s/{blob['ID']}")
        for network in networks:
            s.out(f"Removing network {network['Name']}\n")
            s.client.request("DELETE", f"/networks/{network['Id']}")

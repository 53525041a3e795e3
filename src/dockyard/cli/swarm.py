"""``dockyard swarm`` and ``dockyard node``: docker's swarm commands over the API."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import click

from dockyard.cli.client import CliError, filters_param
from dockyard.cli.formatter import render_rows
from dockyard.cli.session import session
from dockyard.cli.system import lookup_json, show_inspected

NODES_FORMAT = "{{.ID}} {{.Self}}\t{{.Hostname}}\t{{.Status}}\t{{.Availability}}\t{{.ManagerStatus}}\t" \
               "{{.EngineVersion}}"
NODE_HEADERS = {"ID": "ID", "Self": "", "Hostname": "HOSTNAME", "Status": "STATUS",
                "Availability": "AVAILABILITY", "ManagerStatus": "MANAGER STATUS",
                "EngineVersion": "ENGINE VERSION"}


@click.group("swarm")
def swarm_group() -> None:
    """Manage Swarm"""


@swarm_group.command("init")
@click.option("--advertise-addr", default="", help="Advertised address (format: <ip|interface>[:port])")
@click.option("--listen-addr", default="0.0.0.0:2377",
              help="Listen address (format: <ip|interface>[:port])")
@click.option("--autolock", is_flag=True, help="Enable manager autolocking (requiring an unlock key to "
                                                 "start a stopped manager)")
@click.option("--availability", default="active",
              help='Availability of the node ("active", "pause", "drain")')
@click.option("--task-history-limit", type=int, default=5, help="Task history retention limit")
def init_command(advertise_addr: str, listen_addr: str, autolock: bool, availability: str,
                 task_history_limit: int) -> None:
    """Initialize a swarm"""
    s = session()
    body = {"AdvertiseAddr": advertise_addr, "ListenAddr": listen_addr, "AutoLockManagers": autolock,
            "Availability": availability,
            "Spec": {"Orchestration": {"TaskHistoryRetentionLimit": task_history_limit}}}
    node_id = s.client.post_json("/swarm/init", body=body)
    s.out(f"Swarm initialized: current node ({node_id}) is now a manager.\n\n"
          "This engine is a one-node swarm: it does not take other nodes.\n")
    if autolock:
        _print_unlock_key(s.client.get_json("/swarm/unlockkey")["UnlockKey"])


def _print_unlock_key(key: str) -> None:
    session().out("To unlock a swarm manager after it restarts, run the `dockyard swarm unlock`\n"
                  "command and provide the following key:\n\n"
                  f"    {key}\n\n"
                  "Please remember to store this key in a password manager, since without it you\n"
                  "will not be able to restart the manager.\n")


@swarm_group.command("join")
@click.option("--token", help="Token for entry into the swarm")
@click.argument("host")
def join_command(token: str | None, host: str) -> None:
    """Join a swarm as a node and/or manager"""
    session().client.request("POST", "/swarm/join", body={"RemoteAddrs": [host], "JoinToken": token or ""})


@swarm_group.command("leave")
@click.option("-f", "--force", is_flag=True, help="Force this node to leave the swarm, ignoring warnings")
def leave_command(force: bool) -> None:
    """Leave the swarm"""
    s = session()
    s.client.request("POST", "/swarm/leave", params={"force": "1" if force else "0"})
    s.out("Node left the swarm.\n")


@swarm_group.command("update")
@click.option("--autolock", type=click.BOOL, help="Change manager autolocking setting (true|false)")
@click.option("--task-history-limit", type=int, help="Task history retention limit")
def update_command(autolock: bool | None, task_history_limit: int | None) -> None:
    """Update the swarm"""
    s = session()
    current = s.client.get_json("/swarm")
    spec = current["Spec"]
    if autolock is not None:
        spec["EncryptionConfig"] = {"AutoLockManagers": autolock}
    if task_history_limit is not None:
        spec.setdefault("Orchestration", {})["TaskHistoryRetentionLimit"] = task_history_limit
    s.client.request("POST", "/swarm/update", params={"version": str(current["Version"]["Index"])}, body=spec)
    s.out("Swarm updated.\n")
    if autolock:
        _print_unlock_key(s.client.get_json("/swarm/unlockkey")["UnlockKey"])


@swarm_group.command("unlock-key")
@click.option("-q", "--quiet", is_flag=True, help="Only display token")
@click.option("--rotate", is_flag=True, help="Rotate unlock key")
def unlock_key_command(quiet: bool, rotate: bool) -> None:
    """Manage the unlock key"""
    s = session()
    if rotate:
        current = s.client.get_json("/swarm")
        s.client.request("POST", "/swarm/update", body=current["Spec"], params={
            "version": str(current["Version"]["Index"]), "rotateManagerUnlockKey": "true"})
    key = s.client.get_json("/swarm/unlockkey")["UnlockKey"]
    if not key:
        raise CliError("no unlock key is set")
    if quiet:
        s.out(key + "\n")
    else:
        _print_unlock_key(key)


@swarm_group.command("unlock")
def unlock_command() -> None:
    """Unlock swarm"""
    s = session()
    if sys.stdin.isatty():
        key = click.prompt("Enter unlock key", hide_input=True, err=True)
    else:
        key = sys.stdin.readline().strip()
    s.client.request("POST", "/swarm/unlock", body={"UnlockKey": key})


# ---- nodes ----
@dataclass(frozen=True)
class NodeRow:
    ID: str
    Self: str
    Hostname: str
    Status: str
    Availability: str
    ManagerStatus: str
    EngineVersion: str


@click.group("node")
def node_group() -> None:
    """Manage Swarm nodes"""


@node_group.command("ls")
@click.option("-q", "--quiet", is_flag=True, help="Only display IDs")
@click.option("-f", "--filter", "filters", multiple=True, help="Filter output based on conditions provided")
@click.option("--format", "fmt", help="Format output using a custom template")
def node_ls_command(quiet: bool, filters: tuple[str, ...], fmt: str | None) -> None:
    """List nodes in the swarm"""
    s = session()
    me = s.client.get_json("/info")["Swarm"]["NodeID"]
    nodes = s.client.get_json("/nodes", params={"filters": filters_param(filters)} if filters else None)
    rows = [NodeRow(n["ID"], "*" if n["ID"] == me else "", n["Description"]["Hostname"],
                    n["Status"]["State"].capitalize(), n["Spec"]["Availability"].capitalize(),
                    "Leader" if (n.get("ManagerStatus") or {}).get("Leader") else "",
                    n["Description"]["Engine"]["EngineVersion"]) for n in nodes]
    if quiet and not fmt:
        fmt = "{{.ID}}"
    s.out(render_rows(fmt, rows, default=NODES_FORMAT, headers=NODE_HEADERS))


@node_group.command("inspect")
@click.option("-f", "--format", "fmt", help="Format output using a custom template")
@click.argument("nodes", nargs=-1, required=True)
def node_inspect_command(fmt: str | None, nodes: tuple[str, ...]) -> None:
    """Display detailed information on one or more nodes"""
    s = session()
    show_inspected(s, (lookup_json(s, f"/nodes/{n}") for n in nodes), fmt)


@node_group.command("update")
@click.option("--availability", type=click.Choice(["active", "pause", "drain"]),
              help='Availability of the node ("active", "pause", "drain")')
@click.option("--label-add", "label_add", multiple=True, help="Add or update a node label (key=value)")
@click.option("--label-rm", "label_rm", multiple=True, help="Remove a node label if exists")
@click.option("--role", type=click.Choice(["worker", "manager"]),
              help='Role of the node ("worker", "manager")')
@click.argument("node")
def node_update_command(availability: str | None, label_add: tuple[str, ...], label_rm: tuple[str, ...],
                        role: str | None, node: str) -> None:
    """Update a node"""
    s = session()
    current = s.client.get_json(f"/nodes/{node}")
    spec = current["Spec"]
    if availability:
        spec["Availability"] = availability
    if role:
        spec["Role"] = role
    labels = dict(spec.get("Labels") or {})
    for item in label_add:
        key, _, value = item.partition("=")
        labels[key] = value
    for key in label_rm:
        labels.pop(key, None)
    spec["Labels"] = labels
    s.client.request("POST", f"/nodes/{current['ID']}/update",
                     params={"version": str(current["Version"]["Index"])}, body=spec)
    s.out(node + "\n")

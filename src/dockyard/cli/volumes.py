"""``dockyard volume create|ls|inspect|rm|prune``: docker's volume commands over the API."""

from __future__ import annotations

from dataclasses import dataclass

import click

from dockyard.cli.client import CliError, filters_param
from dockyard.cli.formatter import render_rows
from dockyard.cli.lifecycle import for_each
from dockyard.cli.session import Session, session
from dockyard.cli.system import lookup_json, show_inspected
from dockyard.cli.units import human_size

VOLUMES_FORMAT = "{{.Driver}}\t{{.Name}}"
VOLUME_HEADERS = {"Driver": "DRIVER", "Name": "VOLUME NAME", "Scope": "SCOPE",
                  "Mountpoint": "MOUNTPOINT", "Labels": "LABELS", "CreatedAt": "CREATED AT"}


@dataclass(frozen=True)
class VolumeRow:
    """One ``volume ls`` row, with docker's template field names."""

    Name: str
    Driver: str
    Scope: str
    Mountpoint: str
    CreatedAt: str
    Labels: str


def _pairs(values: tuple[str, ...], flag: str) -> dict[str, str]:
    result = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not key or (flag == "opt" and not sep):
            raise CliError(f'invalid argument "{value}" for "--{flag}" flag: bad format', 125)
        result[key] = rest
    return result


@click.group("volume")
def volume_group() -> None:
    """Manage volumes"""


@volume_group.command("create")
@click.option("-d", "--driver", default="local", help="Specify volume driver name")
@click.option("-o", "--opt", "opts", multiple=True, help="Set driver specific options")
@click.option("--label", "labels", multiple=True, help="Set metadata for a volume")
@click.option("--name", "name_opt", help="Specify volume name")
@click.argument("name", required=False)
def create_command(driver: str, opts: tuple[str, ...], labels: tuple[str, ...], name_opt: str | None,
                   name: str | None) -> None:
    """Create a volume"""
    s = session()
    if name and name_opt and name != name_opt:
        raise CliError("conflicting options: either specify --name or provide positional arg, not both", 1)
    body = {"Name": name or name_opt or "", "Driver": driver, "DriverOpts": _pairs(opts, "opt"),
            "Labels": _pairs(labels, "label")}
    volume = s.client.post_json("/volumes/create", body=body)
    s.out(volume["Name"] + "\n")


@volume_group.command("ls")
@click.option("-q", "--quiet", is_flag=True, help="Only display volume names")
@click.option("-f", "--filter", "filters", multiple=True, help="Provide filter values (e.g. 'dangling=true')")
@click.option("--format", "fmt", help="Format output using a custom template")
def ls_command(quiet: bool, filters: tuple[str, ...], fmt: str | None) -> None:
    """List volumes"""
    s = session()
    params = {"filters": filters_param(filters)} if filters else None
    volumes = s.client.get_json("/volumes", params=params)["Volumes"] or []
    rows = [VolumeRow(v["Name"], v["Driver"], v.get("Scope", "local"), v["Mountpoint"],
                      v.get("CreatedAt", ""),
                      ",".join(f"{k}={val}" for k, val in (v.get("Labels") or {}).items()))
            for v in sorted(volumes, key=lambda v: v["Name"])]
    if quiet and not fmt:
        fmt = "{{.Name}}"
    s.out(render_rows(fmt, rows, default=VOLUMES_FORMAT, headers=VOLUME_HEADERS))


@volume_group.command("inspect")
@click.option("-f", "--format", "fmt", help="Format output using a custom template")
@click.argument("names", nargs=-1, required=True)
def inspect_command(fmt: str | None, names: tuple[str, ...]) -> None:
    """Display detailed information on one or more volumes"""
    s = session()
    show_inspected(s, (lookup_json(s, f"/volumes/{name}") for name in names), fmt)


@volume_group.command("rm")
@click.option("-f", "--force", is_flag=True, help="Force the removal of one or more volumes")
@click.argument("names", nargs=-1, required=True)
def rm_command(force: bool, names: tuple[str, ...]) -> None:
    """Remove one or more volumes"""
    def remove(s: Session, name: str) -> str:
        s.client.request("DELETE", f"/volumes/{name}", params={"force": "1" if force else "0"})
        return name
    for_each(names, remove)


@volume_group.command("prune")
@click.option("-a", "--all", "all_", is_flag=True, help="Remove all unused volumes, not just anonymous ones")
@click.option("--filter", "filters", multiple=True, help="Provide filter values (e.g. 'label=<label>')")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
def prune_command(all_: bool, filters: tuple[str, ...], force: bool) -> None:
    """Remove unused local volumes"""
    s = session()
    if not force and not click.confirm("WARNING! This will remove anonymous local volumes not used by at "
                                       "least one container.\nAre you sure you want to continue?"):
        return
    wanted = list(filters) + (["all=true"] if all_ else [])
    report = s.client.post_json("/volumes/prune", params={"filters": filters_param(wanted)})
    deleted = report.get("VolumesDeleted") or []
    text = "".join(f"{name}\n" for name in deleted)
    if deleted:
        text = "Deleted Volumes:\n" + text + "\n"
    s.out(text + f"Total reclaimed space: {human_size(report.get('SpaceReclaimed') or 0)}\n")

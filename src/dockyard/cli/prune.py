"""``dockyard system prune``, ``container prune`` and ``image prune``: docker's commands and output.

``system prune`` is docker's orchestration: containers, then networks, then (with ``--volumes``)
volumes, then images (dangling, or all unused with ``-a``), then the build cache; each through its
own ``POST /…/prune`` with the same filters, and one total of reclaimed space.
"""

from __future__ import annotations

from typing import Any

import click

from dockyard.cli.client import filters_param
from dockyard.cli.session import Session, session
from dockyard.cli.units import human_size

_FILTER_HELP = "Provide filter values (e.g. 'until=<timestamp>', 'label=<key>=<value>')"


def _prune(s: Session, path: str, filters: list[str]) -> dict[str, Any]:
    params = {"filters": filters_param(filters)} if filters else None
    result: dict[str, Any] = s.client.post_json(path, params=params)
    return result


def _deleted_containers(report: dict[str, Any]) -> str:
    ids = report.get("ContainersDeleted") or []
    return "Deleted Containers:\n" + "".join(f"{i}\n" for i in ids) + "\n" if ids else ""


def _deleted_images(report: dict[str, Any]) -> str:
    lines = [f"{kind}: {value}\n" for record in report.get("ImagesDeleted") or []
             for kind, value in record.items()]
    return "Deleted Images:\n" + "".join(lines) + "\n" if lines else ""


def _deleted(title: str, names: list[str] | None) -> str:
    return f"Deleted {title}:\n" + "".join(f"{n}\n" for n in names) + "\n" if names else ""


def _warning(all_: bool, volumes: bool) -> str:
    items = ["all stopped containers", "all networks not used by at least one container"]
    if volumes:
        items.append("all anonymous volumes not used by at least one container")
    items.append("all images without at least one container associated to them" if all_
                 else "all dangling images")
    items.append("unused build cache" if not all_ else "all build cache")
    body = "".join(f"  - {item}\n" for item in items)
    return f"WARNING! This will remove:\n{body}\nAre you sure you want to continue?"


@click.command("prune")
@click.option("-a", "--all", "all_", is_flag=True, help="Remove all unused images not just dangling ones")
@click.option("--volumes", is_flag=True, help="Prune anonymous volumes")
@click.option("--filter", "filters", multiple=True, help=_FILTER_HELP)
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
def system_prune_command(all_: bool, volumes: bool, filters: tuple[str, ...], force: bool) -> None:
    """Remove unused data"""
    s = session()
    if not force and not click.confirm(_warning(all_, volumes)):
        return
    wanted = list(filters)
    text, total = "", 0
    report = _prune(s, "/containers/prune", wanted)
    text += _deleted_containers(report)
    total += report.get("SpaceReclaimed") or 0
    report = _prune(s, "/networks/prune", wanted)
    text += _deleted("Networks", report.get("NetworksDeleted"))
    if volumes:
        report = _prune(s, "/volumes/prune", [f for f in wanted if not f.startswith("until")])
        text += _deleted("Volumes", report.get("VolumesDeleted"))
        total += report.get("SpaceReclaimed") or 0
    report = _prune(s, "/images/prune", wanted + ([] if not all_ else ["dangling=false"]))
    text += _deleted_images(report)
    total += report.get("SpaceReclaimed") or 0
    report = _prune(s, "/build/prune", ["all=true"] if all_ else [])
    text += _deleted("build cache objects", report.get("CachesDeleted"))
    total += report.get("SpaceReclaimed") or 0
    s.out(text + f"Total reclaimed space: {human_size(total)}\n")


@click.command("prune")
@click.option("--filter", "filters", multiple=True, help=_FILTER_HELP)
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
def container_prune_command(filters: tuple[str, ...], force: bool) -> None:
    """Remove all stopped containers"""
    s = session()
    if not force and not click.confirm("WARNING! This will remove all stopped containers.\n"
                                       "Are you sure you want to continue?"):
        return
    report = _prune(s, "/containers/prune", list(filters))
    s.out(_deleted_containers(report)
          + f"Total reclaimed space: {human_size(report.get('SpaceReclaimed') or 0)}\n")


@click.command("prune")
@click.option("-a", "--all", "all_", is_flag=True, help="Remove all unused images, not just dangling ones")
@click.option("--filter", "filters", multiple=True, help=_FILTER_HELP)
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
def image_prune_command(all_: bool, filters: tuple[str, ...], force: bool) -> None:
    """Remove unused images"""
    s = session()
    warning = ("WARNING! This will remove all images without at least one container associated to them."
               if all_ else "WARNING! This will remove all dangling images.")
    if not force and not click.confirm(warning + "\nAre you sure you want to continue?"):
        return
    report = _prune(s, "/images/prune", list(filters) + (["dangling=false"] if all_ else []))
    s.out(_deleted_images(report)
          + f"Total reclaimed space: {human_size(report.get('SpaceReclaimed') or 0)}\n")

"""``dockyard secret`` and ``dockyard config``: the same commands over two kinds."""

from __future__ import annotations

import base64
import sys
from dataclasses import dataclass
from pathlib import Path

import click

from dockyard.cli.client import filters_param
from dockyard.cli.formatter import render_rows
from dockyard.cli.lifecycle import for_each
from dockyard.cli.session import Session, session
from dockyard.cli.system import lookup_json, show_inspected
from dockyard.cli.units import since

LIST_FORMAT = "{{.ID}}\t{{.Name}}\t{{.CreatedAt}}\t{{.UpdatedAt}}"
HEADERS = {"ID": "ID", "Name": "NAME", "CreatedAt": "CREATED", "UpdatedAt": "UPDATED"}


@dataclass(frozen=True)
class BlobRow:
    ID: str
    Name: str
    CreatedAt: str
    UpdatedAt: str


def _group(kind: str) -> click.Group:
    group = click.Group(kind, help=f"Manage Swarm {kind}s")

    @group.command("create")
    @click.option("-l", "--label", "labels", multiple=True, help=f"{kind.capitalize()} labels")
    @click.argument("name")
    @click.argument("file")
    def create(labels: tuple[str, ...], name: str, file: str) -> None:
        """Create a secret or config from a file or STDIN as content"""
        s = session()
        data = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
        body = {"Name": name, "Labels": {k: v for k, _, v in (item.partition("=") for item in labels)},
                "Data": base64.b64encode(data).decode()}
        s.out(s.client.post_json(f"/{kind}s/create", body=body)["ID"] + "\n")

    @group.command("ls")
    @click.option("-q", "--quiet", is_flag=True, help="Only display IDs")
    @click.option("-f", "--filter", "filters", multiple=True, help="Filter output based on conditions")
    @click.option("--format", "fmt", help="Format output using a custom template")
    def ls(quiet: bool, filters: tuple[str, ...], fmt: str | None) -> None:
        """List secrets or configs"""
        s = session()
        params = {"filters": filters_param(filters)} if filters else None
        found = s.client.get_json(f"/{kind}s", params=params)
        rows = [BlobRow(b["ID"], b["Spec"]["Name"], since(b["CreatedAt"]), since(b["UpdatedAt"]))
                for b in found]
        if quiet and not fmt:
            fmt = "{{.ID}}"
        s.out(render_rows(fmt, rows, default=LIST_FORMAT, headers=HEADERS))

    @group.command("inspect")
    @click.option("-f", "--format", "fmt", help="Format output using a custom template")
    @click.argument("names", nargs=-1, required=True)
    def inspect(fmt: str | None, names: tuple[str, ...]) -> None:
        """Display detailed information on one or more secrets or configs"""
        s = session()
        show_inspected(s, (lookup_json(s, f"/{kind}s/{n}") for n in names), fmt)

    @group.command("rm")
    @click.argument("names", nargs=-1, required=True)
    def rm(names: tuple[str, ...]) -> None:
        """Remove one or more secrets or configs"""
        def remove(s: Session, name: str) -> str:
            s.client.request("DELETE", f"/{kind}s/{name}")
            return name
        for_each(names, remove)

    return group


secret_group = _group("secret")
config_group = _group("config")

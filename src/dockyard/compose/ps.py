"""``dockyard compose ps``: Compose v2's listing — its table, ``--format json`` (one object per line,
keys and values as Compose v2 prints them), Go templates, ``--status``/``--filter status=``,
``--no-trunc``, ``--services`` and ``-q``."""

from __future__ import annotations

from typing import Any

import click

from dockyard.cli.formatter import render_rows
from dockyard.cli.ps import HEADERS, ContainerRow
from dockyard.compose.commands import compose_group, project_options
from dockyard.compose.gojson import go_json
from dockyard.compose.spec import PROJECT, SERVICE
from dockyard.compose.yamlfile import ComposeError

DEFAULT_FORMAT = "{{.Name}}\t{{.Image}}\t{{.Command}}\t{{.Service}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}"
COMPOSE_HEADERS = {**HEADERS, "Name": "NAME", "Service": "SERVICE", "Project": "PROJECT", "Health": "HEALTH",
                   "ExitCode": "EXIT CODE", "Publishers": "PUBLISHERS"}
STATES = ("paused", "restarting", "removing", "running", "dead", "created", "exited")
_HEALTH = (("(healthy)", "healthy"), ("(unhealthy)", "unhealthy"), ("(health: starting)", "starting"))


class Publishers(list[dict[str, Any]]):
    """Compose v2's PortPublisher structs: ``{{json .Publishers}}`` keeps their field order."""

    def marshal_json(self) -> str:
        return go_json(list(self))


class ComposeRow(ContainerRow):
    """Compose v2's ContainerContext: docker's container fields (Command and Mounts cut unless
    ``--no-trunc``) and Compose's own."""

    @property
    def Name(self) -> str:  # noqa: N802 - Go template field names
        return str((self._c.get("Names") or [""])[0]).lstrip("/")

    @property
    def Image(self) -> str:  # noqa: N802
        return str(self._c.get("Image") or "")  # as the engine lists it: Compose v2 does not shorten it

    @property
    def Service(self) -> str:  # noqa: N802
        return str((self._c.get("Labels") or {}).get(SERVICE, ""))

    @property
    def Project(self) -> str:  # noqa: N802
        return str((self._c.get("Labels") or {}).get(PROJECT, ""))

    @property
    def Health(self) -> str:  # noqa: N802
        return next((health for word, health in _HEALTH if word in self.Status), "")

    @property
    def ExitCode(self) -> int:  # noqa: N802
        status = self.Status
        if not status.startswith("Exited ("):
            return 0
        code = status[len("Exited ("):].split(")", 1)[0]
        return int(code) if code.lstrip("-").isdigit() else 0

    @property
    def Publishers(self) -> Publishers:  # noqa: N802
        """Every port, published or not, in target-port order."""
        ports = sorted(self._c.get("Ports") or [], key=lambda p: int(p.get("PrivatePort") or 0))
        return Publishers({"URL": str(p.get("IP") or ""), "TargetPort": int(p.get("PrivatePort") or 0),
                           "PublishedPort": int(p.get("PublicPort") or 0),
                           "Protocol": str(p.get("Type") or "tcp")} for p in ports)

    def to_json(self) -> dict[str, Any]:  # Compose's fields, not docker's
        return {key: getattr(self, key) for key in sorted(_JSON_FIELDS)}


_JSON_FIELDS = ("Command", "CreatedAt", "ExitCode", "Health", "ID", "Image", "Labels", "LocalVolumes",
                "Mounts", "Name", "Names", "Networks", "Ports", "Project", "Publishers", "RunningFor",
                "Service", "Size", "State", "Status")


def _statuses(status: tuple[str, ...], filters: tuple[str, ...]) -> set[str]:
    wanted = set(status)
    for item in filters:
        key, sep, value = item.partition("=")
        if not sep or key != "status":
            raise ComposeError(f"unknown filter {key}")  # Compose v2's words: status is the only one
        wanted.add(value)
    unknown = sorted(wanted - set(STATES))
    if unknown:
        raise ComposeError(f"invalid status {unknown[0]!r}: must be one of {', '.join(STATES)}")
    return wanted


@compose_group.command("ps")
@click.option("-a", "--all", "all_", is_flag=True,
              help="Show all stopped containers (including those created by the run command)")
@click.option("-q", "--quiet", is_flag=True, help="Only display IDs")
@click.option("--services", "only_services", is_flag=True, help="Display services")
@click.option("--format", "fmt", default="table", help="Format output using a custom template: "
              "'table', 'table TEMPLATE', 'json' or 'TEMPLATE'")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output")
@click.option("--status", multiple=True, help="Filter services by status")
@click.option("--filter", "filters", multiple=True, help="Filter services by a property (status)")
@click.argument("services", nargs=-1)
def ps_command(all_: bool, quiet: bool, only_services: bool, fmt: str, no_trunc: bool,
               status: tuple[str, ...], filters: tuple[str, ...], services: tuple[str, ...]) -> None:
    """List containers"""
    ex = project_options().executor()
    for name in services:
        if name not in ex.project.services:
            raise ComposeError(f"no such service: {name}")
    wanted = _statuses(status, filters)
    # A status filter looks at stopped containers too, as Compose v2's does.
    found = ex.containers(services, all_=all_ or bool(wanted), oneoff=None if all_ else False)
    found = [c for c in found if not wanted or c["State"] in wanted]
    if quiet or only_services:
        lines = [c["Id"] if quiet else c["Labels"][SERVICE] for c in found]
        click.echo("".join(line + "\n" for line in dict.fromkeys(lines)), nl=False)
        return
    rows = [ComposeRow(c, trunc=not no_trunc) for c in found]
    if fmt == "json":
        # Go's encoder: Publishers' keys in struct order, "<>&" escaped (render_rows sorts keys).
        click.echo("".join(go_json(row.to_json()) + "\n" for row in rows), nl=False)
    else:
        click.echo(render_rows(fmt, rows, default=DEFAULT_FORMAT, headers=COMPOSE_HEADERS), nl=False)

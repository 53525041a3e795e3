"""``ps``: the container listing with docker's columns, filters and ``--format`` fields."""

from __future__ import annotations

import json
from typing import Any

import click

from dockyard.cli.client import filters_param
from dockyard.cli.credentials import config_format
from dockyard.cli.formatter import ellipsis, render_rows, short_id
from dockyard.cli.session import session
from dockyard.cli.units import format_local_time, human_size, since

DEFAULT_FORMAT = ("{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}")
SIZE_FORMAT = DEFAULT_FORMAT + "\t{{.Size}}"
HEADERS = {
    "ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
    "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE", "Status": "STATUS", "Size": "SIZE",
    "Names": "NAMES", "Labels": "LABELS", "Label": "LABEL", "Mounts": "MOUNTS",
    "Networks": "NETWORKS", "LocalVolumes": "LOCAL VOLUMES", "Platform": "PLATFORM",
}
_JSON_FIELDS = ("Command", "CreatedAt", "ID", "Image", "Labels", "LocalVolumes", "Mounts", "Names",
                "Networks", "Ports", "RunningFor", "Size", "State", "Status")


def format_ports(ports: list[dict[str, Any]]) -> str:
    """docker's ``DisplayablePorts``: ``7000/udp, 9000-9001/tcp, 127.0.0.1:8080->80/tcp``.

    Ports sorted by private port, IP, public port, type; runs of consecutive ports folded into
    ranges per type (and per IP when published on the same number), groups in the order they
    started; mappings to another host port last, one each."""
    groups: dict[str, list[int]] = {}  # key → [first, last]; insertion order is docker's order
    result: list[str] = []
    mappings: list[str] = []
    ordered = sorted(ports, key=lambda p: (int(p.get("PrivatePort") or 0), str(p.get("IP") or ""),
                                           int(p.get("PublicPort") or 0), str(p.get("Type") or "")))
    for port in ordered:
        private, kind, ip = int(port.get("PrivatePort") or 0), str(port.get("Type") or "tcp"), str(
            port.get("IP") or "")
        key = kind
        if ip:
            public = int(port.get("PublicPort") or 0)
            if public != private:
                host = f"[{ip}]" if ":" in ip else ip
                mappings.append(f"{host}:{public}->{private}/{kind}")
                continue
            key = f"{ip}/{kind}"
        group = groups.get(key)
        if group is None:
            groups[key] = [private, private]
        elif private == group[1] + 1:
            group[1] = private
        else:
            result.append(_port_group(key, *group))
            groups[key] = [private, private]  # a new group, its key keeping its place
    result += [_port_group(key, *group) for key, group in groups.items()]
    return ", ".join(result + mappings)


def _port_group(key: str, first: int, last: int) -> str:
    ip, _, kind = key.rpartition("/")
    numbers = str(first) if first == last else f"{first}-{last}"
    if ip:  # no brackets here, unlike a mapping: docker prints ":::80->80/tcp"
        numbers = f"{ip}:{numbers}->{numbers}"
    return f"{numbers}/{kind}"


class ContainerRow:
    """The value ``--format`` templates see for one container (docker's ContainerContext)."""

    def __init__(self, summary: dict[str, Any], *, trunc: bool) -> None:
        self._c = summary
        self._trunc = trunc

    @property
    def ID(self) -> str:  # noqa: N802 - Go template field names
        cid = str(self._c.get("Id", ""))
        return short_id(cid) if self._trunc else cid

    @property
    def Names(self) -> str:  # noqa: N802
        names = [str(n)[1:] if str(n).startswith("/") else str(n) for n in self._c.get("Names") or []]
        if self._trunc:
            # Legacy link names (/other/alias) are hidden unless --no-trunc, as docker does.
            names = [n for n in names if "/" not in n]
        return ",".join(names)

    @property
    def Image(self) -> str:  # noqa: N802
        image = str(self._c.get("Image") or "")
        if not image:
            return "<no image>"
        if self._trunc:
            if image.startswith("sha256:"):
                return short_id(image)
            image = image.split("@", 1)[0]
        return image

    @property
    def Command(self) -> str:  # noqa: N802
        command = str(self._c.get("Command") or "")
        if self._trunc:
            command = ellipsis(command, 20)
        return json.dumps(command, ensure_ascii=False)

    @property
    def CreatedAt(self) -> str:  # noqa: N802
        return format_local_time(self._c.get("Created"))

    @property
    def RunningFor(self) -> str:  # noqa: N802
        return since(self._c.get("Created"))

    @property
    def Ports(self) -> str:  # noqa: N802
        return format_ports(list(self._c.get("Ports") or []))

    @property
    def State(self) -> str:  # noqa: N802
        return str(self._c.get("State") or "")

    @property
    def Status(self) -> str:  # noqa: N802
        return str(self._c.get("Status") or "")

    @property
    def Size(self) -> str:  # noqa: N802
        rw = self._c.get("SizeRw")
        if rw is None and self._c.get("SizeRootFs") is None:
            return "0B"
        text = human_size(rw or 0, 3)
        if self._c.get("SizeRootFs"):
            text += f" (virtual {human_size(self._c['SizeRootFs'], 3)})"
        return text

    @property
    def Labels(self) -> str:  # noqa: N802
        labels = self._c.get("Labels") or {}
        return ",".join(f"{k}={v}" for k, v in labels.items())

    def Label(self, name: str) -> str:  # noqa: N802
        return str((self._c.get("Labels") or {}).get(name, ""))

    @property
    def Mounts(self) -> str:  # noqa: N802
        names = []
        for mount in self._c.get("Mounts") or []:
            name = str(mount.get("Name") or mount.get("Source") or "")
            names.append(ellipsis(name, 15) if self._trunc else name)
        return ",".join(names)

    @property
    def Networks(self) -> str:  # noqa: N802
        networks = ((self._c.get("NetworkSettings") or {}).get("Networks")) or {}
        return ",".join(sorted(networks))

    @property
    def LocalVolumes(self) -> str:  # noqa: N802
        return str(sum(1 for m in self._c.get("Mounts") or [] if m.get("Driver") == "local"))

    def to_json(self) -> dict[str, str | None]:
        fields: dict[str, str | None] = {name: getattr(self, name) for name in _JSON_FIELDS}
        fields["Platform"] = None
        return fields


@click.command("ps")
@click.option("-a", "--all", "show_all", is_flag=True,
              help="Show all containers (default shows just running)")
@click.option("-q", "--quiet", is_flag=True, help="Only display container IDs")
@click.option("-n", "--last", type=int, default=-1,
              help="Show n last created containers (includes all states)")
@click.option("-l", "--latest", is_flag=True, help="Show the latest created container (includes all states)")
@click.option("-s", "--size", is_flag=True, help="Display total file sizes")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output")
@click.option("-f", "--filter", "filters", multiple=True, help="Filter output based on conditions provided")
@click.option("--format", "fmt", help="Format output using a custom template")
def ps_command(show_all: bool, quiet: bool, last: int, latest: bool, size: bool, no_trunc: bool,
               filters: tuple[str, ...], fmt: str | None) -> None:
    """List containers"""
    s = session()
    params = {"all": "1" if show_all or latest or last > 0 else "0"}
    if latest:
        last = 1
    if last > 0:
        params["limit"] = str(last)
    if filters:
        params["filters"] = filters_param(filters)
    if not fmt and not quiet:
        fmt = config_format("psFormat")  # the user's default template in config.json
    # docker asks for sizes when the template reads .Size, also through {{json .}}.
    if size or (fmt and (".Size" in fmt or "json ." in fmt)):
        params["size"] = "1"
    containers = s.client.get_json("/containers/json", params)
    rows = [ContainerRow(c, trunc=not no_trunc) for c in containers]
    if quiet and not fmt:
        fmt = "{{.ID}}"
    default = SIZE_FORMAT if size else DEFAULT_FORMAT
    s.out(render_rows(fmt, rows, default=default, headers=HEADERS))

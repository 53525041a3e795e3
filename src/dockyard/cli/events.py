"""``dockyard events``: the daemon's event stream, printed as docker prints it."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import click

from dockyard.cli.client import CliError, filters_param, iter_json_stream
from dockyard.cli.formatter import compile_template
from dockyard.cli.health_opts import parse_duration
from dockyard.cli.session import session
from dockyard.cli.templates import TemplateError, expand_escapes


def time_param(value: str) -> str:
    """docker's GetTimestamp: a duration means that long ago; other forms go to the daemon."""
    try:
        seconds = parse_duration(value, "--since") / 1e9
    except CliError:
        return value
    return f"{time.time() - seconds:.9f}"


def default_line(event: dict[str, Any]) -> str:
    """``2024-05-01T10:00:00.123456789+02:00 container start <id> (image=busybox, name=web)``."""
    nanos = int(event.get("timeNano") or int(event.get("time") or 0) * 1_000_000_000)
    local = dt.datetime.fromtimestamp(nanos // 1_000_000_000).astimezone()
    stamp = local.strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos % 1_000_000_000:09d}" + \
        local.strftime("%z")[:3] + ":" + local.strftime("%z")[3:]
    actor = event.get("Actor") or {}
    attributes = actor.get("Attributes") or {}
    attrs = ", ".join(f"{k}={v}" for k, v in sorted(attributes.items()))
    line = f"{stamp} {event.get('Type', '')} {event.get('Action', '')} {actor.get('ID', '')}"
    return f"{line} ({attrs})" if attrs else line


@click.command("events")
@click.option("-f", "--filter", "filters", multiple=True, help="Filter output based on conditions provided")
@click.option("--format", "fmt", help="Format output using a custom template")
@click.option("--since", help="Show all events created since timestamp")
@click.option("--until", help="Stream events until this timestamp")
def events_command(filters: tuple[str, ...], fmt: str | None, since: str | None,
                   until: str | None) -> None:
    """Get real time events from the server"""
    s = session()
    params: dict[str, str] = {}
    if since:
        params["since"] = time_param(since)
    if until:
        params["until"] = time_param(until)
    if filters:
        params["filters"] = filters_param(filters)
    source = expand_escapes(fmt) if fmt else None
    template = compile_template("{{json .}}" if source == "json" else source) if source else None
    with s.client.stream("GET", "/events", params=params) as response:
        for event in iter_json_stream(response):
            try:
                line = template.render(event) if template else default_line(event)
            except TemplateError as exc:
                raise CliError(str(exc), 125) from exc
            s.stdout.write((line + "\n").encode())
            s.stdout.flush()

"""``inspect``, ``version`` and ``info``."""

from __future__ import annotations

import json
import platform
from collections.abc import Callable, Iterable
from typing import Any

import click

from dockyard import __version__
from dockyard.cli.client import CLIENT_API_VERSION, CliError, DaemonError
from dockyard.cli.formatter import render_each
from dockyard.cli.session import Session, session
from dockyard.cli.units import bytes_size

_KINDS = ("container", "image", "network", "volume")


def _fetch(s: Session, kind: str, name: str, size: bool) -> Any:
    if kind == "container":
        return s.client.get_json(f"/containers/{name}/json", {"size": "1"} if size else None)
    if kind in ("network", "volume"):
        return s.client.get_json(f"/{kind}s/{name}")
    return s.client.get_json(f"/images/{name}/json")


def inspect_objects(names: tuple[str, ...], kind: str | None, fmt: str | None, size: bool) -> None:
    """docker's inspect of containers, images, networks and volumes."""
    s = session()
    show_inspected(s, (_lookup(s, name, kind, size) for name in names), fmt)


def lookup_json(s: Session, path: str) -> tuple[Any, str | None]:
    """One object for ``inspect``: its JSON, or the daemon's error message."""
    try:
        return s.client.get_json(path), None
    except CliError as exc:
        return None, exc.message


def show_inspected(s: Session, lookups: Iterable[tuple[Any, str | None]], fmt: str | None) -> None:
    """docker's inspect output: objects found are printed, then every lookup error; exit 1 if any
    failed."""
    found: list[Any] = []
    errors: list[str] = []
    for value, error in lookups:
        if error:
            errors.append(error)
        else:
            found.append(value)
    if fmt:
        s.out(render_each(fmt, found))
    else:
        s.out(json.dumps(found, indent=4, ensure_ascii=False) + "\n")
    if errors:
        raise CliError("\n".join(errors), 1)


def _lookup(s: Session, name: str, kind: str | None, size: bool) -> tuple[Any, str | None]:
    for candidate in ([kind] if kind else _KINDS):
        try:
            return _fetch(s, candidate, name, size), None
        except DaemonError as exc:
            # docker's typed inspect reports the daemon's own message; the untyped one its own.
            if exc.http_status != 404 or kind:
                return None, exc.message
    return None, f"Error: No such object: {name}"


def _inspect_command(kind: str | None) -> Callable[..., None]:
    @click.option("-f", "--format", "fmt", help="Format output using a custom template")
    @click.option("-s", "--size", is_flag=True, help="Display total file sizes if the type is container")
    @click.argument("names", nargs=-1, required=True)
    def command(fmt: str | None, size: bool, names: tuple[str, ...], type_: str | None = None) -> None:
        inspect_objects(names, kind or type_, fmt, size)
    return command


inspect_command = click.command("inspect", help="Return low-level information on Docker objects")(
    click.option("--type", "type_", type=click.Choice(_KINDS), help="Only inspect objects of the given type")(
        _inspect_command(None)))
container_inspect_command = click.command(
    "inspect", help="Display detailed information on one or more containers")(_inspect_command("container"))
image_inspect_command = click.command(
    "inspect", help="Display detailed information on one or more images")(_inspect_command("image"))


def _client_info() -> dict[str, Any]:
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    return {"Version": __version__, "ApiVersion": CLIENT_API_VERSION, "DefaultAPIVersion": CLIENT_API_VERSION,
            "GoVersion": "python" + platform.python_version(), "GitCommit": "", "BuildTime": "",
            "Os": "linux", "Arch": arch, "Context": "default", "Platform": {"Name": "Dockyard"}}


def _version_text(client: dict[str, Any], server: dict[str, Any] | None) -> str:
    lines = ["Client:", f" Version:           {client['Version']}",
             f" API version:       {client['ApiVersion']}",
             f" Go version:        {client['GoVersion']}",
             f" Git commit:        {client['GitCommit']}",
             f" Built:             {client['BuildTime']}",
             f" OS/Arch:           {client['Os']}/{client['Arch']}",
             f" Context:           {client['Context']}"]
    if server is not None:
        lines += ["", f"Server: {(server.get('Platform') or {}).get('Name', '')}".rstrip(), " Engine:",
                  f"  Version:          {server.get('Version', '')}",
                  f"  API version:      {server.get('ApiVersion', '')} "
                  f"(minimum version {server.get('MinAPIVersion', '')})",
                  f"  Go version:       {server.get('GoVersion', '')}",
                  f"  Git commit:       {server.get('GitCommit', '')}",
                  f"  Built:            {server.get('BuildTime', '')}",
                  f"  OS/Arch:          {server.get('Os', '')}/{server.get('Arch', '')}",
                  "  Experimental:     false"]
    return "\n".join(lines) + "\n"


@click.command("version")
@click.option("-f", "--format", "fmt", help="Format output using a custom template")
def version_command(fmt: str | None) -> None:
    """Show the Docker version information"""
    s = session()
    client = _client_info()
    server: dict[str, Any] | None = None
    error: CliError | None = None
    try:
        server = s.client.get_json("/version")
    except CliError as exc:
        error = exc
    if fmt:
        s.out(render_each(fmt, [{"Client": client, "Server": server}]))
    else:
        s.out(_version_text(client, server))
    if error is not None:
        raise error


def _info_text(info: dict[str, Any]) -> str:
    runtimes = " ".join(sorted(info.get("Runtimes") or {}))
    lines = [
        "Client:", f" Version:    {__version__}", " Context:    default", " Debug Mode: false", "",
        "Server:",
        f" Containers: {info.get('Containers', 0)}",
        f"  Running: {info.get('ContainersRunning', 0)}",
        f"  Paused: {info.get('ContainersPaused', 0)}",
        f"  Stopped: {info.get('ContainersStopped', 0)}",
        f" Images: {info.get('Images', 0)}",
        f" Server Version: {info.get('ServerVersion', '')}",
        f" Storage Driver: {info.get('Driver', '')}",
    ]
    lines += [f"  {k}: {v}" for k, v in info.get("DriverStatus") or []]
    lines += [
        f" Logging Driver: {info.get('LoggingDriver', '')}",
        f" Cgroup Driver: {info.get('CgroupDriver', '')}",
        f" Cgroup Version: {info.get('CgroupVersion', '')}",
        f" Runtimes: {runtimes}",
        f" Default Runtime: {info.get('DefaultRuntime', '')}",
        f" Init Binary: {info.get('InitBinary', '')}",
        f" Kernel Version: {info.get('KernelVersion', '')}",
        f" Operating System: {info.get('OperatingSystem', '')}",
        f" OSType: {info.get('OSType', '')}",
        f" Architecture: {info.get('Architecture', '')}",
        f" CPUs: {info.get('NCPU', 0)}",
        f" Total Memory: {bytes_size(info.get('MemTotal') or 0)}",
        f" Name: {info.get('Name', '')}",
        f" Docker Root Dir: {info.get('DockerRootDir', '')}",
        f" Debug Mode: {'true' if info.get('Debug') else 'false'}",
        f" Experimental: {'true' if info.get('ExperimentalBuild') else 'false'}",
        f" Live Restore Enabled: {'true' if info.get('LiveRestoreEnabled') else 'false'}",
    ]
    lines += [f"WARNING: {w}" for w in info.get("Warnings") or []]
    return "\n".join(lines) + "\n"


@click.command("info")
@click.option("-f", "--format", "fmt", help="Format output using a custom template")
def info_command(fmt: str | None) -> None:
    """Display system-wide information"""
    s = session()
    info = s.client.get_json("/info")
    s.out(render_each(fmt, [info]) if fmt else _info_text(info))

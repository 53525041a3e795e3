"""``dockyard compose``: Compose v2's commands and flags over the Engine API."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Any

import click
from ruamel.yaml import YAML

from dockyard.cli.hijack import FrameDemuxer
from dockyard.cli.session import session
from dockyard.compose.converge import down, up
from dockyard.compose.executor import Executor, UpOptions, order
from dockyard.compose.loader import Project, load_project
from dockyard.compose.spec import SERVICE
from dockyard.compose.yamlfile import ComposeError

_COLOURS = (36, 33, 32, 35, 34, 91, 92, 93, 94, 95, 96)


class _Opts:
    def __init__(self, files: tuple[str, ...], name: str | None, env_files: tuple[str, ...],
                 profiles: tuple[str, ...], directory: str | None) -> None:
        self.files, self.name, self.env_files = files, name, env_files
        self.profiles, self.directory = profiles, directory

    def project(self, services: tuple[str, ...] = ()) -> Project:
        return load_project([Path(f) for f in self.files], name=self.name,
                            working_dir=Path(self.directory) if self.directory else None,
                            env_files=[Path(f) for f in self.env_files], profiles=self.profiles,
                            services=services)

    def executor(self, services: tuple[str, ...] = ()) -> Executor:
        return Executor(session().client, self.project(services), say=lambda t: click.echo(t, err=True))


@click.group("compose")
@click.option("-f", "--file", "files", multiple=True, help="Compose configuration files")
@click.option("-p", "--project-name", "name", help="Project name")
@click.option("--env-file", "env_files", multiple=True, help="Specify an alternate environment file")
@click.option("--profile", "profiles", multiple=True, help="Specify a profile to enable")
@click.option("--project-directory", "directory", help="Specify an alternate working directory")
@click.pass_context
def compose_group(ctx: click.Context, files: tuple[str, ...], name: str | None, env_files: tuple[str, ...],
                  profiles: tuple[str, ...], directory: str | None) -> None:
    """Define and run multi-container applications with Docker"""
    ctx.obj = session()
    ctx.find_root().meta["compose_opts"] = _Opts(files, name, env_files, profiles, directory)


def project_options() -> _Opts:
    opts: _Opts = click.get_current_context().find_root().meta["compose_opts"]
    return opts


@compose_group.command("up")
@click.option("-d", "--detach", is_flag=True, help="Detached mode: Run containers in the background")
@click.option("--wait", is_flag=True, help="Wait for services to be running|healthy. Implies detached mode.")
@click.option("--build", is_flag=True, help="Build images before starting containers")
@click.option("--no-deps", is_flag=True, help="Don't start linked services")
@click.option("--force-recreate", is_flag=True, help="Recreate containers even if unchanged")
@click.option("--no-recreate", is_flag=True, help="If containers already exist, don't recreate them")
@click.option("--remove-orphans", is_flag=True, help="Remove containers for services not in the file")
@click.option("--scale", "scales", multiple=True, help="Scale SERVICE to NUM instances")
@click.option("--abort-on-container-exit", is_flag=True, help="Stops all containers if any container stops")
@click.option("--exit-code-from", default="", help="Return the exit code of the selected service container")
@click.option("-t", "--timeout", type=int, help="Shutdown timeout in seconds")
@click.option("-V", "--renew-anon-volumes", is_flag=True,
              help="Recreate anonymous volumes instead of retrieving data from the previous containers")
@click.argument("services", nargs=-1)
def up_command(detach: bool, wait: bool, build: bool, no_deps: bool, force_recreate: bool, no_recreate: bool,
               remove_orphans: bool, scales: tuple[str, ...], abort_on_container_exit: bool,
               exit_code_from: str, timeout: int | None, renew_anon_volumes: bool,
               services: tuple[str, ...]) -> int:
    """Create and start containers"""
    if force_recreate and no_recreate:
        raise ComposeError("--force-recreate and --no-recreate are incompatible")
    if (detach or wait) and (abort_on_container_exit or exit_code_from):
        raise ComposeError("--abort-on-container-exit and --detach are incompatible")
    scale = {}
    for item in scales:
        key, _, value = item.partition("=")
        scale[key] = int(value)
    ex = project_options().executor(services)
    options = UpOptions(services=services, build=build, no_deps=no_deps, force_recreate=force_recreate,
                        no_recreate=no_recreate, remove_orphans=remove_orphans, wait=wait, scale=scale,
                        timeout=timeout, renew_anon_volumes=renew_anon_volumes)
    up(ex, options)
    if detach or wait:
        return 0
    return _attached(ex, services, abort=abort_on_container_exit or bool(exit_code_from),
                     exit_code_from=exit_code_from)


def _attached(ex: Executor, services: tuple[str, ...], *, abort: bool, exit_code_from: str) -> int:
    """Attached mode: every container's log with a coloured ``name  | `` prefix until they exit."""
    containers = ex.containers(order(ex.project, services))
    width = max((len(c["Names"][0]) for c in containers), default=0)
    lock = threading.Lock()
    done = threading.Event()
    codes: dict[str, int] = {}

    def follow(index: int, container: dict[str, Any]) -> None:
        cname = container["Names"][0].lstrip("/")
        colour = _COLOURS[index % len(_COLOURS)]
        prefix = f"{cname.ljust(width)} | "
        if sys.stdout.isatty():
            prefix = f"\x1b[{colour}m{prefix}\x1b[0m"
        client = ex.client.clone()
        for line in log_lines(client, container["Id"], follow=True, tail="all", timestamps=False):
            with lock:
                click.echo(prefix + line)
        state = client.post_json(f"/containers/{container['Id']}/wait") or {}
        codes[container["Labels"].get(SERVICE, "")] = int(state.get("StatusCode", 0))
        with lock:
            click.echo(f"{cname} exited with code {codes[container['Labels'].get(SERVICE, '')]}")
        if abort:
            done.set()

    threads = [threading.Thread(target=follow, args=(i, c), daemon=True) for i, c in enumerate(containers)]
    for thread in threads:
        thread.start()
    interrupted = False
    try:
        while any(t.is_alive() for t in threads) and not done.is_set():
            done.wait(0.2)
    except KeyboardInterrupt:
        interrupted = True
        click.echo("Gracefully stopping... (press Ctrl+C again to force)", err=True)
    if done.is_set() or interrupted:
        if done.is_set():
            click.echo("Aborting on container exit...", err=True)
        for container in ex.containers(all_=False):
            ex.client.request("POST", f"/containers/{container['Id']}/stop")
    return codes.get(exit_code_from, 0) if exit_code_from else (
        next((c for c in codes.values() if c), 0) if abort else 0)


def log_lines(client: Any, cid: str, *, follow: bool, tail: str, timestamps: bool) -> Any:
    info = client.get_json(f"/containers/{cid}/json")
    tty = bool((info.get("Config") or {}).get("Tty"))
    params = {"stdout": "1", "stderr": "1", "follow": "1" if follow else "0", "tail": tail,
              "timestamps": "1" if timestamps else "0"}
    demux = FrameDemuxer()
    pending = b""
    with client.stream("GET", f"/containers/{cid}/logs", params=params) as response:
        for chunk in response.iter_raw():
            pieces = [chunk] if tty else [p for _, p in demux.feed(chunk)]
            for piece in pieces:
                pending += piece
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    yield line.decode(errors="replace")
    if pending:
        yield pending.decode(errors="replace")


@compose_group.command("down")
@click.option("-v", "--volumes", is_flag=True, help="Remove named volumes declared in the volumes section")
@click.option("--rmi", type=click.Choice(["local", "all"]), default=None,
              help="Remove images used by services")
@click.option("--remove-orphans", is_flag=True, help="Remove containers for services not in the file")
@click.option("-t", "--timeout", type=int, help="Specify a shutdown timeout in seconds")
def down_command(volumes: bool, rmi: str | None, remove_orphans: bool, timeout: int | None) -> None:
    """Stop and remove containers, networks"""
    down(project_options().executor(), volumes=volumes, rmi=rmi or "", remove_orphans=remove_orphans,
         timeout=timeout)


@compose_group.command("config")
@click.option("-q", "--quiet", is_flag=True, help="Only validate the configuration, don't print anything")
@click.option("--services", "list_services", is_flag=True, help="Print the service names, one per line")
@click.option("--volumes", "list_volumes", is_flag=True, help="Print the volume names, one per line")
@click.option("--format", "fmt", default="yaml", help="Format the output. Values: [yaml | json]")
def config_command(quiet: bool, list_services: bool, list_volumes: bool, fmt: str) -> None:
    """Parse, resolve and render compose file in canonical format"""
    project = project_options().project()
    if quiet:
        return
    if list_services:
        click.echo("".join(n + "\n" for n in project.services), nl=False)
        return
    if list_volumes:
        click.echo("".join(n + "\n" for n in project.volumes), nl=False)
        return
    model = _escaped(json.loads(json.dumps(project.model(), default=str, sort_keys=True)))
    if fmt == "json":
        click.echo(json.dumps(model, indent=2))
        return
    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 4096  # a long command stays on one line
    yaml.dump(model, sys.stdout)


def _escaped(node: Any) -> Any:
    """Interpolated values with ``$`` written ``$$`` again, so the output loads to the same project."""
    if isinstance(node, str):
        return node.replace("$", "$$")
    if isinstance(node, dict):
        return {k: _escaped(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_escaped(v) for v in node]
    return node

"""Compose v2 verbs that hand a service's containers to the CLI's own commands — ``attach``,
``commit``, ``export``, ``stats`` — and ``create`` (``up`` without the start)."""

from __future__ import annotations

import click

from dockyard.cli import container_files, resources, run
from dockyard.compose.commands import compose_group, project_options
from dockyard.compose.converge import up
from dockyard.compose.executor import UpOptions
from dockyard.compose.verbs import service_container
from dockyard.compose.yamlfile import ComposeError

_INDEX = click.option("--index", default=1, type=int,
                      help="index of the container if service has multiple replicas")


@compose_group.command("create")
@click.option("--build", is_flag=True, help="Build images before starting containers")
@click.option("--force-recreate", is_flag=True, help="Recreate containers even if their configuration "
              "and image haven't changed")
@click.option("--no-recreate", is_flag=True, help="If containers already exist, don't recreate them")
@click.option("--remove-orphans", is_flag=True, help="Remove containers for services not defined in the "
              "Compose file")
@click.option("--scale", "scales", multiple=True, help="Scale SERVICE to NUM instances")
@click.argument("services", nargs=-1)
def create_command(build: bool, force_recreate: bool, no_recreate: bool, remove_orphans: bool,
                   scales: tuple[str, ...], services: tuple[str, ...]) -> None:
    """Creates containers for a service"""
    if force_recreate and no_recreate:
        raise ComposeError("--force-recreate and --no-recreate are incompatible")
    scale = {}
    for item in scales:
        key, sep, value = item.partition("=")
        if not sep or not value.isdigit():
            raise ComposeError(f"invalid --scale {item!r}: expected SERVICE=NUM")
        scale[key] = int(value)
    options = UpOptions(services=services, build=build, force_recreate=force_recreate,
                        no_recreate=no_recreate, remove_orphans=remove_orphans, scale=scale)
    up(project_options().executor(services), options, start_containers=False)


@compose_group.command("attach")
@click.option("--no-stdin", is_flag=True, help="Do not attach STDIN")
@click.option("--sig-proxy/--no-sig-proxy", default=True, help="Proxy all received signals to the process")
@click.option("--detach-keys", help="Override the key sequence for detaching from a container")
@_INDEX
@click.argument("service")
@click.pass_context
def attach_command(ctx: click.Context, no_stdin: bool, sig_proxy: bool, detach_keys: str | None, index: int,
                   service: str) -> None:
    """Attach local standard input, output, and error streams to a service's running container"""
    ctx.invoke(run.attach_command, no_stdin=no_stdin, sig_proxy=sig_proxy, detach_keys=detach_keys,
               container=service_container(service, index))


@compose_group.command("commit")
@click.option("-a", "--author", help='Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")')
@click.option("-c", "--change", "changes", multiple=True,
              help="Apply Dockerfile instruction to the created image")
@click.option("-m", "--message", help="Commit message")
@click.option("-p", "--pause", type=click.BOOL, default=True, help="Pause container during commit")
@_INDEX
@click.argument("service")
@click.argument("reference", required=False)
@click.pass_context
def commit_command(ctx: click.Context, author: str | None, changes: tuple[str, ...], message: str | None,
                   pause: bool, index: int, service: str, reference: str | None) -> None:
    """Create a new image from a service container's changes"""
    ctx.invoke(container_files.commit_command, author=author, changes=changes, message=message, pause=pause,
               container=service_container(service, index, running=False), reference=reference)


@compose_group.command("export")
@click.option("-o", "--output", help="Write to a file, instead of STDOUT")
@_INDEX
@click.argument("service")
@click.pass_context
def export_command(ctx: click.Context, output: str | None, index: int, service: str) -> None:
    """Export a service container's filesystem as a tar archive"""
    ctx.invoke(container_files.export_command, output=output,
               container=service_container(service, index, running=False))


@compose_group.command("stats")
@click.option("-a", "--all", "all_", is_flag=True, help="Show all containers (default shows just running)")
@click.option("--no-stream", is_flag=True, help="Disable streaming stats and only pull the first result")
@click.argument("services", nargs=-1)
@click.pass_context
def stats_command(ctx: click.Context, all_: bool, no_stream: bool, services: tuple[str, ...]) -> None:
    """Display a live stream of container(s) resource usage statistics"""
    ex = project_options().executor()
    for name in services:
        if name not in ex.project.services:
            raise ComposeError(f"no such service: {name}")
    names = tuple(c["Names"][0].lstrip("/") for c in ex.containers(services, all_=all_))
    if not names:
        return  # docker stats without names would list every container of the engine
    ctx.invoke(resources.stats_command, all_=all_, no_stream=no_stream, containers=names)

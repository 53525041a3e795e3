"""``dockyard compose`` verbs on a project's existing containers: start, stop, restart, kill, pause,
unpause, rm, logs, exec, run, build, pull, push, ls, images, top, port, wait, scale, version."""

from __future__ import annotations

import json
import uuid

import click

from dockyard.cli import container_files, execs, registry, run
from dockyard.cli.client import DaemonError, iter_json_stream
from dockyard.cli.formatter import render_rows, tabwrite
from dockyard.cli.session import session
from dockyard.cli.volumes import VOLUME_HEADERS
from dockyard.compose import dependents
from dockyard.compose.commands import compose_group, log_lines, project_options
from dockyard.compose.converge import create_container, start, up
from dockyard.compose.executor import UpOptions, order, project_filter
from dockyard.compose.spec import (
    COMPOSE_VERSION,
    CONFIG_FILES,
    NUMBER,
    PROJECT,
    SERVICE,
    VOLUME,
    parse_volume,
)
from dockyard.compose.yamlfile import ComposeError


def _simple(verb: str, doc: str, done: str, path: str, params: dict[str, str] | None = None,
            states: tuple[str, ...] = ()) -> None:
    def command(services: tuple[str, ...], **kwargs: object) -> None:
        ex = project_options().executor()
        query = dict(params or {})
        if kwargs.get("timeout") is not None:
            query["t"] = str(kwargs["timeout"])
        if kwargs.get("signal"):
            query["signal"] = str(kwargs["signal"])
        for container in ex.containers(services):
            if states and container["State"] not in states:
                continue
            cname = container["Names"][0].lstrip("/")
            ex.say(f" Container {cname}  {verb.capitalize()}ing")
            try:
                ex.client.request("POST", path.format(id=container["Id"]), params=query)
            except DaemonError as exc:
                if exc.http_status != 304:
                    raise
            ex.say(f" Container {cname}  {done}")

    command.__doc__ = doc
    wrapped = click.argument("services", nargs=-1)(command)
    if verb == "stop":
        wrapped = click.option("-t", "--timeout", type=int,
                               help="Specify a shutdown timeout in seconds")(wrapped)
    if verb == "kill":
        wrapped = click.option("-s", "--signal", default="SIGKILL",
                               help="SIGNAL to send to the container")(wrapped)
    compose_group.command(verb)(wrapped)


_simple("start", "Start services", "Started", "/containers/{id}/start")
_simple("stop", "Stop services", "Stopped", "/containers/{id}/stop")


@compose_group.command("restart")
@click.option("-t", "--timeout", type=int, help="Specify a shutdown timeout in seconds")
@click.option("--no-deps", is_flag=True, help="Don't restart dependent services")
@click.argument("services", nargs=-1)
def restart_command(timeout: int | None, no_deps: bool, services: tuple[str, ...]) -> None:
    """Restart service containers"""
    dependents.restart(project_options().executor(), services, timeout, no_deps=no_deps)


_simple("kill", "Force stop service containers", "Killed", "/containers/{id}/kill", states=("running",))
_simple("pause", "Pause services", "Paused", "/containers/{id}/pause", states=("running",))
_simple("unpause", "Unpause services", "Unpaused", "/containers/{id}/unpause", states=("paused",))


@compose_group.command("rm")
@click.option("-f", "--force", is_flag=True, help="Don't ask to confirm removal")
@click.option("-s", "--stop", is_flag=True, help="Stop the containers, if required, before removing")
@click.option("-v", "--volumes", is_flag=True, help="Remove any anonymous volumes attached to containers")
@click.argument("services", nargs=-1)
def rm_command(force: bool, stop: bool, volumes: bool, services: tuple[str, ...]) -> None:
    """Removes stopped service containers"""
    ex = project_options().executor()
    for container in ex.containers(services):
        if container["State"] == "running" and not stop:
            continue
        cname = container["Names"][0].lstrip("/")
        ex.client.request("DELETE", f"/containers/{container['Id']}",
                          params={"force": "1", "v": "1" if volumes else "0"})
        ex.say(f" Container {cname}  Removed")


@compose_group.command("logs")
@click.option("-f", "--follow", is_flag=True, help="Follow log output")
@click.option("-n", "--tail", default="all", help="Number of lines to show from the end of the logs")
@click.option("-t", "--timestamps", is_flag=True, help="Show timestamps")
@click.option("--no-log-prefix", is_flag=True, help="Don't print prefix in logs")
@click.argument("services", nargs=-1)
def logs_command(follow: bool, tail: str, timestamps: bool, no_log_prefix: bool,
                 services: tuple[str, ...]) -> None:
    """View output from containers"""
    ex = project_options().executor()
    found = ex.containers(services)
    width = max((len(c["Names"][0]) - 1 for c in found), default=0)
    for container in found:
        prefix = "" if no_log_prefix else container["Names"][0].lstrip("/").ljust(width) + "  | "
        for line in log_lines(ex.client, container["Id"], follow=follow, tail=tail, timestamps=timestamps):
            click.echo(prefix + line)


def service_container(service: str, index: int, *, running: bool = True) -> str:
    """The ID of container ``index`` of ``service`` (running only, unless ``running`` is False)."""
    ex = project_options().executor()
    if service not in ex.project.services:
        raise ComposeError(f"no such service: {service}")
    for container in ex.containers([service], all_=not running):
        if int(container["Labels"].get(NUMBER, 0) or 0) == index:
            return str(container["Id"])
    raise ComposeError(f"service {service!r} is not running" if running
                       else f"service {service!r} has no container with index {index}")


@compose_group.command("exec", context_settings={"ignore_unknown_options": True})
@click.option("-d", "--detach", is_flag=True, help="Detached mode: Run command in the background")
@click.option("-T", "--no-tty", "no_tty", is_flag=True, help="Disable pseudo-TTY allocation")
@click.option("-u", "--user", help="Run the command as this user")
@click.option("-w", "--workdir", help="Path to workdir directory for this command")
@click.option("-e", "--env", multiple=True, help="Set environment variables")
@click.option("--index", default=1, type=int, help="Index of the container if service has multiple replicas")
@click.argument("service")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.pass_context
def exec_command(ctx: click.Context, detach: bool, no_tty: bool, user: str | None, workdir: str | None,
                 env: tuple[str, ...], index: int, service: str, command: tuple[str, ...]) -> None:
    """Execute a command in a running container"""
    import sys

    tty = not no_tty and sys.stdin.isatty()
    ctx.invoke(execs.exec_command, detach=detach, interactive=not detach, tty=tty, env=env, env_file=(),
               workdir=workdir, user=user, privileged=False, detach_keys=None,
               container=service_container(service, index), command=command)


@compose_group.command("run", context_settings={"ignore_unknown_options": True})
@click.option("-d", "--detach", is_flag=True, help="Run container in background and print container ID")
@click.option("--rm", "remove", is_flag=True, help="Automatically remove the container when it exits")
@click.option("--service-ports", is_flag=True, help="Run command with all service's ports enabled")
@click.option("--no-deps", is_flag=True, help="Don't start linked services")
@click.option("-T", "--no-TTY", "no_tty", is_flag=True, help="Disable pseudo-TTY allocation")
@click.option("--name", help="Assign a name to the container")
@click.argument("service")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def run_command(ctx: click.Context, detach: bool, remove: bool, service_ports: bool, no_deps: bool,
                no_tty: bool, name: str | None, service: str, command: tuple[str, ...]) -> None:
    """Run a one-off command on a service"""
    ex = project_options().executor((service,))
    if service not in ex.project.services:
        raise ComposeError(f"no such service: {service}")
    deps = [n for n in order(ex.project, [service]) if n != service]
    if deps and not no_deps:
        up(ex, UpOptions(services=deps))
    else:
        ex.ensure_networks([service])
        ex.ensure_volumes()
    ex.build([service], force=False)
    ex.pull_missing([service])
    run_name = name or f"{ex.project.name}-{service}-run-{uuid.uuid4().hex[:12]}"
    cid = create_container(ex, service, 1, oneoff=True, command=list(command) or None, publish=service_ports,
                           auto_remove=remove, run_name=run_name)
    if detach:
        start(ex, cid, run_name)
        click.echo(cid)
        return
    ctx.invoke(run.start_command, attach=True, interactive=False, detach_keys=None, containers=(cid,))
    if remove:
        return
    ctx.exit(int((ex.client.post_json(f"/containers/{cid}/wait") or {}).get("StatusCode", 0)))


@compose_group.command("build")
@click.argument("services", nargs=-1)
def build_command(services: tuple[str, ...]) -> None:
    """Build or rebuild services"""
    ex = project_options().executor(services)
    ex.build(order(ex.project, services, deps=False), force=True)


@compose_group.command("pull")
@click.argument("services", nargs=-1)
def pull_command(services: tuple[str, ...]) -> None:
    """Pull service images"""
    ex = project_options().executor(services)
    for name in order(ex.project, services, deps=False):
        if ex.project.services[name].get("image"):
            ex.pull(name)


@compose_group.command("ls")
@click.option("-a", "--all", "all_", is_flag=True, help="Show all stopped Compose projects")
@click.option("-q", "--quiet", is_flag=True, help="Only display project names")
@click.option("--format", "fmt", default="table", help="Format the output. Values: [table | json]")
def ls_command(all_: bool, quiet: bool, fmt: str) -> None:
    """List running compose projects"""
    client = session().client
    found = client.get_json("/containers/json", {"all": "1", "filters": json.dumps({"label": [PROJECT]})})
    projects: dict[str, dict[str, object]] = {}
    for c in found:
        name = c["Labels"][PROJECT]
        entry = projects.setdefault(name, {"Name": name, "states": [],
                                           "ConfigFiles": c["Labels"].get(CONFIG_FILES, "")})
        entry["states"].append(c["State"])  # type: ignore[attr-defined]
    rows = []
    for name in sorted(projects):
        states: list[str] = projects[name]["states"]  # type: ignore[assignment]
        if not all_ and "running" not in states:
            continue
        counts = {s: states.count(s) for s in dict.fromkeys(states)}
        status = ", ".join(f"{s}({n})" for s, n in counts.items())
        rows.append({"Name": name, "Status": status, "ConfigFiles": projects[name]["ConfigFiles"]})
    if quiet:
        click.echo("".join(f"{r['Name']}\n" for r in rows), nl=False)
    elif fmt == "json":
        click.echo(json.dumps(rows))
    else:
        lines = ["NAME\tSTATUS\tCONFIG FILES"]
        lines += [f"{r['Name']}\t{r['Status']}\t{r['ConfigFiles']}" for r in rows]
        click.echo(tabwrite(lines), nl=False)


@compose_group.command("scale")
@click.argument("specs", nargs=-1, required=True)
def scale_command(specs: tuple[str, ...]) -> None:
    """Scale services"""
    scale = {k: int(v) for k, _, v in (s.partition("=") for s in specs)}
    ex = project_options().executor()
    up(ex, UpOptions(services=tuple(scale), scale=scale, no_recreate=True))


@compose_group.command("port")
@click.option("--protocol", default="tcp", help="tcp or udp")
@click.option("--index", default=1, type=int, help="Index of the container if service has multiple replicas")
@click.argument("service")
@click.argument("private_port")
def port_command(protocol: str, index: int, service: str, private_port: str) -> None:
    """Print the public port for a port binding"""
    info = session().client.get_json(f"/containers/{service_container(service, index)}/json")
    bindings = (info["NetworkSettings"].get("Ports") or {}).get(f"{private_port}/{protocol}") or []
    if not bindings:
        raise ComposeError(f"no port {private_port}/{protocol} for container {service}")
    click.echo(f"{bindings[0]['HostIp'] or '0.0.0.0'}:{bindings[0]['HostPort']}")


@compose_group.command("top")
@click.argument("services", nargs=-1)
def top_command(services: tuple[str, ...]) -> None:
    """Display the running processes"""
    ex = project_options().executor()
    for container in ex.containers(services, all_=False):
        result = ex.client.get_json(f"/containers/{container['Id']}/top")
        click.echo(container["Names"][0].lstrip("/"))
        lines = ["\t".join(result.get("Titles") or [])]
        lines += ["\t".join(row) for row in result.get("Processes") or []]
        click.echo(tabwrite(lines) + "\n", nl=False)


@compose_group.command("images")
@click.option("-q", "--quiet", is_flag=True, help="Only display IDs")
@click.argument("services", nargs=-1)
def images_command(quiet: bool, services: tuple[str, ...]) -> None:
    """List images used by the created containers"""
    ex = project_options().executor()
    lines = ["CONTAINER\tREPOSITORY\tTAG\tIMAGE ID"]
    for container in ex.containers(services):
        image = container["Image"]
        repo, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "latest")
        if quiet:
            click.echo(container["ImageID"])
            continue
        lines.append(f"{container['Names'][0].lstrip('/')}\t{repo}\t{tag}\t{container['ImageID'][7:19]}")
    if not quiet:
        click.echo(tabwrite(lines), nl=False)


@compose_group.command("wait")
@click.argument("services", nargs=-1, required=True)
def wait_command(services: tuple[str, ...]) -> int:
    """Block until containers of all (or specified) services stop."""
    ex = project_options().executor()
    code = 0
    for container in ex.containers(services):
        code = int((ex.client.post_json(f"/containers/{container['Id']}/wait") or {}).get("StatusCode", 0))
        click.echo(str(code))
    return code


@compose_group.command("version")
@click.option("--short", is_flag=True, help="Shows only Compose's version number")
def version_command(short: bool) -> None:
    """Show the Docker Compose version information"""
    click.echo(COMPOSE_VERSION if short else f"Dockyard Compose version v{COMPOSE_VERSION}")


@compose_group.command("cp")
@click.option("-a", "--archive", is_flag=True, help="Archive mode (copy all uid/gid information)")
@click.option("-L", "--follow-link", is_flag=True, help="Always follow symbol link in SRC_PATH")
@click.option("--index", default=1, type=int, help="Index of the container if service has multiple replicas")
@click.argument("src")
@click.argument("dest")
@click.pass_context
def cp_command(ctx: click.Context, archive: bool, follow_link: bool, index: int, src: str, dest: str) -> None:
    """Copy files/folders between a service container and the local filesystem"""

    def resolve(arg: str) -> str:
        service, sep, path = arg.partition(":")
        return f"{service_container(service, index)}:{path}" if sep and "/" not in service else arg

    ctx.invoke(container_files.cp_command, archive=archive, follow_link=follow_link, quiet=True,
               src=resolve(src), dest=resolve(dest))


@compose_group.command("push")
@click.argument("services", nargs=-1)
@click.pass_context
def push_command(ctx: click.Context, services: tuple[str, ...]) -> None:
    """Push service images"""
    ex = project_options().executor(services)
    for name in order(ex.project, services, deps=False):
        service = ex.project.services[name]
        if service.get("image"):
            ctx.invoke(registry.push_command, all_tags=False, quiet=True, image=str(service["image"]))


@compose_group.command("events")
@click.option("--json", "as_json", is_flag=True, help="Output events as a stream of json objects")
@click.argument("services", nargs=-1)
def events_command(as_json: bool, services: tuple[str, ...]) -> None:
    """Receive real time events from containers"""
    ex = project_options().executor()
    filters = {"type": ["container"], "label": [f"{PROJECT}={ex.project.name}"]}
    with ex.client.stream("GET", "/events", params={"filters": json.dumps(filters)}) as response:
        for event in iter_json_stream(response):
            attrs = (event.get("Actor") or {}).get("Attributes") or {}
            service = attrs.get(SERVICE, "")
            if services and service not in services:
                continue
            record = {"time": event.get("time"), "type": "container", "action": event.get("Action"),
                      "id": (event.get("Actor") or {}).get("ID"), "service": service,
                      "attributes": {k: v for k, v in attrs.items()
                                     if not k.startswith("com.docker.compose")}}
            if as_json:
                click.echo(json.dumps(record))
            else:
                click.echo(f"{record['time']} container {record['action']} {record['id']} "
                           f"({', '.join(f'{k}={v}' for k, v in sorted(record['attributes'].items()))})")


@compose_group.command("volumes")
@click.option("-q", "--quiet", is_flag=True, help="Only display volume names")
@click.option("--format", "fmt", default="table", help="Format output using a custom template: "
              "'table', 'table TEMPLATE', 'json' or 'TEMPLATE'")
@click.argument("services", nargs=-1)
def volumes_command(quiet: bool, fmt: str, services: tuple[str, ...]) -> None:
    """List volumes"""
    ex = project_options().executor()
    keys = set(ex.project.volumes)
    if services:
        order(ex.project, services)  # an unknown service is refused by name
        keys = {str(parse_volume(ex.project, item).get("source") or "") for name in services
                for item in ex.project.services[name].get("volumes") or []} & keys
    found = ex.client.get_json("/volumes", project_filter(ex.project.name))
    # Docker's volume formatter: the swarm-only fields read N/A on one engine, as Compose v2 shows them.
    rows = [{"Availability": "N/A", "Driver": v["Driver"], "Group": "N/A",
             "Labels": ",".join(f"{k}={val}" for k, val in sorted((v.get("Labels") or {}).items())),
             "Links": "N/A", "Mountpoint": v["Mountpoint"], "Name": v["Name"],
             "Scope": v.get("Scope", "local"), "Size": "N/A", "Status": "N/A"}
            for v in sorted(found.get("Volumes") or [], key=lambda v: v["Name"])
            if (v.get("Labels") or {}).get(VOLUME) in keys]
    if quiet:
        fmt = "{{.Name}}"
    click.echo(render_rows(fmt, rows, default="{{.Driver}}\t{{.Name}}", headers=VOLUME_HEADERS), nl=False)

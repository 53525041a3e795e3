"""``dockyard service``: docker's service commands over the API (create, ls, ps, inspect, logs,
scale, update, rollback, rm)."""

from __future__ import annotations

import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click

from dockyard.cli.client import CliError, filters_param
from dockyard.cli.formatter import render_rows
from dockyard.cli.health_opts import parse_duration
from dockyard.cli.lifecycle import for_each
from dockyard.cli.resource_opts import parse_cpus, parse_ram
from dockyard.cli.session import Session, session
from dockyard.cli.system import lookup_json, show_inspected
from dockyard.cli.units import since

SERVICES_FORMAT = "{{.ID}}\t{{.Name}}\t{{.Mode}}\t{{.Replicas}}\t{{.Image}}\t{{.Ports}}"
SERVICE_HEADERS = {"ID": "ID", "Name": "NAME", "Mode": "MODE", "Replicas": "REPLICAS", "Image": "IMAGE",
                   "Ports": "PORTS"}
TASKS_FORMAT = "{{.ID}}\t{{.Name}}\t{{.Image}}\t{{.Node}}\t{{.DesiredState}}\t{{.CurrentState}}\t" \
               "{{.Error}}\t{{.Ports}}"
TASK_HEADERS = {"ID": "ID", "Name": "NAME", "Image": "IMAGE", "Node": "NODE",
                "DesiredState": "DESIRED STATE", "CurrentState": "CURRENT STATE", "Error": "ERROR",
                "Ports": "PORTS"}


def _spec_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The flags create and update share, with docker's names."""
    o = click.option
    for option in reversed([
        o("--replicas", type=int, help="Number of tasks"),
        o("-e", "--env", "env", multiple=True, help="Set environment variables"),
        o("--label", "labels", multiple=True, help="Service labels"),
        o("--container-label", "container_labels", multiple=True, help="Container labels"),
        o("-p", "--publish", "publish", multiple=True, help="Publish a port as a node port"),
        o("--secret", "secrets", multiple=True, help="Specify secrets to expose to the service"),
        o("--config", "configs", multiple=True, help="Specify configurations to expose to the service"),
        o("--network", "networks", multiple=True, help="Network attachments"),
        o("--constraint", "constraints", multiple=True, help="Placement constraints"),
        o("--hostname", help="Container hostname"), o("-w", "--workdir", help="Working directory"),
        o("-u", "--user", help="Username or UID (format: <name|uid>[:<group|gid>])"),
        o("--limit-memory", help="Limit Memory"), o("--limit-cpu", help="Limit CPUs"),
        o("--reserve-memory", help="Reserve Memory"), o("--reserve-cpu", help="Reserve CPUs"),
        o("--restart-condition", type=click.Choice(["none", "on-failure", "any"]),
          help='Restart when condition is met ("none", "on-failure", "any")'),
        o("--restart-delay", help="Delay between restart attempts (ns|us|ms|s|m|h)"),
        o("--restart-max-attempts", type=int, help="Maximum number of restarts before giving up"),
        o("--update-parallelism", type=int, help="Maximum number of tasks updated simultaneously"),
        o("--update-delay", help="Delay between updates (ns|us|ms|s|m|h)"),
        o("--update-order", type=click.Choice(["start-first", "stop-first"]), help="Update order"),
        o("--update-failure-action", type=click.Choice(["pause", "continue", "rollback"]),
          help="Action on update failure"),
        o("--update-monitor", help="Duration after each task update to monitor for failure"),
        o("--stop-grace-period", help="Time to wait before force killing a container"),
        o("--stop-signal", help="Signal to stop the container"),
        o("--health-cmd", help="Command to run to check health"),
        o("--health-interval", help="Time between running the check (ms|s|m|h)"),
        o("--health-retries", type=int, help="Consecutive failures needed to report unhealthy"),
        o("--endpoint-mode", type=click.Choice(["vip", "dnsrr"]), help="Endpoint mode (vip or dnsrr)"),
        o("-d", "--detach", is_flag=True, help="Exit immediately instead of waiting for the service "
                                               "to converge"),
    ]):
        f = option(f)
    return f


def _pairs(values: tuple[str, ...]) -> dict[str, str]:
    return {k: v for k, _, v in (item.partition("=") for item in values)}


def _port(value: str) -> dict[str, Any]:
    if "=" in value:
        fields = _pairs(tuple(value.split(",")))
        return {"Protocol": fields.get("protocol", "tcp"), "TargetPort": int(fields["target"]),
                "PublishedPort": int(fields.get("published") or 0),
                "PublishMode": fields.get("mode", "ingress")}
    published, _, target = value.rpartition(":")
    target, _, proto = target.partition("/")
    return {"Protocol": proto or "tcp", "TargetPort": int(target),
            "PublishedPort": int(published or 0), "PublishMode": "ingress"}


def _reference(s: Session, kind: str, value: str) -> dict[str, Any]:
    fields = _pairs(tuple(value.split(","))) if "=" in value else {"source": value}
    source = fields.get("source") or fields.get("src") or ""
    found = s.client.get_json(f"/{kind}s/{source}")
    default_target = source if kind == "secret" else f"/{source}"
    return {"File": {"Name": fields.get("target", default_target), "UID": fields.get("uid", "0"),
                     "GID": fields.get("gid", "0"), "Mode": int(fields.get("mode", "0444"), 8)},
            f"{kind.capitalize()}ID": found["ID"], f"{kind.capitalize()}Name": source}


def apply_options(s: Session, spec: dict[str, Any], opts: dict[str, Any]) -> None:
    """Fold the shared flags into a ServiceSpec (create starts from an empty one)."""
    template = spec.setdefault("TaskTemplate", {})
    container = template.setdefault("ContainerSpec", {})
    if opts.get("replicas") is not None:
        spec["Mode"] = {"Replicated": {"Replicas": opts["replicas"]}}
    if opts.get("env"):
        container["Env"] = [*(container.get("Env") or []), *opts["env"]]
    if opts.get("labels"):
        spec["Labels"] = {**(spec.get("Labels") or {}), **_pairs(opts["labels"])}
    if opts.get("container_labels"):
        container["Labels"] = {**(container.get("Labels") or {}), **_pairs(opts["container_labels"])}
    for key, field in (("hostname", "Hostname"), ("workdir", "Dir"), ("user", "User"),
                       ("stop_signal", "StopSignal")):
        if opts.get(key):
            container[field] = opts[key]
    if opts.get("stop_grace_period"):
        container["StopGracePeriod"] = parse_duration(opts["stop_grace_period"], "--stop-grace-period")
    if opts.get("health_cmd"):
        interval = parse_duration(opts.get("health_interval") or "0", "--health-interval")
        container["Healthcheck"] = {"Test": ["CMD-SHELL", opts["health_cmd"]], "Interval": interval,
                                    "Retries": opts.get("health_retries") or 0}
    if opts.get("secrets"):
        container["Secrets"] = [_reference(s, "secret", v) for v in opts["secrets"]]
    if opts.get("configs"):
        container["Configs"] = [_reference(s, "config", v) for v in opts["configs"]]
    if opts.get("networks"):
        template["Networks"] = [{"Target": n} for n in opts["networks"]]
    if opts.get("constraints"):
        template["Placement"] = {"Constraints": list(opts["constraints"])}
    resources = template.setdefault("Resources", {})
    for key, kind, field, parse in (("limit_memory", "Limits", "MemoryBytes", parse_ram),
                                    ("limit_cpu", "Limits", "NanoCPUs", parse_cpus),
                                    ("reserve_memory", "Reservations", "MemoryBytes", parse_ram),
                                    ("reserve_cpu", "Reservations", "NanoCPUs", parse_cpus)):
        if opts.get(key):
            resources.setdefault(kind, {})[field] = parse(opts[key])
    restart = template.setdefault("RestartPolicy", {})
    if opts.get("restart_condition"):
        restart["Condition"] = opts["restart_condition"]
    if opts.get("restart_delay"):
        restart["Delay"] = parse_duration(opts["restart_delay"], "--restart-delay")
    if opts.get("restart_max_attempts") is not None:
        restart["MaxAttempts"] = opts["restart_max_attempts"]
    update = spec.setdefault("UpdateConfig", {})
    for key, field in (("update_parallelism", "Parallelism"), ("update_order", "Order"),
                       ("update_failure_action", "FailureAction")):
        if opts.get(key) is not None:
            update[field] = opts[key]
    for key, field in (("update_delay", "Delay"), ("update_monitor", "Monitor")):
        if opts.get(key):
            update[field] = parse_duration(opts[key], f"--{key.replace('_', '-')}")
    endpoint = spec.setdefault("EndpointSpec", {})
    if opts.get("endpoint_mode"):
        endpoint["Mode"] = opts["endpoint_mode"]
    if opts.get("publish"):
        endpoint["Ports"] = [_port(p) for p in opts["publish"]]


@click.group("service")
def service_group() -> None:
    """Manage Swarm services"""


@service_group.command("create", context_settings={"ignore_unknown_options": True})
@click.option("--name", default="", help="Service name")
@click.option("--mode", type=click.Choice(["replicated", "global"]), default="replicated",
              help='Service mode ("replicated", "global")')
@_spec_options
@click.argument("image")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def create_command(name: str, mode: str, image: str, command: tuple[str, ...], **opts: Any) -> None:
    """Create a new service"""
    s = session()
    spec: dict[str, Any] = {"Name": name, "TaskTemplate": {"ContainerSpec": {"Image": image}}}
    if command:
        spec["TaskTemplate"]["ContainerSpec"]["Args"] = list(command)
    spec["Mode"] = {"Global": {}} if mode == "global" else {"Replicated": {"Replicas": 1}}
    apply_options(s, spec, opts)
    created = s.client.post_json("/services/create", body=spec)
    s.out(created["ID"] + "\n")
    if not opts.get("detach"):
        _converge(s, created["ID"])


def _converge(s: Session, service_id: str, timeout: float = 300.0) -> None:
    """What docker prints as "verify: Service converged": every desired task running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found: list[dict[str, Any]] = s.client.get_json("/services", params={
            "status": "true", "filters": filters_param([f"id={service_id}"])})
        status: dict[str, Any] = found[0].get("ServiceStatus") or {} if found else {}
        if status and status.get("RunningTasks") == status.get("DesiredTasks"):
            print("verify: Service converged", file=sys.stderr)
            return
        time.sleep(0.5)
    raise CliError("timed out waiting for the service to converge")


@dataclass(frozen=True)
class ServiceRow:
    ID: str
    Name: str
    Mode: str
    Replicas: str
    Image: str
    Ports: str


def _ports_text(service: dict[str, Any]) -> str:
    return ", ".join(f"*:{p['PublishedPort']}->{p['TargetPort']}/{p['Protocol']}"
                     for p in (service.get("Endpoint") or {}).get("Ports") or [])


@service_group.command("ls")
@click.option("-q", "--quiet", is_flag=True, help="Only display IDs")
@click.option("-f", "--filter", "filters", multiple=True, help="Filter output based on conditions provided")
@click.option("--format", "fmt", help="Format output using a custom template")
def ls_command(quiet: bool, filters: tuple[str, ...], fmt: str | None) -> None:
    """List services"""
    s = session()
    params = {"status": "true", **({"filters": filters_param(filters)} if filters else {})}
    rows = []
    for service in s.client.get_json("/services", params=params):
        status = service.get("ServiceStatus") or {}
        mode = "global" if "Global" in service["Spec"].get("Mode", {}) else "replicated"
        rows.append(ServiceRow(service["ID"][:12], service["Spec"]["Name"], mode,
                               f"{status.get('RunningTasks', 0)}/{status.get('DesiredTasks', 0)}",
                               service["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"].split("@")[0],
                               _ports_text(service)))
    if quiet and not fmt:
        fmt = "{{.ID}}"
    s.out(render_rows(fmt, rows, default=SERVICES_FORMAT, headers=SERVICE_HEADERS))


@dataclass(frozen=True)
class TaskRow:
    ID: str
    Name: str
    Image: str
    Node: str
    DesiredState: str
    CurrentState: str
    Error: str
    Ports: str


def task_rows(s: Session, tasks: list[dict[str, Any]], no_trunc: bool) -> list[TaskRow]:
    names = {srv["ID"]: srv["Spec"]["Name"] for srv in s.client.get_json("/services")}
    hostnames = {n["ID"]: n["Description"]["Hostname"] for n in s.client.get_json("/nodes")}
    rows = []
    for task in sorted(tasks, key=lambda t: (names.get(t["ServiceID"], ""), t["Slot"], t["CreatedAt"])):
        status = task["Status"]
        slot = task["Slot"] or task["NodeID"]
        rows.append(TaskRow(task["ID"] if no_trunc else task["ID"][:12],
                            f"{names.get(task['ServiceID'], task['ServiceID'])}.{slot}",
                            task["Spec"]["ContainerSpec"]["Image"], hostnames.get(task["NodeID"], ""),
                            task["DesiredState"].capitalize(),
                            f"{status['State'].capitalize()} {since(status['Timestamp'])}",
                            status.get("Err", ""), ""))
    return rows


@service_group.command("ps")
@click.option("-q", "--quiet", is_flag=True, help="Only display task IDs")
@click.option("-f", "--filter", "filters", multiple=True, help="Filter output based on conditions provided")
@click.option("--format", "fmt", help="Pretty-print tasks using a Go template")
@click.option("--no-trunc", is_flag=True, help="Do not truncate output")
@click.argument("services", nargs=-1, required=True)
def ps_command(quiet: bool, filters: tuple[str, ...], fmt: str | None, no_trunc: bool,
               services: tuple[str, ...]) -> None:
    """List the tasks of one or more services"""
    s = session()
    ids = [s.client.get_json(f"/services/{name}")["ID"] for name in services]
    wanted = [*filters, *(f"service={i}" for i in ids)]
    tasks = s.client.get_json("/tasks", params={"filters": filters_param(wanted)})
    if quiet and not fmt:
        fmt = "{{.ID}}"
    s.out(render_rows(fmt, task_rows(s, tasks, no_trunc), default=TASKS_FORMAT, headers=TASK_HEADERS))


@service_group.command("inspect")
@click.option("-f", "--format", "fmt", help="Format output using a custom template")
@click.argument("services", nargs=-1, required=True)
def inspect_command(fmt: str | None, services: tuple[str, ...]) -> None:
    """Display detailed information on one or more services"""
    s = session()
    show_inspected(s, (lookup_json(s, f"/services/{name}") for name in services), fmt)


@service_group.command("rm")
@click.argument("services", nargs=-1, required=True)
def rm_command(services: tuple[str, ...]) -> None:
    """Remove one or more services"""
    def remove(s: Session, name: str) -> str:
        s.client.request("DELETE", f"/services/{name}")
        return name
    for_each(services, remove)


def _update(s: Session, name: str, change: Callable[[dict[str, Any]], None], *,
            rollback: bool = False) -> dict[str, Any]:
    current: dict[str, Any] = s.client.get_json(f"/services/{name}")
    spec = current["Spec"]
    change(spec)
    params = {"version": str(current["Version"]["Index"])}
    if rollback:
        params["rollback"] = "previous"
    s.client.post_json(f"/services/{current['ID']}/update", params=params, body=spec)
    return current


@service_group.command("scale")
@click.option("-d", "--detach", is_flag=True, help="Exit immediately instead of waiting")
@click.argument("pairs", nargs=-1, required=True)
def scale_command(detach: bool, pairs: tuple[str, ...]) -> None:
    """Scale one or multiple replicated services"""
    def scale(s: Session, pair: str) -> str:
        name, sep, count = pair.partition("=")
        if not sep or not count.isdigit():
            raise CliError(f"invalid scale specifier '{pair}'.\nSee 'dockyard service scale --help'.")

        def change(spec: dict[str, Any]) -> None:
            if "Replicated" not in spec.get("Mode", {}):
                raise CliError("scale can only be used with replicated mode")
            spec["Mode"] = {"Replicated": {"Replicas": int(count)}}
        current = _update(s, name, change)
        if not detach:
            _converge(s, current["ID"])
        return f"{name} scaled to {count}"
    for_each(pairs, scale)


@service_group.command("update", context_settings={"ignore_unknown_options": True})
@click.option("--image", help="Service image tag")
@click.option("--args", "args_", help="Service command args")
@click.option("--env-add", multiple=True, help="Add or update an environment variable")
@click.option("--env-rm", multiple=True, help="Remove an environment variable")
@click.option("--force", is_flag=True, help="Force update even if no changes require it")
@click.option("--rollback", is_flag=True, help="Rollback to previous specification")
@_spec_options
@click.argument("service")
def update_command(image: str | None, args_: str | None, env_add: tuple[str, ...], env_rm: tuple[str, ...],
                   force: bool, rollback: bool, service: str, **opts: Any) -> None:
    """Update a service"""
    s = session()

    def change(spec: dict[str, Any]) -> None:
        container = spec["TaskTemplate"]["ContainerSpec"]
        if image:
            container["Image"] = image
        if args_ is not None:
            container["Args"] = shlex.split(args_)
        env = [e for e in container.get("Env") or [] if e.split("=", 1)[0] not in
               {x.split("=", 1)[0] for x in (*env_add, *env_rm)}]
        container["Env"] = env + list(env_add)
        if force:
            spec["TaskTemplate"]["ForceUpdate"] = int(spec["TaskTemplate"].get("ForceUpdate") or 0) + 1
        apply_options(s, spec, {k: v for k, v in opts.items() if k != "env"})
    current = _update(s, service, change, rollback=rollback)
    s.out(service + "\n")
    if not opts.get("detach"):
        _converge(s, current["ID"])


@service_group.command("rollback")
@click.option("-d", "--detach", is_flag=True, help="Exit immediately instead of waiting")
@click.argument("service")
def rollback_command(detach: bool, service: str) -> None:
    """Revert changes to a service's configuration"""
    s = session()
    current = _update(s, service, lambda _spec: None, rollback=True)
    s.out(service + "\n")
    if not detach:
        _converge(s, current["ID"])


@service_group.command("logs")
@click.option("-f", "--follow", is_flag=True, help="Follow log output")
@click.option("-t", "--timestamps", is_flag=True, help="Show timestamps")
@click.option("-n", "--tail", default="all", help="Number of lines to show from the end of the logs")
@click.argument("service")
def logs_command(follow: bool, timestamps: bool, tail: str, service: str) -> None:
    """Fetch the logs of a service or task"""
    s = session()
    params = {"stdout": "1", "stderr": "1", "follow": "1" if follow else "0", "tail": tail,
              "timestamps": "1" if timestamps else "0"}
    with s.client.stream("GET", f"/services/{service}/logs", params=params) as response:
        buffer = b""
        for chunk in response.iter_bytes():
            buffer += chunk
            while len(buffer) >= 8:
                size = int.from_bytes(buffer[4:8], "big")
                if len(buffer) < 8 + size:
                    break
                stream, data, buffer = buffer[0], buffer[8:8 + size], buffer[8 + size:]
                (sys.stdout if stream == 1 else sys.stderr).buffer.write(data)

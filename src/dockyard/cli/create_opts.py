"""``docker run``/``docker create`` flags and the ``POST /containers/create`` body they make."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from dockyard.cli.client import CliError
from dockyard.cli.health_opts import health_options, healthcheck_body
from dockyard.cli.mount_opts import mount_host_config, mount_options
from dockyard.cli.network_opts import apply_network_opts, network_options
from dockyard.cli.network_opts import parse_ports as parse_network_ports
from dockyard.cli.resource_opts import parse_ram as parse_ram  # re-exported: cli/resources.py
from dockyard.cli.resource_opts import parse_restart as parse_restart
from dockyard.cli.resource_opts import resource_host_config, resource_options
from dockyard.cli.security_opts import security_host_config, security_options


def _options() -> list[Callable[[Any], Any]]:
    o = click.option
    return [
        o("--name", help="Assign a name to the container"),
        o("-d", "--detach", is_flag=True, help="Run container in background and print container ID"),
        o("-i", "--interactive", is_flag=True, help="Keep STDIN open even if not attached"),
        o("-t", "--tty", is_flag=True, help="Allocate a pseudo-TTY"),
        o("--rm", "auto_remove", is_flag=True, help="Automatically remove the container when it exits"),
        o("-e", "--env", multiple=True, help="Set environment variables"),
        o("--env-file", multiple=True, help="Read in a file of environment variables"),
        o("-w", "--workdir", help="Working directory inside the container"),
        o("-u", "--user", help="Username or UID (format: <name|uid>[:<group|gid>])"),
        o("--entrypoint", help="Overwrite the default ENTRYPOINT of the image"),
        o("-h", "--hostname", help="Container host name"),
        o("--domainname", help="Container NIS domain name"),
        o("-l", "--label", multiple=True, help="Set meta data on a container"),
        o("--label-file", multiple=True, help="Read in a line delimited file of labels"),
        o("--init", is_flag=True, default=None, help="Run an init inside the container"),
        o("--stop-signal", help="Signal to stop the container"),
        o("--stop-timeout", type=int, help="Timeout (in seconds) to stop a container"),
        o("--network", "--net", "network", help="Connect a container to a network"),
        o("--runtime", help="Runtime to use for this container"),
        o("--platform", help="Set platform if server is multi-platform capable"),
        o("--pull", type=click.Choice(["always", "missing", "never"]), default="missing",
          help="Pull image before running"),
        o("-q", "--quiet", is_flag=True, help="Suppress the pull output"),
        o("-a", "--attach", multiple=True, help="Attach to STDIN, STDOUT or STDERR"),
        o("--sig-proxy/--no-sig-proxy", default=True, help="Proxy received signals to the process"),
        o("--read-only", is_flag=True, help="Mount the container's root filesystem as read only"),
        o("-v", "--volume", multiple=True, help="Bind mount a volume"),
        o("--tmpfs", multiple=True, help="Mount a tmpfs directory"),
        o("-p", "--publish", multiple=True, help="Publish a container's port(s) to the host"),
        o("--expose", multiple=True, help="Expose a port or a range of ports"),
        o("--add-host", multiple=True, help="Add a custom host-to-IP mapping (host:ip)"),
        o("--dns", multiple=True, help="Set custom DNS servers"),
        o("--cidfile", help="Write the container ID to the file"),
        o("--log-driver", help="Logging driver for the container"),
        o("--log-opt", multiple=True, help="Log driver options"),
        o("--detach-keys", help="Override the key sequence for detaching a container"),
        o("--mac-address", help="Container MAC address"),
    ]


def create_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed([*_options(), *health_options(), *network_options(), *resource_options(),
                            *security_options(), *mount_options()]):
        func = option(func)
    return func


def validate_env(value: str, environ: Mapping[str, str]) -> str:
    """``-e VAR`` takes VAR's value from the local environment; ``-e VAR=x`` is kept as is."""
    name, sep, _ = value.partition("=")
    if not name:
        raise CliError(f"invalid argument \"{value}\" for \"-e, --env\" flag: invalid environment "
                       f"variable: {value}", 125)
    if sep:
        return value
    if name in environ:
        return f"{name}={environ[name]}"
    return value


def parse_kv_file(path: str, environ: Mapping[str, str] | None) -> list[str]:
    """docker's env/label file: ``#`` comments, ``VAR=value`` verbatim, bare ``VAR`` from ``environ``."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise CliError(f"open {path}: {exc.strerror.lower() if exc.strerror else exc}", 125) from exc
    lines = []
    for raw in text.splitlines():
        line = raw.lstrip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        name = name.lstrip()
        if not name:
            raise CliError(f"no variable name on line '{line}'", 125)
        if any(ch.isspace() for ch in name):
            raise CliError(f"variable '{name}' contains whitespaces", 125)
        if sep:
            lines.append(f"{name}={value}")
        elif environ is not None and name in environ:
            lines.append(f"{name}={environ[name]}")
        elif environ is None:
            lines.append(name)
    return lines


def build_env(env: Sequence[str], env_files: Sequence[str], environ: Mapping[str, str]) -> list[str]:
    """Files first, then ``-e`` flags, as docker orders them."""
    result: list[str] = []
    for path in env_files:
        result.extend(parse_kv_file(path, environ))
    result.extend(validate_env(item, environ) for item in env)
    return result


def build_labels(labels: Sequence[str], label_files: Sequence[str]) -> dict[str, str]:
    items: list[str] = []
    for path in label_files:
        items.extend(parse_kv_file(path, None))
    items.extend(labels)
    result: dict[str, str] = {}
    for item in items:
        key, _, value = item.partition("=")
        result[key] = value
    return result


def parse_ports(publish: Sequence[str], expose: Sequence[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``-p [ip:][hostPort:]containerPort[/proto]`` → (ExposedPorts, PortBindings)."""
    return parse_network_ports(publish, expose)  # ranges and IPv6 host addresses: network_opts


def _host_config(opts: Mapping[str, Any]) -> dict[str, Any]:
    _, bindings = parse_ports(opts["publish"], opts["expose"])
    host: dict[str, Any] = {
        "AutoRemove": bool(opts["auto_remove"]),
        "NetworkMode": opts["network"] or "default",
        # As docker's CLI: a -v with a source is a bind (or named volume); one without is anonymous.
        "Binds": [v for v in opts["volume"] if ":" in v] or None,
        "PortBindings": bindings,
        "ReadonlyRootfs": bool(opts["read_only"]),
        "ExtraHosts": list(opts["add_host"]) or None,
        "Dns": list(opts["dns"]),
        "Tmpfs": {spec.partition(":")[0]: spec.partition(":")[2] for spec in opts["tmpfs"]} or None,
    }
    optional = {"Init": opts["init"], "Runtime": opts["runtime"]}
    host.update({k: v for k, v in optional.items() if v is not None})
    host.update(resource_host_config(opts))  # cli/resource_opts.py
    host.update(security_host_config(opts))  # cli/security_opts.py
    host.update(mount_host_config(opts))  # cli/mount_opts.py
    if opts["log_driver"] or opts["log_opt"]:
        log_opts = dict(opt.partition("=")[::2] for opt in opts["log_opt"])
        host["LogConfig"] = {"Type": opts["log_driver"] or "", "Config": log_opts}
    return host


def build_create_body(image: str, command: Sequence[str], opts: Mapping[str, Any],
                      environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The JSON body of ``POST /containers/create`` for ``run``/``create`` flags."""
    environ = os.environ if environ is None else environ
    streams = {s.lower() for s in opts["attach"]}
    detach = bool(opts.get("detach"))
    interactive = bool(opts["interactive"])
    exposed, _ = parse_ports(opts["publish"], opts["expose"])
    body: dict[str, Any] = {
        "Hostname": opts["hostname"] or "",
        "Domainname": opts["domainname"] or "",
        "User": opts["user"] or "",
        "AttachStdin": interactive and not detach if not streams else "stdin" in streams,
        "AttachStdout": not detach if not streams else "stdout" in streams,
        "AttachStderr": not detach if not streams else "stderr" in streams,
        "ExposedPorts": exposed or None,
        "Tty": bool(opts["tty"]),
        "OpenStdin": interactive,
        "StdinOnce": interactive and not detach,
        "Env": build_env(opts["env"], opts["env_file"], environ),
        "Cmd": list(command) or None,
        "Image": image,
        "WorkingDir": opts["workdir"] or "",
        "Entrypoint": None if opts["entrypoint"] is None else [opts["entrypoint"]],
        "Labels": build_labels(opts["label"], opts["label_file"]),
        "Volumes": {v: {} for v in opts["volume"] if ":" not in v} or None,
        "HostConfig": _host_config(opts),
        "NetworkingConfig": {"EndpointsConfig": {}},
    }
    if opts["stop_signal"]:
        body["StopSignal"] = opts["stop_signal"]
    if opts["stop_timeout"] is not None:
        body["StopTimeout"] = opts["stop_timeout"]
    if opts["mac_address"]:
        body["MacAddress"] = opts["mac_address"]
    healthcheck = healthcheck_body(opts)
    if healthcheck is not None:
        body["Healthcheck"] = healthcheck
    apply_network_opts(body, opts)
    return body

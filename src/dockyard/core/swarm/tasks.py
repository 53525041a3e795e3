"""A task as a container: the create request made from its ContainerSpec, and its files.

swarmkit's container executor does this on each node (``daemon/cluster/executor/container``):
``Command`` becomes the entrypoint and ``Args`` the command, resources become limits, the task's
identity becomes labels, and templates such as ``{{.Service.Name}}`` and ``{{.Task.Slot}}`` are
expanded in the hostname, the environment and mounts. Secrets and configs become read-only files
bind-mounted from a per-task directory on a tmpfs (never a layer of the container).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path
from typing import Any

from dockyard.core.containers.model import ContainerConfig, CreateRequest, HostOptions
from dockyard.core.swarm.model import Service, Task
from dockyard.errors import InvalidArgument

_TEMPLATE = re.compile(r"\{\{\s*\.(Service|Task|Node)\.(\w+)\s*\}\}")
SECRETS_DIR = "/run/secrets"


def expand(text: str, values: dict[str, str]) -> str:
    """swarmkit's template expansion for the fields it supports (Go templates, simple form)."""
    def one(match: re.Match[str]) -> str:
        key = f"{match.group(1)}.{match.group(2)}"
        if key not in values:
            raise InvalidArgument(f"template: expanding: unknown field {key}")
        return values[key]
    return _TEMPLATE.sub(one, text)


def template_values(task: Task, service: Service, node_hostname: str) -> dict[str, str]:
    return {"Service.ID": service.id, "Service.Name": service.name,
            "Task.ID": task.id, "Task.Name": task.name, "Task.Slot": task.slot_name,
            "Node.ID": task.node_id, "Node.Hostname": node_hostname, "Node.Platform": "linux"}


def task_labels(task: Task, service: Service) -> dict[str, str]:
    """The labels dockerd's executor puts on a task's container."""
    return {"com.docker.swarm.node.id": task.node_id, "com.docker.swarm.service.id": service.id,
            "com.docker.swarm.service.name": service.name, "com.docker.swarm.task": "",
            "com.docker.swarm.task.id": task.id, "com.docker.swarm.task.name": task.name}


def create_request(task: Task, service: Service, *, node_hostname: str,
                   files: list[dict[str, Any]], networks: list[tuple[str, list[str]]],
                   host_ports: dict[str, list[dict[str, str]]] | None = None) -> CreateRequest:
    spec: dict[str, Any] = task.spec.get("ContainerSpec") or {}
    values = template_values(task, service, node_hostname)
    labels = {**{str(k): str(v) for k, v in (spec.get("Labels") or {}).items()}, **task_labels(task, service)}
    grace = spec.get("StopGracePeriod")
    config = ContainerConfig(
        image=str(spec.get("Image") or ""),
        cmd=list(spec["Args"]) if spec.get("Args") else None,
        entrypoint=list(spec["Command"]) if spec.get("Command") else None,
        env=[expand(str(e), values) for e in spec.get("Env") or []],
        working_dir=str(spec.get("Dir") or ""),
        user=str(spec.get("User") or ""),
        labels=labels,
        hostname=expand(str(spec.get("Hostname") or ""), values),
        tty=bool(spec.get("TTY")), open_stdin=bool(spec.get("OpenStdin")),
        stop_signal=str(spec["StopSignal"]) if spec.get("StopSignal") else None,
        stop_timeout=int(grace) // 1_000_000_000 if grace is not None else 10,
        extra={"Healthcheck": spec["Healthcheck"]} if spec.get("Healthcheck") else {},
    )
    host = _host_config(task, spec, values, files)
    endpoints = {name: {"Aliases": aliases} for name, aliases in networks}
    network_mode = networks[0][0] if networks else "bridge"
    host["NetworkMode"] = network_mode
    if host_ports:  # PublishMode host: the task's own port on the host
        host["PortBindings"] = host_ports
        config.exposed_ports = {key: {} for key in host_ports}
    return CreateRequest(
        image=config.image, name=task.name, config=config,
        host=HostOptions(network_mode=network_mode, init=bool(spec.get("Init")),
                         readonly_rootfs=bool(spec.get("ReadOnly")),
                         cap_add=list(spec.get("CapabilityAdd") or []),
                         cap_drop=list(spec.get("CapabilityDrop") or []), raw=host),
        entrypoint_given=bool(spec.get("Command")),
        networking={"EndpointsConfig": endpoints} if endpoints else {})


def _host_config(task: Task, spec: dict[str, Any], values: dict[str, str],
                 files: list[dict[str, Any]]) -> dict[str, Any]:
    resources = task.spec.get("Resources") or {}
    limits = resources.get("Limits") or {}
    reservations = resources.get("Reservations") or {}
    mounts = []
    for mount in spec.get("Mounts") or []:
        mount = dict(mount)
        for key in ("Source", "Target"):
            if mount.get(key):
                mount[key] = expand(str(mount[key]), values)
        mounts.append(mount)
    mounts += files
    host: dict[str, Any] = {
        "Mounts": mounts,
        "NanoCpus": int(limits.get("NanoCPUs") or 0),
        "Memory": int(limits.get("MemoryBytes") or 0),
        "MemoryReservation": int(reservations.get("MemoryBytes") or 0),
        "PidsLimit": int(limits["Pids"]) if limits.get("Pids") else None,
        "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},  # the orchestrator restarts tasks
        "ReadonlyRootfs": bool(spec.get("ReadOnly")),
        "Init": spec.get("Init"),
        "CapAdd": spec.get("CapabilityAdd"), "CapDrop": spec.get("CapabilityDrop"),
        "Sysctls": spec.get("Sysctls") or {},
        "Ulimits": spec.get("Ulimits") or None,
        "ExtraHosts": [_host_entry(h) for h in spec.get("Hosts") or []] or None,
        "GroupAdd": spec.get("Groups") or None,
    }
    dns = spec.get("DNSConfig") or {}
    if dns:
        host.update({"Dns": dns.get("Nameservers") or [], "DnsSearch": dns.get("Search") or [],
                     "DnsOptions": dns.get("Options") or []})
    return host


def _host_entry(entry: str) -> str:
    """ContainerSpec.Hosts is ``IP host…`` (hosts-file order); HostConfig wants ``host:IP``."""
    parts = entry.split()
    return f"{parts[1]}:{parts[0]}" if len(parts) >= 2 else entry


class TaskFiles:
    """``<exec-root>/swarm/tasks/<task id>/``: a task's secrets and configs as files."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def write(self, task: Task, items: list[tuple[str, dict[str, Any], bytes]]) -> list[dict[str, Any]]:
        """Write each (kind, reference, data) and return the bind mounts that expose them."""
        directory = self.root / task.id
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
        mounts = []
        for index, (kind, reference, data) in enumerate(items):
            file = reference.get("File") or {}
            name = str(file.get("Name") or reference.get(f"{kind.capitalize()}Name") or "")
            if kind == "secret":
                target = name if name.startswith("/") else f"{SECRETS_DIR}/{name}"
            else:
                target = name if name.startswith("/") else f"/{name}"
            # One file per reference, not per secret: a service may mount one secret twice
            # with different owners and modes, and each target keeps its own.
            path = directory / f"{kind}-{index}-{reference.get(f'{kind.capitalize()}ID')}"
            mode = file.get("Mode")
            _write_private(path, data, int(mode) if mode is not None else 0o444,
                           (int(file.get("UID") or 0), int(file.get("GID") or 0)))
            mounts.append({"Type": "bind", "Source": str(path), "Target": target, "ReadOnly": True})
        return mounts

    def remove(self, task_id: str) -> None:
        shutil.rmtree(self.root / task_id, ignore_errors=True)


def _write_private(path: Path, data: bytes, mode: int, owner: tuple[int, int]) -> None:
    """A fresh file (never through a link, never one that was there), owner and mode set on
    the descriptor before the bytes go in, so no other name ever sees the secret."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        os.fchown(fd, *owner)
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)

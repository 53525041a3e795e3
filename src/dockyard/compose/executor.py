"""Carrying a project out over the Engine API: networks, volumes, images, then containers in
``depends_on`` order (waiting for ``service_healthy`` and ``service_completed_successfully``),
and taking it down again. A project's state is only what the engine's labels say.
"""

from __future__ import annotations

import io
import json
import logging
import tarfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from dockyard.cli.build import _chunks, _context_tar
from dockyard.cli.client import Client, DaemonError, iter_json_stream
from dockyard.compose.build import build_params
from dockyard.compose.create import service_networks
from dockyard.compose.loader import Project
from dockyard.compose.spec import (
    NETWORK,
    NUMBER,
    ONEOFF,
    PROJECT,
    SERVICE,
    VOLUME,
    image_of,
    network_name,
    volume_name,
)
from dockyard.compose.yamlfile import ComposeError

log = logging.getLogger(__name__)
WAIT_DEADLINE = 300.0


@dataclass(slots=True)
class UpOptions:
    services: Sequence[str] = ()
    build: bool = False
    no_deps: bool = False
    force_recreate: bool = False
    no_recreate: bool = False
    remove_orphans: bool = False
    wait: bool = False
    scale: dict[str, int] = field(default_factory=dict)
    timeout: int | None = None
    renew_anon_volumes: bool = False  # recreated containers get new anonymous volumes (up -V)


def order(project: Project, names: Sequence[str] = (), *, deps: bool = True) -> list[str]:
    """Services in dependency order (dependencies first); ``names`` and what they need."""
    chosen = list(names) or list(project.services)
    for name in chosen:
        if name not in project.services:
            raise ComposeError(f"no such service: {name}")
    out: list[str] = []

    def visit(name: str) -> None:
        if name in out or name not in project.services:
            return
        if deps:
            for dep in project.services[name].get("depends_on") or {}:
                visit(dep)
        out.append(name)

    for name in chosen:
        visit(name)
    return out


def project_filter(project: str, *labels: str) -> dict[str, str]:
    return {"filters": json.dumps({"label": [f"{PROJECT}={project}", *labels]})}


class Executor:
    """One project against one engine; ``say`` receives Compose's progress lines."""

    def __init__(self, client: Client, project: Project, say: Callable[[str], None] = log.info) -> None:
        self.client = client
        self.project = project
        self.say = say

    # ---- what the engine has ----
    def containers(self, services: Sequence[str] = (), *, all_: bool = True,
                   oneoff: bool | None = False) -> list[dict[str, Any]]:
        params = project_filter(self.project.name)
        params["all"] = "1" if all_ else "0"
        found: list[dict[str, Any]] = self.client.get_json("/containers/json", params)
        if oneoff is not None:
            found = [c for c in found if (c["Labels"].get(ONEOFF) == "True") == oneoff]
        if services:
            found = [c for c in found if c["Labels"].get(SERVICE) in services]
        return sorted(found, key=lambda c: (c["Labels"].get(SERVICE, ""),
                                            int(c["Labels"].get(NUMBER, 0) or 0)))

    def peers(self, service: str) -> list[tuple[str, str]]:
        """(ID, name) of ``service``'s containers, first one first: what another service's
        ``service:x`` reference resolves to (references.ContainersOf)."""
        return [(str(c["Id"]), str(c["Names"][0]).lstrip("/")) for c in self.containers([service])]

    # ---- up ----
    def ensure_networks(self, names: Sequence[str]) -> None:
        wanted = {key for n in names for key in service_networks(self.project, self.project.services[n])}
        for key in sorted(wanted):
            cfg = self.project.networks.get(key) or {}
            name = network_name(self.project, key)
            if self.exists(f"/networks/{name}"):
                continue
            if cfg.get("external"):
                raise ComposeError(f"network {name} declared as external, but could not be found")
            ipam = cfg.get("ipam") or {}
            body = {"Name": name, "Driver": cfg.get("driver") or "bridge",
                    "Options": cfg.get("driver_opts") or {},
                    "Internal": bool(cfg.get("internal")), "Attachable": bool(cfg.get("attachable")),
                    "EnableIPv6": bool(cfg.get("enable_ipv6")), "CheckDuplicate": True,
                    "Labels": {**(cfg.get("labels") or {}), PROJECT: self.project.name, NETWORK: key},
                    "IPAM": {"Driver": ipam.get("driver") or "default",
                             "Config": [{k2: v for k, v in c.items() for k2 in [
                                 {"subnet": "Subnet", "gateway": "Gateway", "ip_range": "IPRange"}.get(k, k)]}
                                        for c in ipam.get("config") or []]}}
            self.say(f" Network {name}  Creating")
            self.client.post_json("/networks/create", body=body)
            self.say(f" Network {name}  Created")

    def ensure_volumes(self) -> None:
        for key, cfg in self.project.volumes.items():
            name = volume_name(self.project, key)
            if self.exists(f"/volumes/{name}"):
                continue
            if cfg.get("external"):
                raise ComposeError(f"external volume \"{name}\" not found")
            self.say(f" Volume {name}  Creating")
            self.client.post_json("/volumes/create", body={
                "Name": name, "Driver": cfg.get("driver") or "local",
                "DriverOpts": cfg.get("driver_opts") or {},
                "Labels": {**(cfg.get("labels") or {}), PROJECT: self.project.name, VOLUME: key}})
            self.say(f" Volume {name}  Created")

    def build(self, names: Sequence[str], *, force: bool) -> None:
        for name in names:
            service = self.project.services[name]
            build = service.get("build")
            if not build:
                continue
            image = image_of(self.project, name, service)
            if not force and self._has_image(image):
                continue
            self._build_one(name, image, build)

    def _has_image(self, image: str) -> bool:
        return self.exists(f"/images/{image}/json")

    def image_id(self, image: str) -> str:
        """The local image's ID (``""`` when the engine has none by that name)."""
        try:
            return str(self.client.get_json(f"/images/{image}/json")["Id"])
        except DaemonError as exc:
            if exc.http_status == 404:
                return ""
            raise

    def exists(self, path: str) -> bool:
        """Whether the engine has the network, volume or image that ``GET path`` inspects."""
        try:
            self.client.get_json(path)
            return True
        except DaemonError as exc:
            if exc.http_status == 404:
                return False
            raise

    def delete(self, kind: str, name: str, *, tolerate: tuple[int, ...] = (404,)) -> None:
        """``DELETE /<kind>s/<name>`` with Compose's progress lines; gone already is fine."""
        self.say(f" {kind.capitalize()} {name}  Removing")
        try:
            self.client.request("DELETE", f"/{kind}s/{name}")
        except DaemonError as exc:
            if exc.http_status not in tolerate:
                raise
            return
        self.say(f" {kind.capitalize()} {name}  Removed")

    def _build_one(self, name: str, image: str, build: dict[str, Any]) -> None:
        context = (self.project.working_dir / str(build.get("context") or ".")).resolve()
        inline = build.get("dockerfile_inline")
        dockerfile = None if inline else str(context / str(build.get("dockerfile") or "Dockerfile"))
        params = build_params(self.project, name, image, build)
        self.say(f" Service {name}  Building")
        handle, dockerfile_name = _context_tar(context, dockerfile)
        if inline:
            handle, dockerfile_name = _with_inline(handle, str(inline))
        params.append(("dockerfile", dockerfile_name))
        with handle, self.client.stream("POST", "/build", params=params, content=_chunks(handle),
                                        headers={"Content-Type": "application/x-tar"}) as response:
            for message in iter_json_stream(response):
                if message.get("error") or message.get("errorDetail"):
                    raise ComposeError(f"failed to solve: {message.get('error')}")
        self.say(f" Service {name}  Built")

    def pull_missing(self, names: Sequence[str]) -> None:
        for name in names:
            service = self.project.services[name]
            image = image_of(self.project, name, service)
            if service.get("build") or self._has_image(image):
                continue
            self.pull(name)

    def pull(self, name: str) -> None:
        image = image_of(self.project, name, self.project.services[name])
        repo, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "latest")
        self.say(f" {name} Pulling")
        with self.client.stream("POST", "/images/create", params={"fromImage": repo, "tag": tag}) as response:
            for message in iter_json_stream(response):
                if message.get("error"):
                    raise ComposeError(str(message["error"]))
        self.say(f" {name} Pulled")


def _with_inline(handle: Any, text: str) -> tuple[Any, str]:
    """The context tar with a ``dockerfile_inline`` added under a name of its own."""
    name = ".dockerfile.inline"
    out = io.BytesIO()
    handle.seek(0)
    with tarfile.open(fileobj=handle, mode="r") as src, tarfile.open(fileobj=out, mode="w") as dst:
        for member in src.getmembers():
            dst.addfile(member, src.extractfile(member) if member.isfile() else None)
        data = text.encode()
        info = tarfile.TarInfo(name)
        info.size = len(data)
        dst.addfile(info, io.BytesIO(data))
    handle.close()
    out.seek(0)
    return out, name


def wait_for(client: Client, project: Project, name: str, condition: str, *, deadline: float) -> None:
    """Block until service ``name`` meets ``condition`` (healthy, exited 0, or started)."""
    while True:
        params = project_filter(project.name, f"{SERVICE}={name}")
        params["all"] = "1"
        found = [c for c in client.get_json("/containers/json", params)
                 if c["Labels"].get(ONEOFF) != "True"]
        states = [client.get_json(f"/containers/{c['Id']}/json")["State"] for c in found]
        if condition == "service_healthy":
            if any((s.get("Health") or {}).get("Status") == "unhealthy" for s in states):
                raise ComposeError(f"dependency failed to start: container {project.name}-{name}-1 "
                                   "is unhealthy")
            if states and all((s.get("Health") or {}).get("Status") == "healthy" for s in states):
                return
            if states and any(s.get("Health") is None for s in states):
                raise ComposeError(f"container for service {name!r} has no healthcheck configured")
        elif condition == "service_completed_successfully":
            if states and all(s["Status"] == "exited" for s in states):
                bad = [s for s in states if s.get("ExitCode")]
                if bad:
                    raise ComposeError(f"service {name!r} didn't complete successfully: "
                                       f"exit {bad[0]['ExitCode']}")
                return
        elif states and all(s["Status"] in ("running", "exited") for s in states):
            return
        if time.monotonic() > deadline:
            raise ComposeError(f"timeout waiting for service {name!r} ({condition})")
        time.sleep(0.2)

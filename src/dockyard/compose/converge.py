"""The planner and its execution: for each service, in dependency order, which containers to keep,
create, recreate (the config hash changed) or remove (scaled down), then start them."""

from __future__ import annotations

import io
import tarfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import PurePosixPath
from typing import Any

from dockyard.cli.client import DaemonError
from dockyard.compose import references
from dockyard.compose.confighash import config_hash
from dockyard.compose.create import create_body, service_networks
from dockyard.compose.dependents import stop_dependents
from dockyard.compose.executor import WAIT_DEADLINE, Executor, UpOptions, order, wait_for
from dockyard.compose.loader import Project
from dockyard.compose.spec import (
    HASH,
    IMAGE,
    NUMBER,
    SERVICE,
    container_name,
    image_of,
    network_name,
    volume_name,
)
from dockyard.compose.yamlfile import ComposeError


def replicas(service: dict[str, Any], options: UpOptions, name: str) -> int:
    if name in options.scale:
        return options.scale[name]
    deploy = service.get("deploy") or {}
    return int(service.get("scale") or deploy.get("replicas") or 1)


def plan(ex: Executor, name: str, options: UpOptions) -> list[tuple[str, int, dict[str, Any] | None]]:
    """(action, number, existing) for service ``name``: keep, create, recreate or remove."""
    service = ex.project.services[name]
    wanted = replicas(service, options, name)
    current = {int(c["Labels"].get(NUMBER, 0) or 0): c for c in ex.containers([name])}
    actions: list[tuple[str, int, dict[str, Any] | None]] = []
    for number, container in sorted(current.items()):
        if number > wanted:
            actions.append(("remove", number, container))
        elif options.no_recreate:
            actions.append(("keep", number, container))
        elif options.force_recreate or diverged(ex, name, container):
            actions.append(("recreate", number, container))
        else:
            actions.append(("keep", number, container))
    for number in range(1, wanted + 1):
        if number not in current:
            actions.append(("create", number, None))
    return actions


def diverged(ex: Executor, name: str, container: dict[str, Any]) -> bool:
    """Compose v2's ``mustRecreate``: the config hash or the image changed, or a running container
    is missing from one of the service's networks."""
    service = ex.project.services[name]
    labels = container["Labels"]
    if labels.get(HASH) != config_hash(ex.project, references.resolved(name, service, ex.peers)):
        return True
    if labels.get(IMAGE) != ex.image_id(image_of(ex.project, name, service)):
        return True
    attached = set((container.get("NetworkSettings") or {}).get("Networks") or {})
    wanted = {network_name(ex.project, key) for key in service_networks(ex.project, service)}
    return container["State"] == "running" and not wanted <= attached


def _stop_timeout(options: UpOptions) -> dict[str, str]:
    return {"t": str(options.timeout)} if options.timeout is not None else {}


def create_container(ex: Executor, name: str, number: int, *, oneoff: bool = False,
                     command: list[str] | None = None, publish: bool = True, auto_remove: bool = False,
                     run_name: str = "", replaces: dict[str, Any] | None = None) -> str:
    """Create container ``number`` of ``name``; one that ``replaces`` another keeps its anonymous
    volumes, as Compose v2 does (a recreate must not lose their data)."""
    service = {**ex.project.services[name], "_name": name}
    body = create_body(ex.project, name, service, number, oneoff=oneoff, command=command, publish=publish,
                       image_id=ex.image_id(image_of(ex.project, name, service)), peers=ex.peers)
    body["HostConfig"]["AutoRemove"] = auto_remove
    if replaces is not None:
        inherit_anonymous_volumes(ex, body, replaces)
    cname = run_name or str(ex.project.services[name].get("container_name")
                            or container_name(ex.project.name, name, number))
    ex.say(f" Container {cname}  Creating")
    params = {"name": cname}
    if ex.project.services[name].get("platform"):
        params["platform"] = str(ex.project.services[name]["platform"])
    created = ex.client.post_json("/containers/create", params=params, body=body)
    cid = str(created["Id"])
    add_secrets(ex, name, cid)
    ex.say(f" Container {cname}  Created")
    return cid


def inherit_anonymous_volumes(ex: Executor, body: dict[str, Any], old: dict[str, Any]) -> None:
    """Mount the anonymous volumes of ``old`` — at the service's anonymous volume paths and its
    image's ``VOLUME``s, not ones it had through ``volumes_from`` — at the same paths again."""
    mounts = body["HostConfig"].setdefault("Mounts", [])
    image = ex.client.get_json(f"/images/{body['Image']}/json")
    own = {m["Target"] for m in mounts if m["Type"] == "volume" and not m.get("Source")}
    own |= set((image.get("Config") or {}).get("Volumes") or {}) - {m["Target"] for m in mounts}
    for mount in old.get("Mounts") or []:
        name, target = str(mount.get("Name") or ""), str(mount.get("Destination") or "")
        if mount.get("Type") != "volume" or not name or target not in own:
            continue
        mounts[:] = [m for m in mounts if m["Target"] != target]
        mounts.append({"Type": "volume", "Source": name, "Target": target,
                       "ReadOnly": not mount.get("RW", True)})


def add_secrets(ex: Executor, name: str, cid: str) -> None:
    """Secrets at /run/secrets/<target> and configs at /<target>, copied in as files before start."""
    service = ex.project.services[name]
    files: list[tuple[str, bytes]] = []
    for kind, base in (("secrets", "/run/secrets/"), ("configs", "/")):
        for item in service.get(kind) or []:
            spec = {"source": item} if isinstance(item, str) else item
            source = str(spec["source"])
            top = getattr(ex.project, kind).get(source)
            if top is None:
                raise ComposeError(f"service {name!r} refers to undefined {kind[:-1]} {source}: "
                                   "invalid compose project")
            target = str(spec.get("target") or source)
            target = target if target.startswith("/") else base + target
            if top.get("file"):
                data = (ex.project.working_dir / str(top["file"])).read_bytes()
            elif top.get("environment"):
                data = ex.project.environment.get(str(top["environment"]), "").encode()
            else:
                data = str(top.get("content", "")).encode()
            files.append((target, data))
    if not files:
        return
    ex.client.request("PUT", f"/containers/{cid}/archive", params={"path": "/"}, content=files_tar(files),
                      headers={"Content-Type": "application/x-tar"})


def files_tar(files: list[tuple[str, bytes]], mode: int = 0o444) -> bytes:
    """A tar to extract at ``/`` that writes each (absolute path, content), its parent directories
    first: an archive's extraction does not make missing directories."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        parents = sorted({str(p) for target, _ in files for p in PurePosixPath(target.lstrip("/")).parents
                          if str(p) != "."})
        for parent in parents:
            info = tarfile.TarInfo(parent)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for target, data in files:
            info = tarfile.TarInfo(target.lstrip("/"))
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def remove_container(ex: Executor, container: dict[str, Any], timeout: dict[str, str]) -> None:
    cname = container["Names"][0].lstrip("/")
    if container["State"] in ("running", "restarting", "paused"):
        ex.say(f" Container {cname}  Stopping")
        ex.client.request("POST", f"/containers/{container['Id']}/stop", params=timeout)
        ex.say(f" Container {cname}  Stopped")
    ex.say(f" Container {cname}  Removing")
    ex.client.request("DELETE", f"/containers/{container['Id']}", params={"force": "1"})
    ex.say(f" Container {cname}  Removed")


def start(ex: Executor, cid: str, cname: str) -> None:
    ex.say(f" Container {cname}  Starting")
    try:
        ex.client.request("POST", f"/containers/{cid}/start")
    except DaemonError as exc:
        if exc.http_status != 304:
            raise ComposeError(f"Error response from daemon: {exc.daemon_message}") from exc
    ex.say(f" Container {cname}  Started")


def up(ex: Executor, options: UpOptions, *, start_containers: bool = True) -> list[str]:
    """Converge the project; returns the IDs of the service containers it now has."""
    names = order(ex.project, options.services, deps=not options.no_deps)
    ex.ensure_networks(names)
    ex.ensure_volumes()
    ex.build(names, force=options.build)
    ex.pull_missing(names)
    if options.remove_orphans:
        for container in ex.containers():
            if container["Labels"].get(SERVICE) not in ex.project.services:
                remove_container(ex, container, _stop_timeout(options))
    deadline = time.monotonic() + WAIT_DEADLINE
    depth = _depth(ex.project)
    levels: dict[int, list[str]] = {}
    for name in names:
        levels.setdefault(depth.get(name, 0), []).append(name)

    def converge_one(name: str) -> list[str]:
        # One connection per worker: services of one dependency level converge in parallel.
        worker = Executor(ex.client.clone(), ex.project, ex.say)
        try:
            return _converge(worker, name, names, options, deadline, start_containers)
        finally:
            worker.client.close()

    ids: list[str] = []
    with ThreadPoolExecutor(max_workers=8) as pool:
        for level in sorted(levels):
            for created in pool.map(converge_one, levels[level]):
                ids += created
    ids += refresh_stale_references(ex, names, options, start_containers)
    if options.wait:
        for name in names:
            condition = "service_healthy" if ex.project.services[name].get("healthcheck") and not (
                ex.project.services[name]["healthcheck"].get("disable")) else "service_started"
            wait_for(ex.client, ex.project, name, condition, deadline=deadline)
    return ids


def refresh_stale_references(ex: Executor, names: list[str], options: UpOptions,
                             start_containers: bool) -> list[str]:
    """Recreate the containers of services outside this ``up`` that share a namespace or the
    volumes of a container it replaced (``up -d --force-recreate web`` with a ``network_mode:
    service:web`` sidecar). Compose v2 leaves such a sidecar in the old container's namespace,
    cut off from the network, until a later ``up`` of the whole project; here it follows at once.
    A recreated container starts again only if it was running."""
    touched, ids = set(names), []
    for other in order(ex.project):
        service = ex.project.services[other]
        if other in touched or not any(ref in touched for ref, _ in references.named_services(service)):
            continue
        for container in ex.containers([other]):
            try:
                wanted = references.host_config(other, service, ex.peers)
            except ComposeError:
                continue  # the other service has no container now (scaled to 0): nothing to follow
            host = ex.client.get_json(f"/containers/{container['Id']}/json")["HostConfig"]
            if not references.stale(host, wanted):
                continue
            touched.add(other)
            number = int(container["Labels"].get(NUMBER, 0) or 0)
            remove_container(ex, container, _stop_timeout(options))
            cid = create_container(ex, other, number, replaces=container)
            ids.append(cid)
            if start_containers and container["State"] in ("running", "restarting"):
                start(ex, cid, str(service.get("container_name")
                                   or container_name(ex.project.name, other, number)))
    return ids


def _converge(ex: Executor, name: str, names: list[str], options: UpOptions, deadline: float,
              start_containers: bool) -> list[str]:
    """One service: wait for its dependencies' conditions, then carry out its plan."""
    for dep, cfg in (ex.project.services[name].get("depends_on") or {}).items():
        if dep in names and start_containers:
            wait_for(ex.client, ex.project, dep, str(cfg.get("condition") or "service_started"),
                     deadline=deadline)
    ids = []
    stopped_dependents = False
    for action, number, existing in plan(ex, name, options):
        if action == "remove" and existing is not None:
            remove_container(ex, existing, _stop_timeout(options))
            continue
        if action == "recreate" and existing is not None:
            if not stopped_dependents:
                stop_dependents(ex, name, names, _stop_timeout(options))
                stopped_dependents = True
            remove_container(ex, existing, _stop_timeout(options))
        inherit = action == "recreate" and not options.renew_anon_volumes
        cid = existing["Id"] if action == "keep" and existing else create_container(
            ex, name, number, replaces=existing if inherit else None)
        ids.append(cid)
        cname = str(ex.project.services[name].get("container_name")
                    or container_name(ex.project.name, name, number))
        if action == "keep" and existing is not None and existing["State"] == "running":
            ex.say(f" Container {cname}  Running")
        elif start_containers:
            start(ex, cid, cname)
    return ids


def _depth(project: Project) -> dict[str, int]:
    """Each service's dependency level: 0 without dependencies, else 1 + its deepest one's."""
    depth: dict[str, int] = {}

    def of(name: str) -> int:
        if name not in depth:
            wanted = project.services.get(name, {}).get("depends_on") or {}
            deps = [d for d in wanted if d in project.services]
            depth[name] = 1 + max((of(d) for d in deps), default=-1)
        return depth[name]

    for name in project.services:
        of(name)
    return depth


def remove_in_order(ex: Executor, containers: list[dict[str, Any]], timeout: dict[str, str], *,
                    volumes: bool = False) -> None:
    """Stop dependants before what they depend on (one dependency level at a time, each level in
    parallel, as Compose v2), then remove them all in parallel (with their anonymous volumes when
    ``volumes``, as ``down -v``)."""
    depth = _depth(ex.project)
    levels: dict[int, list[dict[str, Any]]] = {}
    for container in containers:
        levels.setdefault(depth.get(container["Labels"].get(SERVICE, ""), 0), []).append(container)

    def stop(container: dict[str, Any]) -> None:
        if container["State"] in ("running", "restarting", "paused"):
            cname = container["Names"][0].lstrip("/")
            ex.say(f" Container {cname}  Stopping")
            ex.client.clone().request("POST", f"/containers/{container['Id']}/stop", params=timeout)
            ex.say(f" Container {cname}  Stopped")

    def remove(container: dict[str, Any]) -> None:
        cname = container["Names"][0].lstrip("/")
        ex.say(f" Container {cname}  Removing")
        try:
            ex.client.clone().request("DELETE", f"/containers/{container['Id']}",
                                      params={"force": "1", "v": "1" if volumes else "0"})
        except DaemonError as exc:
            if exc.http_status != 404:  # an AutoRemove one-off may have gone by itself
                raise
        ex.say(f" Container {cname}  Removed")

    with ThreadPoolExecutor(max_workers=8) as pool:
        for level in sorted(levels, reverse=True):
            list(pool.map(stop, levels[level]))
        list(pool.map(remove, containers))


def down(ex: Executor, *, volumes: bool = False, rmi: str = "", remove_orphans: bool = False,
         timeout: int | None = None) -> None:
    t = {"t": str(timeout)} if timeout is not None else {}
    known = set(ex.project.services) | set(ex.project.disabled)
    doomed = [c for c in ex.containers(oneoff=None) if c["Labels"].get(SERVICE) in known or remove_orphans]
    remove_in_order(ex, doomed, t, volumes=volumes)
    for key, cfg in ex.project.networks.items():
        if not cfg.get("external"):
            ex.delete("network", network_name(ex.project, key))
    for key, cfg in ex.project.volumes.items() if volumes else ():
        if not cfg.get("external"):
            ex.delete("volume", volume_name(ex.project, key))
    for name, service in ex.project.services.items() if rmi else ():
        if rmi == "all" or not service.get("image"):
            ex.delete("image", image_of(ex.project, name, service), tolerate=(404, 409))

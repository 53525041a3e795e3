"""``depends_on: {svc: {restart: true}}``: what happens to a service's dependents when compose
restarts or recreates it, as Compose v2 does.

- ``up`` recreating a service first stops its running dependents that ask for ``restart: true``
  (among the services this ``up`` converges); they start again when their own turn comes, after
  the new container meets their condition (Compose v2's ``stopDependentContainers``).
- ``restart svc`` restarts ``svc`` and, transitively, every service that depends on it with
  ``restart: true``, one dependency level after the other, each waiting for the conditions of
  those dependencies first (Compose v2's ``restart``: other ``depends_on`` edges are ignored).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from dockyard.cli.client import DaemonError
from dockyard.compose.executor import WAIT_DEADLINE, Executor, order, wait_for
from dockyard.compose.loader import Project


def restart_edges(project: Project) -> dict[str, dict[str, dict[str, Any]]]:
    """Each service's ``depends_on`` entries that carry ``restart: true``."""
    return {name: {dep: cfg for dep, cfg in (service.get("depends_on") or {}).items()
                   if (cfg or {}).get("restart") and dep in project.services}
            for name, service in project.services.items()}


def dependents(project: Project, name: str, among: Iterable[str] | None = None) -> list[str]:
    """The services that depend on ``name`` with ``restart: true`` (direct ones), in file order."""
    allowed = set(project.services if among is None else among)
    edges = restart_edges(project)
    return [other for other in project.services if other in allowed and name in edges[other]]


def stop_dependents(ex: Executor, name: str, among: Sequence[str], timeout: dict[str, str]) -> None:
    """Before ``name`` is recreated: stop its ``restart: true`` dependents that are running."""
    names = dependents(ex.project, name, among)
    if not names:
        return  # ex.containers([]) would list every service's containers
    for container in ex.containers(names, all_=False):
        cname = container["Names"][0].lstrip("/")
        ex.say(f" Container {cname}  Stopping")
        ex.client.request("POST", f"/containers/{container['Id']}/stop", params=timeout)
        ex.say(f" Container {cname}  Stopped")


def _with_dependents(project: Project, names: Sequence[str]) -> list[str]:
    chosen = list(names)
    for name in chosen:  # grows while it is walked: the transitive closure
        chosen += [d for d in dependents(project, name) if d not in chosen]
    return chosen


def restart(ex: Executor, services: Sequence[str], timeout: int | None, *, no_deps: bool = False) -> None:
    """``compose restart``: ``services`` (all when empty) and, unless ``no_deps``, their
    ``restart: true`` dependents."""
    edges = restart_edges(ex.project)
    order(ex.project, services)  # an unknown service is refused by name
    chosen = list(services) if no_deps and services else (
        _with_dependents(ex.project, services) if services else list(ex.project.services))
    # Levels over the restart edges only (the other edges are not affected by a restart).
    levels: dict[int, list[str]] = {}
    depth: dict[str, int] = {}
    for name in (n for n in order(ex.project, chosen) if n in chosen):
        depth[name] = 1 + max((depth[d] for d in edges[name] if d in chosen), default=-1)
    for name in chosen:
        levels.setdefault(depth[name], []).append(name)
    params = {"t": str(timeout)} if timeout is not None else {}
    deadline = time.monotonic() + WAIT_DEADLINE

    def one(container: dict[str, Any]) -> None:
        cname = container["Names"][0].lstrip("/")
        ex.say(f" Container {cname}  Restarting")
        try:
            ex.client.clone().request("POST", f"/containers/{container['Id']}/restart", params=params)
        except DaemonError as exc:
            if exc.http_status != 304:
                raise
        ex.say(f" Container {cname}  Started")

    with ThreadPoolExecutor(max_workers=8) as pool:
        for level in sorted(levels):
            for name in levels[level]:
                for dep, cfg in edges[name].items():
                    if dep in chosen:
                        wait_for(ex.client, ex.project, dep, str(cfg.get("condition") or "service_started"),
                                 deadline=deadline)
            list(pool.map(one, ex.containers(levels[level])))

"""``docker service`` and ``docker service ps``: services (desired state) and their tasks.

Creating or updating a service only records desired state and wakes the orchestrator; the
orchestrator and the updater make the containers match. Updates name the version they were read
at: an older one is out of sequence (swarmkit's optimistic concurrency), and nothing changes.
"""

from __future__ import annotations

import builtins
import copy
import logging
from typing import Any

from dockyard.core.labels import labels_match
from dockyard.core.swarm import specs
from dockyard.core.swarm.blobs import BlobService
from dockyard.core.swarm.model import Service, Task, TaskState
from dockyard.core.swarm.orchestrator import RUNNING, Orchestrator
from dockyard.core.swarm.state import SwarmState, find, new_object_id
from dockyard.core.swarm.updater import Updaters, start_status
from dockyard.errors import InvalidArgument, NotFound

log = logging.getLogger(__name__)

Filters = dict[str, list[str]]
_SERVICE_FILTERS = ("id", "label", "mode", "name")
# The CLI's convergence progress asks for "_up-to-date": tasks made from the current spec.
_TASK_FILTERS = ("id", "name", "label", "service", "node", "desired-state", "up-to-date", "_up-to-date",
                 "runtime")


class ServiceVerbs:
    def __init__(self, *, state: SwarmState, orchestrator: Orchestrator, updaters: Updaters,
                 blobs: BlobService) -> None:
        self.state = state
        self._orchestrator = orchestrator
        self._updaters = updaters
        self._blobs = blobs

    # ---- services ----
    def create(self, spec: dict[str, Any]) -> Service:
        self.state.manager()
        specs.validate_service(spec)
        name = str(spec["Name"])
        if any(s.name == name for s in self.state.services.values()):
            raise specs.already_exists(
                f"name conflicts with an existing object: service {name} already exists")
        self._blobs.check_references(spec["TaskTemplate"])
        service = Service(id=new_object_id(), version=0, created="", updated="", spec=copy.deepcopy(spec))
        if self._orchestrator.networks is not None:
            self._orchestrator.networks.plan(service, None)  # ports, VIPs; refuses conflicts
        self.state.services[service.id] = service
        self.state.stamp(service, created=True)
        self.state.events.publish("service", "create", service.id, {"name": name})
        log.info("created service %s (%s)", name, service.id)
        self.state.wake()
        return service

    def inspect(self, ref: str) -> Service:
        self.state.manager()
        return find(self.state.services.values(), ref, "service", lambda s: s.name)

    def list(self, filters: Filters | None = None) -> builtins.list[Service]:
        self.state.manager()
        filters = filters or {}
        for key in filters:
            if key not in _SERVICE_FILTERS:
                raise InvalidArgument(f"invalid filter '{key}'")
        result = []
        for service in self.state.services.values():
            mode = "global" if service.is_global else "replicated"
            if "id" in filters and not any(service.id.startswith(v) for v in filters["id"]):
                continue
            if "name" in filters and not any(service.name.startswith(v) for v in filters["name"]):
                continue
            if "mode" in filters and mode not in filters["mode"]:
                continue
            if "label" in filters and not labels_match(service.spec.get("Labels") or {}, filters["label"]):
                continue
            result.append(service)
        return sorted(result, key=lambda s: s.created)

    def update(self, ref: str, *, version: int, spec: dict[str, Any], rollback: bool = False) -> Service:
        from dockyard.core.swarm.cluster import out_of_sequence

        service = self.inspect(ref)
        if version != service.version:
            raise out_of_sequence()
        if rollback:
            if service.previous_spec is None:
                raise specs.invalid(f"service {service.id} does not have a previous spec")
            spec = copy.deepcopy(service.previous_spec)
        specs.validate_service(spec)
        if spec.get("Name") != service.name:
            raise specs.invalid("renaming services is not supported")
        self._blobs.check_references(spec["TaskTemplate"])
        if self._orchestrator.networks is not None:
            self._orchestrator.networks.plan(service, spec)
        changed = specs.template_changed(service.spec, spec)
        service.previous_spec, service.spec = service.spec, copy.deepcopy(spec)
        if changed:
            service.generation += 1
            message = "manually requested rollback" if rollback else "update in progress"
            start_status(service, rollback=rollback, message=message)
        self.state.stamp(service)
        self.state.events.publish("service", "update", service.id, {"name": service.name})
        if changed:
            self._updaters.start(service)
        self.state.wake()
        return service

    async def remove(self, ref: str) -> None:
        service = self.inspect(ref)
        self.state.services.pop(service.id, None)
        self.state.store.delete(service)
        await self._orchestrator.remove_service(service)
        self.state.events.publish("service", "remove", service.id, {"name": service.name})
        log.info("removed service %s (%s)", service.name, service.id)

    def status(self, service: Service) -> dict[str, int]:
        """ServiceStatus: tasks running, desired and (for jobs) completed."""
        tasks = [t for t in self.state.tasks_of(service.id) if t.desired_state == RUNNING]
        running = sum(t.task_state == TaskState.RUNNING for t in tasks)
        node = self.state.node
        drained = node is not None and node.availability == "drain"
        desired = 0 if drained else (1 if service.is_global else service.replicas)
        return {"RunningTasks": running, "DesiredTasks": desired, "CompletedTasks": 0}

    # ---- tasks ----
    def tasks(self, filters: Filters | None = None) -> builtins.list[Task]:
        self.state.manager()
        filters = filters or {}
        for key in filters:
            if key not in _TASK_FILTERS:
                raise InvalidArgument(f"invalid filter '{key}'")
        services = {s.id: s for s in self.state.services.values()}
        wanted_services = set()
        for ref in filters.get("service", []):
            try:
                wanted_services.add(find(services.values(), ref, "service", lambda s: s.name).id)
            except NotFound:
                continue
        result = []
        for task in self.state.tasks.values():
            if "service" in filters and task.service_id not in wanted_services:
                continue
            if "id" in filters and not any(task.id.startswith(v) for v in filters["id"]):
                continue
            if "name" in filters and not any(f"{task.service_name}.{task.slot_name}".startswith(v)
                                             for v in filters["name"]):
                continue
            if "desired-state" in filters and not _desired_matches(task, filters["desired-state"]):
                continue
            if "node" in filters and task.node_id not in filters["node"] and not any(
                    n in ("self",) for n in filters["node"]):
                continue
            service = services.get(task.service_id)
            # A task answers to its service's labels too (`docker stack ps` filters by them).
            labels = {**((service.spec.get("Labels") or {}) if service else {}), **task.labels}
            if "label" in filters and not labels_match(labels, filters["label"]):
                continue
            if ({"up-to-date", "_up-to-date"} & filters.keys() and service is not None
                    and task.generation < service.generation):
                continue
            result.append(task)
        return sorted(result, key=lambda t: t.created)

    def task(self, ref: str) -> Task:
        self.state.manager()
        return find(self.state.tasks.values(), ref, "task")


def _desired_matches(task: Task, wanted: builtins.list[str]) -> bool:
    for state in wanted:
        if state not in ("running", "shutdown", "accepted", "ready"):
            raise InvalidArgument(f"Invalid task desired state: {state}")
    # Docker's CLI asks for "running" and "accepted" for `service ps` without -a.
    return task.desired_state in wanted or ("accepted" in wanted and task.desired_state == RUNNING
                                            and task.task_state.rank < TaskState.RUNNING.rank)

"""The orchestrator: one reconcile loop from desired state (services) to tasks to containers.

The loop sleeps until something changes — a service or node update, or a container event of a
task (``start``, ``die``, ``destroy``, ``health_status``) — then, in one pass, it reads each task's
container into the task's observed state, and makes each service's slots match its mode: a missing
slot gets a task, a task past its slots or on a drained node is shut down, a finished task is
replaced as its restart policy says (after the policy's delay, through a timer that wakes the
loop). Rolling updates (updater.py) replace outdated tasks while the loop keeps the rest alive.
Tasks are containers made and started through the container service, the one place that runs
containers; nothing here polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from dockyard.core.containers.health import health_status
from dockyard.core.containers.model import State
from dockyard.core.swarm import specs
from dockyard.core.swarm.model import Service, Task, TaskState
from dockyard.core.swarm.placement import NodeFacts, unplaceable
from dockyard.core.swarm.state import SwarmState, new_object_id
from dockyard.core.swarm.tasks import TaskFiles, create_request
from dockyard.core.timestamps import now_rfc3339, parse_ns
from dockyard.errors import DockyardError, NotFound, NotModified

if TYPE_CHECKING:
    from dockyard.core.containers.service import ContainerService
    from dockyard.core.swarm.blobs import BlobService
    from dockyard.core.swarm.networking import ServiceNetworks
    from dockyard.core.swarm.updater import Updaters

log = logging.getLogger(__name__)

RUNNING = TaskState.RUNNING.value
SHUTDOWN = TaskState.SHUTDOWN.value
_PREPARE = ((TaskState.PENDING, "pending task scheduling"),
            (TaskState.ASSIGNED, "scheduler assigned task to node"), (TaskState.PREPARING, "preparing"))
_LAUNCHES = 4  # containers created at once: more only queues on the runtime


class Orchestrator:
    def __init__(self, *, state: SwarmState, containers: ContainerService, files: TaskFiles,
                 facts: NodeFacts) -> None:
        self.state = state
        self.containers = containers
        self.files = files
        self.facts = facts
        self.hostname = facts.hostname
        self.blobs: BlobService | None = None  # set by the composition (secrets and configs)
        self.networks: ServiceNetworks | None = None
        self.updaters: Updaters | None = None
        self._loop: asyncio.Task[None] | None = None
        self._watch: asyncio.Task[None] | None = None
        self._work: set[asyncio.Task[None]] = set()
        self._busy: set[str] = set()  # task IDs with a launch or shutdown in flight
        self._launches: dict[str, asyncio.Task[None]] = {}  # task ID → its launch in flight
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._gate = asyncio.Semaphore(_LAUNCHES)
        # (service ID, slot) pairs a rolling update is replacing: the loop leaves those alone.
        self.claimed: set[tuple[str, int]] = set()

    # ---- lifecycle ----
    async def start(self) -> None:
        if self._loop is not None:
            return
        self._watch = asyncio.get_running_loop().create_task(self._watch_events())
        self._loop = asyncio.get_running_loop().create_task(self._run())
        if self.updaters is not None:
            self.updaters.resume()
        self.state.wake()

    async def stop(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        if self.updaters is not None:
            await self.updaters.stop()
        for job in (self._loop, self._watch, *self._work):
            if job is not None:
                job.cancel()
        for job in (self._loop, self._watch, *self._work):
            if job is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await job
        self._loop = self._watch = None
        self._work.clear()
        self._busy.clear()
        self._launches.clear()

    async def _watch_events(self) -> None:
        # A task's container changing state is the loop's cue (no polling of containers).
        async for event in self.state.events.subscribe(filters={"type": ["container"]}):
            if "com.docker.swarm.task.id" in event.attributes and (
                    event.action in ("start", "die", "destroy", "stop", "kill")
                    or event.action.startswith("health_status")):
                self.state.wake()

    async def _run(self) -> None:
        while True:
            await self.state.changed.wait()
            self.state.changed.clear()
            try:
                await self.reconcile()
            except Exception:  # noqa: BLE001 - one bad pass must not stop the orchestrator
                log.exception("swarm reconcile pass failed")
            await self.state.notify_settled()

    def _spawn(self, job: Any) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(job)
        self._work.add(task)
        task.add_done_callback(self._work.discard)
        return task

    def wake_later(self, key: str, delay: float) -> None:
        if key in self._timers:
            return
        def fire() -> None:
            self._timers.pop(key, None)
            self.state.wake()
        self._timers[key] = asyncio.get_running_loop().call_later(max(delay, 0.0), fire)

    # ---- one pass ----
    async def reconcile(self) -> None:
        if self.state.cluster is None or self.state.locked:
            return
        changed = [t for t in list(self.state.tasks.values()) if await self._observe(t)]
        self.state.save_tasks(changed)
        for service in list(self.state.services.values()):
            self._reconcile_service(service)
        self._prune_history()
        if self.networks is not None:
            await self.networks.sync()

    async def _observe(self, task: Task) -> bool:
        """Read the task's container into its state; True when the task changed."""
        if not task.container_id or task.id in self._busy or task.task_state.terminal:
            return False
        try:
            container = await self.containers.inspect(task.container_id)
        except NotFound:
            return self._set(task, TaskState.FAILED if task.desired_state == RUNNING else TaskState.SHUTDOWN,
                             "No such container", err="No such container: " + task.name)
        if container.state in (State.RUNNING, State.PAUSED):
            task.pid = container.pid
            health = health_status(container)
            if health == "unhealthy" and task.desired_state == RUNNING:
                self._spawn(self._stop(task))
                return self._set(task, TaskState.FAILED, "unhealthy container",
                                 err="task: container unhealthy")
            if health == "starting":
                return self._set(task, TaskState.STARTING, "starting")
            return self._set(task, TaskState.RUNNING, "started")
        if container.state in (State.EXITED, State.DEAD):
            task.exit_code = container.exit_code
            if task.desired_state != RUNNING:
                return self._set(task, TaskState.SHUTDOWN, "shutdown")
            if container.exit_code == 0:
                return self._set(task, TaskState.COMPLETE, "finished")
            return self._set(task, TaskState.FAILED, "started",
                             err=f"task: non-zero exit ({container.exit_code})")
        return False

    def _set(self, task: Task, state: TaskState, message: str, *, err: str = "") -> bool:
        if task.state == state.value and task.message == message:
            return False
        if state.rank < task.task_state.rank and not task.task_state.terminal:
            return False  # states only move forward
        task.state, task.message, task.err = state.value, message, err or task.err
        task.timestamp = now_rfc3339()
        return True

    def _reconcile_service(self, service: Service) -> None:
        node = self.state.node
        assert node is not None
        spec = specs.with_defaults(service.spec)
        tasks = self.state.tasks_of(service.id)
        if node.availability == "drain":
            wanted: list[int] = []
        elif service.is_global:
            wanted = [0]
        else:
            wanted = list(range(1, service.replicas + 1))
        live = [t for t in tasks if t.desired_state == RUNNING]
        for task in live:
            if task.slot not in wanted:
                self.shutdown(task, "shutdown")
        for slot in wanted:
            if (service.id, slot) in self.claimed:
                continue
            current = [t for t in live if t.slot == slot]
            if current:
                task = current[-1]
                if task.task_state in (TaskState.NEW, TaskState.PENDING) and task.id not in self._busy:
                    self.launch(task, service)
                elif task.task_state.terminal:
                    self._maybe_restart(service, spec, task, tasks)
            elif node.availability != "pause":
                history = [t for t in tasks if t.slot == slot]
                if not history or not self._restart_blocked(spec, history[-1], history):
                    self.launch(self.new_task(service, slot), service)

    def _maybe_restart(self, service: Service, spec: dict[str, Any], task: Task, tasks: list[Task]) -> None:
        policy = spec["TaskTemplate"]["RestartPolicy"]
        condition = policy.get("Condition") or "any"
        finished = task.task_state
        if condition == "none" or (condition == "on-failure" and finished == TaskState.COMPLETE):
            return
        history = [t for t in tasks if t.slot == task.slot]
        if self._restart_blocked(spec, task, history):
            return
        task.desired_state = SHUTDOWN
        self.state.save_tasks([task])
        if self.state.node is not None and self.state.node.availability != "pause":
            self.launch(self.new_task(service, task.slot), service)

    def _restart_blocked(self, spec: dict[str, Any], last: Task, history: list[Task]) -> bool:
        """True while the restart policy's delay runs, or when its attempts are used up."""
        if not last.task_state.terminal:
            return False
        policy = spec["TaskTemplate"]["RestartPolicy"]
        attempts = int(policy.get("MaxAttempts") or 0)
        window = int(policy.get("Window") or 0) / 1e9
        if attempts:
            now = time.time()
            restarts = [t for t in history[:-1] if t.task_state.terminal
                        and (not window or now - parse_ns(t.timestamp) / 1e9 <= window)]
            if len(restarts) >= attempts:
                return True
        delay = int(policy.get("Delay") or 0) / 1e9
        waited = time.time() - parse_ns(last.timestamp or last.updated) / 1e9
        if waited < delay:
            self.wake_later(f"restart-{last.id}", delay - waited)
            return True
        return False

    def new_task(self, service: Service, slot: int) -> Task:
        assert self.state.node is not None
        now = now_rfc3339()
        task = Task(id=new_object_id(), version=0, created=now, updated=now, service_id=service.id,
                    slot=slot, node_id=self.state.node.id, spec=dict(service.template),
                    generation=service.generation, timestamp=now, service_name=service.name)
        self.state.tasks[task.id] = task
        self.state.save_tasks([task])
        return task

    def _prune_history(self) -> None:
        cluster = self.state.cluster
        assert cluster is not None
        limit = max(cluster.history_limit, 1)
        for service in self.state.services.values():
            slots: dict[int, list[Task]] = {}
            for task in self.state.tasks_of(service.id):
                slots.setdefault(task.slot, []).append(task)
            for history in slots.values():
                done = [t for t in history if t.task_state.terminal and t.desired_state != RUNNING
                        and t.id not in self._busy]
                for task in done[:max(len(history) - limit, 0)]:
                    self._spawn(self._forget(task))

    # ---- carrying tasks out ----
    def launch(self, task: Task, service: Service) -> None:
        assert self.state.node is not None
        placed = [t for t in self.state.tasks_of(service.id) if t.desired_state == RUNNING
                  and t.id != task.id and t.task_state.rank >= TaskState.ASSIGNED.rank]
        why = unplaceable(task.spec, self.state.node, self.facts, len(placed))
        if why:
            if self._set(task, TaskState.PENDING, "pending task scheduling", err=why) or task.err != why:
                task.err = why
                self.state.save_tasks([task])
            return
        task.err = ""
        self._busy.add(task.id)
        self._launches[task.id] = self._spawn(self._launch(task, service))

    async def _launch(self, task: Task, service: Service) -> None:
        try:
            async with self._gate:
                await self._run_task(task, service)
        except DockyardError as exc:
            rejected = task.task_state.rank < TaskState.STARTING.rank
            self._set(task, TaskState.REJECTED if rejected else TaskState.FAILED, "preparing" if rejected
                      else "starting", err=str(exc))
            log.warning("task %s of %s: %s", task.id, service.name, exc)
        finally:
            self._busy.discard(task.id)
            self._launches.pop(task.id, None)
            self.state.save_tasks([task])
            self.state.wake()

    async def _run_task(self, task: Task, service: Service) -> None:
        if task.desired_state != RUNNING:
            return  # shut down (its service removed) while it queued for the gate: nothing to make
        for state, message in _PREPARE:
            self._set(task, state, message)
        self.state.save_tasks([task])
        files = []
        if self.blobs is not None:
            files = self.files.write(task, self.blobs.task_items(task.spec))
        networks = self.networks.task_networks(service, task) if self.networks is not None else []
        ports = self.networks.host_ports(service) if self.networks is not None else {}
        request = create_request(task, service, node_hostname=self.hostname, files=files,
                                 networks=networks, host_ports=ports)
        container = await self.containers.create(request)
        task.container_id = container.id
        if task.desired_state != RUNNING:
            # Shut down while its container was being made: the container stays created, the
            # task ends here rather than "starting" for ever.
            self._set(task, TaskState.SHUTDOWN, "shutdown")
            return
        self._set(task, TaskState.STARTING, "starting")
        self.state.save_tasks([task])
        await self.containers.start(container.id)

    def shutdown(self, task: Task, message: str = "shutdown") -> None:
        """Desired state shutdown; its container is stopped with the spec's grace period."""
        if task.desired_state != RUNNING:
            return
        task.desired_state = SHUTDOWN
        self.state.save_tasks([task])
        if task.task_state.terminal or not task.container_id:
            if not task.task_state.terminal:
                self._set(task, TaskState.SHUTDOWN, message)
                self.state.save_tasks([task])
            return
        if self.networks is not None:
            self.networks.leaving(task)  # out of the load-balancing set before it stops
        self._spawn(self._stop(task))

    async def _launched(self, task: Task) -> None:
        """Wait for the task's launch in flight, if any. A stop or removal that went first would
        find no container yet (or one not yet started) and the launch would then leave one
        behind, running or created; once the launch is done, the task's desired state (already
        shutdown) has kept it from starting anything more."""
        launching = self._launches.get(task.id)
        if launching is not None:
            await asyncio.wait([launching])

    async def _stop(self, task: Task) -> None:
        await self._launched(task)
        self._busy.add(task.id)
        try:
            with contextlib.suppress(NotFound, NotModified):
                await self.containers.stop(task.container_id)
        except DockyardError as exc:
            log.warning("stopping task %s: %s", task.id, exc)
        finally:
            self._busy.discard(task.id)
            self.state.wake()

    async def _forget(self, task: Task) -> None:
        """Drop a task from history: its container and files go with it."""
        await self._launched(task)  # (else the launch would also save the task again once deleted)
        self._busy.add(task.id)
        try:
            if task.container_id:
                with contextlib.suppress(NotFound):
                    await self.containers.remove(task.container_id, force=True)
            self.files.remove(task.id)
        except DockyardError as exc:
            log.warning("removing task %s: %s", task.id, exc)
        finally:
            self._busy.discard(task.id)
        if self.state.tasks.pop(task.id, None) is not None:
            self.state.store.delete(task)

    async def remove_service(self, service: Service) -> None:
        """``docker service rm``: every task's container removed, then the tasks."""
        if self.updaters is not None:
            await self.updaters.cancel(service.id)
        tasks = self.state.tasks_of(service.id)
        for task in tasks:
            task.desired_state = SHUTDOWN
            if self.networks is not None:
                self.networks.leaving(task)
        await asyncio.gather(*(self._forget(t) for t in tasks))
        if self.networks is not None:
            await self.networks.release(service)

    async def remove_everything(self) -> None:
        """``docker swarm leave --force``: every task container, swarm network and file goes."""
        for service in list(self.state.services.values()):
            await self.remove_service(service)
        for task in list(self.state.tasks.values()):
            await self._forget(task)
        if self.networks is not None:
            await self.networks.remove_all()

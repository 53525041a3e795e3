"""Rolling updates and rollbacks (swarmkit's ``orchestrator/update``).

An update replaces every task made from an older task template, ``Parallelism`` slots at a time
(0: all at once), with ``Delay`` between batches. ``stop-first`` shuts the old task down before its
replacement starts; ``start-first`` starts the new one and shuts the old down only once the new one
runs — and, with a healthcheck, is healthy. A new task that fails within ``Monitor`` counts as a
failure; past ``MaxFailureRatio`` the ``FailureAction`` applies: ``pause`` stops the update,
``continue`` goes on, ``rollback`` puts the previous spec back and rolls back under
``RollbackConfig``. ``UpdateStatus`` carries Docker's states and messages throughout.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from typing import Any

from dockyard.core.swarm import specs
from dockyard.core.swarm.model import (
    COMPLETED,
    PAUSED,
    ROLLBACK_COMPLETED,
    ROLLBACK_PAUSED,
    ROLLBACK_STARTED,
    UPDATING,
    Service,
    Task,
    TaskState,
)
from dockyard.core.swarm.orchestrator import RUNNING, Orchestrator
from dockyard.core.swarm.state import SwarmState
from dockyard.core.timestamps import now_rfc3339

log = logging.getLogger(__name__)

_START_TIMEOUT = 300.0  # a task that neither runs nor fails in this long counts as failed


def start_status(service: Service, *, rollback: bool, message: str) -> None:
    service.update_status = {"State": ROLLBACK_STARTED if rollback else UPDATING,
                             "StartedAt": now_rfc3339(), "Message": message}


class Updaters:
    """At most one update per service runs; a newer update of the service replaces it."""

    def __init__(self, state: SwarmState, orchestrator: Orchestrator) -> None:
        self.state = state
        self.orchestrator = orchestrator
        self._running: dict[str, asyncio.Task[None]] = {}

    def start(self, service: Service) -> None:
        old = self._running.pop(service.id, None)
        if old is not None:
            old.cancel()
        job = asyncio.get_running_loop().create_task(self._update(service))
        self._running[service.id] = job
        job.add_done_callback(functools.partial(self._done, service.id))

    def _done(self, service_id: str, job: asyncio.Task[None]) -> None:  # a finished update
        if self._running.get(service_id) is job:
            self._running.pop(service_id, None)

    def active(self, service_id: str) -> bool:
        return service_id in self._running

    def resume(self) -> None:
        """After a restart or an unlock: updates that were running go on."""
        for service in self.state.services.values():
            status = (service.update_status or {}).get("State")
            if status in (UPDATING, ROLLBACK_STARTED):
                self.start(service)

    async def cancel(self, service_id: str) -> None:
        job = self._running.pop(service_id, None)
        if job is not None:
            job.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await job

    async def stop(self) -> None:
        for service_id in list(self._running):
            await self.cancel(service_id)

    # ---- one update ----
    async def _update(self, service: Service) -> None:
        rolling_back = (service.update_status or {}).get("State") == ROLLBACK_STARTED
        spec = specs.with_defaults(service.spec)
        config: dict[str, Any] = spec["RollbackConfig" if rolling_back else "UpdateConfig"]
        outdated = self._outdated(service)
        parallelism = int(config.get("Parallelism") or 0) or max(len(outdated), 1)
        failures = 0
        total = len(outdated)
        first_failure = ""
        try:
            while outdated:
                batch, outdated = outdated[:parallelism], outdated[parallelism:]
                results = await asyncio.gather(*(self._replace(service, t, config) for t in batch))
                for failed_task in (r for r in results if r):
                    failures += 1
                    first_failure = first_failure or failed_task
                if failures and failures > float(config.get("MaxFailureRatio") or 0) * total:
                    action = config.get("FailureAction") or "pause"
                    if action == "continue":
                        pass
                    else:
                        self._on_failure(service, action, first_failure, rolling_back)
                        return
                if outdated and config.get("Delay"):
                    await asyncio.sleep(int(config["Delay"]) / 1e9)
                outdated = [t for t in outdated if t.desired_state == RUNNING]
            self._finish(service, rolling_back)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - an update that breaks leaves the service paused, not the daemon
            log.exception("update of service %s failed", service.name)
            self._on_failure(service, "pause", first_failure, rolling_back)

    def _outdated(self, service: Service) -> list[Task]:
        current = [t for t in self.state.tasks_of(service.id) if t.desired_state == RUNNING]
        return [t for t in current if t.generation < service.generation]

    async def _replace(self, service: Service, old: Task, config: dict[str, Any]) -> str:
        """Replace one task; returns the new task's ID when it failed, else ""."""
        self.orchestrator.claimed.add((service.id, old.slot))
        try:
            return await self._replace_claimed(service, old, config)
        finally:
            self.orchestrator.claimed.discard((service.id, old.slot))
            self.state.wake()

    async def _replace_claimed(self, service: Service, old: Task, config: dict[str, Any]) -> str:
        orchestrator = self.orchestrator
        start_first = config.get("Order") == "start-first"
        if not start_first:
            orchestrator.shutdown(old)
            await self.state.wait_until(lambda: old.task_state.terminal or not old.container_id, 60.0)
        new = orchestrator.new_task(service, old.slot)
        orchestrator.launch(new, service)
        self.state.wake()
        up = await self.state.wait_until(
            lambda: new.task_state == TaskState.RUNNING or new.task_state.terminal, _START_TIMEOUT)
        if start_first:
            orchestrator.shutdown(old)
        if not up or new.task_state != TaskState.RUNNING:
            return new.id
        monitor = int(config.get("Monitor") or 0) / 1e9
        if monitor and await self.state.wait_until(lambda: new.task_state.terminal, monitor):
            return new.id
        return ""

    def _on_failure(self, service: Service, action: str, task_id: str, rolling_back: bool) -> None:
        reason = f"due to failure or early termination of task {task_id}"
        if rolling_back:
            service.update_status = {**(service.update_status or {}), "State": ROLLBACK_PAUSED,
                                     "Message": f"rollback paused {reason}"}
        elif action == "rollback" and service.previous_spec is not None:
            service.spec, service.previous_spec = service.previous_spec, service.spec
            service.generation += 1
            start_status(service, rollback=True, message=f"update rolled back {reason}")
            self.state.stamp(service)
            self.start(service)
            return
        else:
            service.update_status = {**(service.update_status or {}), "State": PAUSED,
                                     "Message": f"update paused {reason}"}
        self.state.stamp(service)
        log.warning("service %s: %s", service.name, service.update_status["Message"])

    def _finish(self, service: Service, rolling_back: bool) -> None:
        service.update_status = {**(service.update_status or {}),
                                 "State": ROLLBACK_COMPLETED if rolling_back else COMPLETED,
                                 "CompletedAt": now_rfc3339(),
                                 "Message": "rollback completed" if rolling_back else "update completed"}
        self.state.stamp(service)
        self.state.events.publish("service", "update", service.id, {"name": service.name})

"""Restart policies: ``no``, ``always``, ``on-failure[:N]``, ``unless-stopped``, as dockerd applies them.

*Back-off* (moby ``restartmanager``): the first restart waits 100 ms and each next one twice as
long, up to a minute; a run of 10 s or more resets the wait. While it waits the container is
``restarting``. A user's ``stop`` or ``kill`` marks the container *manually stopped*: no restart
follows that exit, and on the next daemon start only ``always`` (and ``on-failure`` after a
failure) bring it back, ``unless-stopped`` does not. A user's ``start`` clears the mark and
``RestartCount``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dockyard.core.containers import events as container_events
from dockyard.core.containers.boot_order import Gate, gate_for
from dockyard.core.containers.model import Container, State
from dockyard.core.containers.store import LiveContainers
from dockyard.core.events import EventBus
from dockyard.core.ids import ContainerId
from dockyard.core.timestamps import parse_ns
from dockyard.errors import DockyardError, InvalidArgument

if TYPE_CHECKING:
    from dockyard.core.containers.networking import ContainerNetworking
    from dockyard.core.containers.runner import Runner

log = logging.getLogger(__name__)

POLICIES = ("no", "always", "on-failure", "unless-stopped")
INITIAL_DELAY = 0.1
MAX_DELAY = 60.0
RESET_AFTER = 10.0  # seconds of running that reset the back-off


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    """``HostConfig.RestartPolicy``."""

    name: str = "no"
    maximum_retry_count: int = 0

    @classmethod
    def of(cls, raw: Mapping[str, Any] | None) -> RestartPolicy:
        """Parse and validate with dockerd's messages (``""`` is ``no``, as before v25)."""
        raw = raw or {}
        name = str(raw.get("Name") or "no")
        count = int(raw.get("MaximumRetryCount") or 0)
        if name not in POLICIES:
            raise InvalidArgument(
                f"invalid restart policy: unknown policy '{name}'; use one of "
                "'no', 'always', 'on-failure', or 'unless-stopped'")
        if name != "on-failure" and count != 0:
            raise InvalidArgument("invalid restart policy: maximum retry count can only be used "
                                  "with 'on-failure'")
        if count < 0:
            raise InvalidArgument("invalid restart policy: maximum retry count cannot be negative")
        return cls(name, count)


def check_create(host_raw: Mapping[str, Any], auto_remove: bool) -> None:
    """Refuse what dockerd refuses at create: a bad policy, or one with AutoRemove (``--rm``)."""
    policy = RestartPolicy.of(host_raw.get("RestartPolicy"))
    if auto_remove and policy.name != "no":
        raise InvalidArgument("can't create 'AutoRemove' container with restart policy")


def should_restart(policy: RestartPolicy, *, exit_code: int, restart_count: int,
                   manually_stopped: bool, daemon_start: bool = False) -> bool:
    """moby's ``ShouldRestart``. A manual stop cancels restarts of a running daemon; at daemon
    start only ``unless-stopped`` still honours it."""
    if manually_stopped and not daemon_start:
        return False
    if policy.name == "always":
        return True
    if policy.name == "unless-stopped":
        return not manually_stopped
    if policy.name == "on-failure":
        limit = policy.maximum_retry_count
        return exit_code != 0 and (limit == 0 or restart_count < limit)
    return False


class Backoff:
    """The wait before the next restart (see the module docstring)."""

    def __init__(self) -> None:
        self._delay = 0.0

    def next(self, ran_for: float) -> float:
        if ran_for >= RESET_AFTER:
            self._delay = 0.0
        self._delay = INITIAL_DELAY if self._delay == 0 else min(self._delay * 2, MAX_DELAY)
        return self._delay


def ran_for(container: Container) -> float:
    """Seconds between the last start and exit (0 when either is unknown)."""
    try:
        return max(0.0, (parse_ns(container.finished_at) - parse_ns(container.started_at)) / 1e9)
    except ValueError:
        return 0.0


Launch = Callable[[Container], Awaitable[None]]


class RestartSupervisor:
    """Schedules restarts after exits; ``launch`` starts a container in ``restarting`` state."""

    def __init__(self, *, live: LiveContainers, launch: Launch, events: EventBus) -> None:
        self._live = live
        self._launch = launch
        self._events = events
        self._timers: dict[ContainerId, asyncio.Task[None]] = {}
        self._backoffs: dict[ContainerId, Backoff] = {}

    def after_exit(self, container: Container, *, daemon_start: bool = False,
                   gate: Gate | None = None) -> bool:
        """Called once an exit is recorded: schedule a restart if the policy wants one. Decided
        before any await, so no reader sees ``exited`` between the exit and ``restarting``."""
        policy = RestartPolicy.of(container.host.raw.get("RestartPolicy"))
        if container.id in self._timers or not should_restart(
                policy, exit_code=container.exit_code, restart_count=container.restart_count,
                manually_stopped=container.manually_stopped, daemon_start=daemon_start):
            return False
        backoff = self._backoffs.setdefault(container.id, Backoff())
        delay = 0.0 if daemon_start else backoff.next(ran_for(container))
        if daemon_start:
            self.starting(container)  # moby restores with resetRestartManager: count back to 0
        else:
            container.restart_count += 1
        container.move(State.RESTARTING)
        self._live.save(container)
        log.info("restarting container %s in %.1fs (policy %s, restart %d)", container.id[:12],
                 delay, policy.name, container.restart_count)
        task = asyncio.get_running_loop().create_task(self._restart(container, delay, gate))
        self._timers[container.id] = task
        task.add_done_callback(lambda _t: self._timers.pop(container.id, None))
        return True

    async def _restart(self, container: Container, delay: float, gate: Gate | None = None) -> None:
        await asyncio.sleep(delay)
        if gate is not None:
            await gate()
        try:
            await self._launch(container)
        except DockyardError as exc:
            log.warning("restart of container %s failed: %s", container.id[:12], exc)
            if container.state == State.RESTARTING:
                container.move(State.EXITED)
                container.error = container.error or str(exc)
                self._live.save(container)
            return
        container_events.emit(self._events, container, "restart")

    def stopping(self, container: Container) -> bool:
        """A user's ``stop``/``kill``: no restart after this exit. True when a pending restart was
        cancelled (the container is then ``exited`` and nothing is left to signal)."""
        container.manually_stopped = True
        task = self._timers.pop(container.id, None)
        if task is not None:
            task.cancel()
        if container.state == State.RESTARTING:
            container.move(State.EXITED)
            self._live.save(container)
            return True
        self._live.save(container)
        return False

    def starting(self, container: Container) -> None:
        """A user's ``start``: the restart count and the manual-stop mark start afresh."""
        container.manually_stopped = False
        container.restart_count = 0
        self._backoffs.pop(container.id, None)

    def restore(self, containers: Iterable[Container]) -> None:
        """At daemon start: bring back stopped containers whose policy says so, those of a Compose
        project after what they depend on (core/containers/boot_order.py)."""
        everyone = list(containers)
        for container in everyone:
            if container.state == State.EXITED:
                self.after_exit(container, daemon_start=True, gate=gate_for(container, everyone))

    def forget(self, container_id: ContainerId) -> None:
        self._backoffs.pop(container_id, None)

    async def close(self) -> None:
        tasks = list(self._timers.values())
        for task in tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)


def launcher(*, lock: Callable[[Container], asyncio.Lock], runner: Runner,
             networking: ContainerNetworking, network_of: Callable[[Container], str]) -> Launch:
    """What a restart does once its wait is over: the service's start without the user-facing
    state checks (the container is ``restarting``), under the container's lock."""

    async def launch(container: Container) -> None:
        async with lock(container):
            if container.state != State.RESTARTING:
                return  # a stop or a removal came first
            network, pending = await networking.prepare(container, runner.paths(container),
                                                        network_of(container))
            try:
                await runner.start(container, network, pending)
            except BaseException:
                await networking.leave(container)
                raise

    return launch

"""Healthchecks: probes run as execs through the runtime, and Docker's health state machine.

The *healthcheck* is ``Config.Healthcheck`` (the image's ``HEALTHCHECK`` merged with
``--health-*`` flags): ``Test`` is ``["NONE"]`` (disabled), ``["CMD", argv…]`` or
``["CMD-SHELL", "command"]``; durations are nanoseconds, 0 meaning dockerd's default. ``State.Health``
is ``{"Status": starting|healthy|unhealthy, "FailingStreak": n, "Log": [last 5 probes]}``.
A failure inside ``StartPeriod`` while still ``starting`` does not count (moby ``health.go``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockyard.core.containers import events as container_events
from dockyard.core.containers.execs import ExecConfig, exec_process, read_bundle_process
from dockyard.core.containers.model import Container, State
from dockyard.core.containers.store import LiveContainers
from dockyard.core.events import EventBus
from dockyard.core.ids import ContainerId
from dockyard.core.runtime.backend import RuntimeBackend
from dockyard.core.timestamps import format_ns, parse_ns
from dockyard.errors import DockyardError

log = logging.getLogger(__name__)

STARTING, HEALTHY, UNHEALTHY, NO_HEALTHCHECK = "starting", "healthy", "unhealthy", "none"
DEFAULT_INTERVAL = 30.0
DEFAULT_TIMEOUT = 30.0
DEFAULT_START_INTERVAL = 5.0
DEFAULT_RETRIES = 3
MAX_LOG_ENTRIES = 5
MAX_OUTPUT = 4096  # bytes of a probe's output kept in the log, as dockerd keeps


@dataclass(frozen=True, slots=True)
class HealthConfig:
    """A parsed ``Config.Healthcheck`` with dockerd's defaults filled in (seconds)."""

    argv: tuple[str, ...]
    interval: float = DEFAULT_INTERVAL
    timeout: float = DEFAULT_TIMEOUT
    start_period: float = 0.0
    start_interval: float = DEFAULT_START_INTERVAL
    retries: int = DEFAULT_RETRIES

    @classmethod
    def of(cls, healthcheck: Mapping[str, Any] | None) -> HealthConfig | None:
        """None when there is no healthcheck or it is ``NONE``."""
        test = list((healthcheck or {}).get("Test") or [])
        if not test or test[0] == "NONE":
            return None
        if test[0] == "CMD":
            argv = tuple(str(a) for a in test[1:])
        elif test[0] == "CMD-SHELL":
            argv = ("/bin/sh", "-c", " ".join(str(a) for a in test[1:]))
        else:
            # An old API form: the whole list is a command line for the shell.
            argv = ("/bin/sh", "-c", " ".join(str(a) for a in test))
        if not argv:
            return None
        assert healthcheck is not None

        def seconds(key: str, default: float) -> float:
            value = int(healthcheck.get(key) or 0)
            return value / 1e9 if value > 0 else default

        retries = int(healthcheck.get("Retries") or 0)
        return cls(argv=argv, interval=seconds("Interval", DEFAULT_INTERVAL),
                   timeout=seconds("Timeout", DEFAULT_TIMEOUT),
                   start_period=seconds("StartPeriod", 0.0),
                   start_interval=seconds("StartInterval", DEFAULT_START_INTERVAL),
                   retries=retries if retries > 0 else DEFAULT_RETRIES)


@dataclass(frozen=True, slots=True)
class ProbeResult:
    start_ns: int
    end_ns: int
    exit_code: int
    output: str

    def to_json(self) -> dict[str, Any]:
        return {"Start": format_ns(self.start_ns), "End": format_ns(self.end_ns),
                "ExitCode": self.exit_code, "Output": self.output}


def initial_health() -> dict[str, Any]:
    return {"Status": STARTING, "FailingStreak": 0, "Log": []}


def record(health: dict[str, Any], result: ProbeResult, config: HealthConfig,
           started_ns: int) -> dict[str, Any]:
    """The next ``State.Health`` after a probe (pure: the state machine of the module docstring)."""
    status, streak = str(health.get("Status") or STARTING), int(health.get("FailingStreak") or 0)
    if result.exit_code == 0:
        status, streak = HEALTHY, 0
    else:
        in_start_period = (result.start_ns - started_ns) / 1e9 < config.start_period
        if not (status == STARTING and in_start_period):
            streak += 1
            if streak >= config.retries:
                status = UNHEALTHY
    entries = [*list(health.get("Log") or []), result.to_json()][-MAX_LOG_ENTRIES:]
    return {"Status": status, "FailingStreak": streak, "Log": entries}


def next_delay(health: dict[str, Any], config: HealthConfig, started_ns: int) -> float:
    """Wait before the next probe: StartInterval while starting within the start period."""
    in_start_period = (time.time_ns() - started_ns) / 1e9 < config.start_period
    if health.get("Status") == STARTING and in_start_period:
        return config.start_interval
    return config.interval


def health_status(container: Container) -> str:
    """The ``health=`` filter value: ``none`` without a healthcheck."""
    if container.health is None:
        return NO_HEALTHCHECK
    return str(container.health.get("Status") or STARTING)


class HealthMonitor:
    """One probe loop per running container with a healthcheck."""

    def __init__(self, *, live: LiveContainers, runtime_of: Callable[[Container], RuntimeBackend],
                 bundle_of: Callable[[Container], Path], events: EventBus) -> None:
        self._live = live
        self._runtime_of = runtime_of
        self._bundle_of = bundle_of
        self._events = events
        self._loops: dict[ContainerId, asyncio.Task[None]] = {}
        # dockerd's engine_daemon_health_checks_total / _failed_total, read by the metrics adapter.
        self.checks_total = 0
        self.checks_failed = 0

    def start(self, container: Container, *, fresh: bool = True) -> None:
        """Begin probing; ``fresh`` (a start, not a reconnect) resets the health to starting."""
        config = HealthConfig.of(container.config.extra.get("Healthcheck"))
        if config is None or container.id in self._loops:
            return
        if fresh or container.health is None:
            container.health = initial_health()
            self._live.save(container)
        task = asyncio.get_running_loop().create_task(self._loop(container, config))
        self._loops[container.id] = task
        task.add_done_callback(lambda _t: self._loops.pop(container.id, None))

    def stop(self, container: Container) -> None:
        """Stop probing; dockerd reports ``unhealthy`` once its monitor has stopped."""
        task = self._loops.pop(container.id, None)
        if task is not None:
            task.cancel()
        if container.health is not None:
            container.health = {**container.health, "Status": UNHEALTHY}

    async def close(self) -> None:
        tasks = list(self._loops.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _loop(self, container: Container, config: HealthConfig) -> None:
        started_ns = _started_ns(container)
        while container.state in (State.RUNNING, State.PAUSED):
            await asyncio.sleep(next_delay(container.health or {}, config, started_ns))
            if container.state != State.RUNNING:
                continue  # dockerd skips probes of a paused container
            result = await self.probe(container, config)
            self.checks_total += 1
            self.checks_failed += result.exit_code != 0
            if container.state != State.RUNNING or container.health is None:
                return
            before = container.health.get("Status")
            container.health = record(container.health, result, config, started_ns)
            self._live.save(container)
            after = container.health["Status"]
            if after != before:
                log.info("container %s is %s", container.id[:12], after)
                container_events.emit(self._events, container, f"health_status: {after}")

    async def probe(self, container: Container, config: HealthConfig) -> ProbeResult:
        """Run the test once as an exec; a timeout or an exec failure is exit code -1."""
        start = time.time_ns()
        try:
            code, output = await asyncio.wait_for(self._exec(container, config), config.timeout)
        except TimeoutError:
            code, output = -1, f"Health check exceeded timeout ({_go_seconds(config.timeout)})"
        except DockyardError as exc:
            code, output = -1, str(exc)
        return ProbeResult(start, time.time_ns(), code, output)

    async def _exec(self, container: Container, config: HealthConfig) -> tuple[int, str]:
        base = await asyncio.to_thread(read_bundle_process, self._bundle_of(container))
        process = exec_process(base, ExecConfig(cmd=list(config.argv)),
                               env=[str(e) for e in base.get("env") or []],
                               cwd=str(base.get("cwd") or "/"), user=None)
        proc = await self._runtime_of(container).exec(container.id, process, detach=False)
        output = bytearray()
        try:
            await proc.close_stdin()
            while (chunk := await proc.read()) is not None:
                if len(output) < MAX_OUTPUT:
                    output += chunk[1][:MAX_OUTPUT - len(output)]
            code = await proc.wait()
        finally:
            with contextlib.suppress(DockyardError, OSError):
                await proc.close()
        return code, output.decode(errors="replace")


def _started_ns(container: Container) -> int:
    try:
        return parse_ns(container.started_at)
    except ValueError:
        return time.time_ns()


def _go_seconds(value: float) -> str:
    # Go's Duration.String for whole and fractional seconds: "30s", "1.5s", "500ms".
    if value < 1:
        return f"{round(value * 1000)}ms"
    return f"{value:g}s"


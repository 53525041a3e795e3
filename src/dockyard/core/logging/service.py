"""The logging service: which driver a container gets, its shipper, and what ``docker logs`` reads.

Policy (moby's mergeAndVerifyLogConfig): a container without ``LogConfig.Type`` gets the daemon's
driver and options; one with the daemon's driver gets the daemon's options under its own. The
daemon default is bounded (json-file, 10 MB × 5), unlike Docker's (moby#40207). Drivers that
cannot be read back keep a local cache (a ``local`` driver under ``<container>/cache``), as
Docker 20.10+ does, unless ``cache-disabled``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

from dockyard.core.containers.logs import LogEntry, LogOptions
from dockyard.core.containers.model import Container
from dockyard.core.logging.driver import LogContext, LogDriver, LogDriverRegistry, parse_bool
from dockyard.core.logging.reader import read_logs
from dockyard.core.logging.ring import buffered
from dockyard.core.logging.shipper import Shipper
from dockyard.errors import InvalidArgument, Unimplemented

log = logging.getLogger(__name__)

BOUNDED_DEFAULT = {"max-size": "10m", "max-file": "5"}
CACHE_DEFAULTS = {"max-size": "20m", "max-file": "5", "compress": "true"}
SPOOL_MAX = 1024 * 1024 * 1024


def daemon_defaults(driver: str, opts: Mapping[str, str] | None) -> tuple[str, dict[str, str]]:
    """daemon.json ``log-driver``/``log-opts``; json-file without options is bounded."""
    if opts is None:
        opts = BOUNDED_DEFAULT if driver == "json-file" else {}
    return driver, {str(k): str(v) for k, v in opts.items()}


class LogService:
    def __init__(self, registry: LogDriverRegistry, driver: str, opts: Mapping[str, str],
                 implicit: Mapping[str, str] | None = None) -> None:
        self.registry = registry
        self.driver, self.opts = driver, dict(opts)
        # Our json-file bound when daemon.json names no options: applied under every json-file
        # container's own options but never written into its HostConfig, which shows what dockerd
        # shows (only options given by the request or daemon.json).
        self.implicit = dict(implicit or {})
        registry.validate(driver, {**self.implicit, **self.opts})  # a bad daemon.json stops the daemon
        self._drivers: dict[str, list[LogDriver]] = {}
        self._shippers: dict[str, asyncio.Task[None]] = {}
        self._exited: set[str] = set()  # the process is gone: ship to the end of the spool and stop
        # Set by drain: a shipper idle between polls looks again at once instead of up to a poll
        # interval later (50 ms on the exit path of every container).
        self._wakes: dict[str, asyncio.Event] = {}

    # ---- create ----
    def resolve(self, host_raw: dict[str, Any]) -> dict[str, Any]:
        """HostConfig with the LogConfig the container will use, or InvalidArgument (400)."""
        raw = host_raw.get("LogConfig") or {}
        if not isinstance(raw, dict):
            raise InvalidArgument("invalid LogConfig: expected an object")
        kind = str(raw.get("Type") or self.driver)
        config = {str(k): str(v) for k, v in (raw.get("Config") or {}).items()}
        if kind == self.driver:
            config = {**self.opts, **config}
        self.registry.validate(kind, self._effective(kind, config))
        return {**host_raw, "LogConfig": {"Type": kind, "Config": config}}

    def _effective(self, kind: str, config: Mapping[str, str]) -> dict[str, str]:
        return {**self.implicit, **config} if kind == "json-file" else dict(config)

    def log_config(self, container: Container) -> tuple[str, dict[str, str]]:
        raw = container.host.raw.get("LogConfig") or {}
        kind = str(raw.get("Type") or "json-file")
        return kind, self._effective(kind, raw.get("Config") or {})

    def spool_mode(self, container: Container) -> str:
        """What conmon writes: nothing for ``none``, else the k8s-file spool."""
        return "none" if self.log_config(container)[0] == "none" else "k8s-file"

    def spool_size(self, container: Container) -> int:
        """conmon's --log-size-max. The shipper frees what it has shipped (shipper.py), so this
        only bounds a spool whose daemon is away; conmon starts a new file past it, and only a
        shipper more than a whole spool behind would miss lines."""
        del container
        return SPOOL_MAX

    def _cache_context(self, context: LogContext) -> LogContext | None:
        config = context.config
        if parse_bool(config.get("cache-disabled", "false"), "cache-disabled"):
            return None
        cache = {k.removeprefix("cache-"): v for k, v in config.items()
                 if k in ("cache-max-size", "cache-max-file", "cache-compress")}
        return LogContext(**{**_fields(context), "config": {**CACHE_DEFAULTS, **cache},
                             "log_dir": context.log_dir / "cache"})

    def read_path(self, container: Container, log_dir: Path) -> Path | None:
        kind, config = self.log_config(container)
        if kind == "none":
            return None
        spec = self.registry.get(kind)
        if spec.readable:
            return spec.read_path(log_dir, container.id)
        if parse_bool(config.get("cache-disabled", "false"), "cache-disabled"):
            return None
        return self.registry.get("local").read_path(log_dir / "cache", container.id)

    def log_path(self, container: Container, log_dir: Path) -> str:
        """inspect's LogPath: the file drivers' file, empty for the others (as dockerd)."""
        kind = self.log_config(container)[0]
        if kind == "none" or not self.registry.get(kind).readable:
            return ""
        return str(self.registry.get(kind).read_path(log_dir, container.id))

    # ---- start, run, exit ----
    def _open_blocking(self, context: LogContext, kind: str) -> list[LogDriver]:
        spec = self.registry.get(kind)
        drivers = [buffered(spec.create(context), context.config, context.container_id)]
        if not spec.readable:
            cache = self._cache_context(context)
            if cache is not None:
                try:
                    drivers.append(self.registry.get("local").create(cache))
                except BaseException:
                    drivers[0].close()
                    raise
        return drivers

    async def open(self, container: Container, log_dir: Path) -> None:
        """Make the container's drivers before it starts: a driver that cannot connect fails the
        start (dockerd's ``failed to initialize logging driver``)."""
        kind, config = self.log_config(container)
        await self.abandon(container)
        if kind == "none":
            return
        context = context_of(container, config, log_dir)
        try:
            self._drivers[container.id] = await asyncio.to_thread(self._open_blocking, context, kind)
        except OSError as exc:
            raise InvalidArgument(f"failed to create task for container: failed to initialize "
                                  f"logging driver: {exc}") from exc

    def ship(self, container: Container, log_dir: Path, is_running: Callable[[], bool]) -> None:
        """Start copying the spool (at start, and for live containers after a daemon restart)."""
        if container.id in self._shippers or self.spool_mode(container) == "none":
            return
        cid = container.id
        self._exited.discard(cid)
        wake = self._wakes[cid] = asyncio.Event()
        task = asyncio.get_running_loop().create_task(
            self._ship(container, log_dir, lambda: cid not in self._exited and is_running(), wake))
        self._shippers[container.id] = task

        def done(_task: asyncio.Task[None]) -> None:
            self._shippers.pop(cid, None)
            if self._wakes.get(cid) is wake:
                del self._wakes[cid]

        task.add_done_callback(done)

    async def _ship(self, container: Container, log_dir: Path, is_running: Callable[[], bool],
                    wake: asyncio.Event) -> None:
        drivers = self._drivers.pop(container.id, None)
        if drivers is None:  # after a daemon restart: reopen (a remote that is down only warns)
            kind, config = self.log_config(container)
            try:
                drivers = await asyncio.to_thread(
                    self._open_blocking, context_of(container, config, log_dir), kind)
            except (OSError, InvalidArgument) as exc:
                log.warning("log driver of %s unavailable: %s", container.id[:12], exc)
                drivers = []
        await Shipper(container.id, log_dir / "container.log", drivers).run(is_running, wake)

    async def drain(self, container: Container, log_dir: Path) -> None:
        """At exit: everything the container wrote is in its drivers before the exit shows."""
        task = self._shippers.get(container.id)
        if task is None and (log_dir / "container.log").exists() and self.spool_mode(container) != "none":
            self.ship(container, log_dir, lambda: False)  # died while the daemon was down
            task = self._shippers.get(container.id)
        self._exited.add(container.id)
        if container.id in self._wakes:
            self._wakes[container.id].set()
        try:
            if task is not None:
                await asyncio.shield(task)
        finally:
            self._exited.discard(container.id)

    async def abandon(self, container: Container) -> None:
        """A start that failed after ``open``: close its drivers."""
        drivers = self._drivers.pop(container.id, [])
        for driver in drivers:
            await asyncio.to_thread(driver.close)

    async def close(self) -> None:
        tasks = list(self._shippers.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # ---- docker logs ----
    def read(self, container: Container, log_dir: Path, options: LogOptions,
             is_running: Callable[[], bool]) -> AsyncIterator[LogEntry]:
        path = self.read_path(container, log_dir)
        if path is None:
            raise Unimplemented("configured logging driver does not support reading")
        return read_logs(path, options, is_running)


def _fields(context: LogContext) -> dict[str, Any]:
    return {name: getattr(context, name) for name in LogContext.__dataclass_fields__}


def context_of(container: Container, config: Mapping[str, str], log_dir: Path) -> LogContext:
    return LogContext(
        container_id=container.id, name=container.name.lstrip("/"), image_id=container.image_id,
        image_name=container.config.image, command=[container.path, *container.args],
        created=container.created, labels=dict(container.config.labels),
        env=list(container.config.env), config=dict(config), log_dir=log_dir)


def default_log_service() -> LogService:
    """For engines built without drivers (unit tests with fakes): nothing is logged."""
    return LogService(LogDriverRegistry(), "none", {})

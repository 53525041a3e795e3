"""ContainerService: Docker's container verbs over the store, the snapshotter and the runner."""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
import shutil
from collections.abc import AsyncIterator
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

from dockyard.config import DaemonConfig
from dockyard.core.containers import filters as container_filters
from dockyard.core.containers import prune as prune_filters
from dockyard.core.containers.commit import CommitRequest, ImageCommitter
from dockyard.core.containers.commit import commit as commit_container
from dockyard.core.containers.configs import command_of, merge_config, network_of
from dockyard.core.containers.defaults import apply_daemon_defaults, record_daemon_defaults
from dockyard.core.containers.events import emit
from dockyard.core.containers.exec_service import ExecService
from dockyard.core.containers.execs import ExecSessions
from dockyard.core.containers.filesystem import ContainerFilesystem, ImageLookup
from dockyard.core.containers.hardening import remap_of
from dockyard.core.containers.hostfiles import write_host_files
from dockyard.core.containers.logs import LogEntry, LogOptions
from dockyard.core.containers.model import (
    Container,
    ContainerConfig,
    ContainerPaths,
    CreateRequest,
    ProcessTable,
    PruneReport,
    State,
    WaitResult,
)
from dockyard.core.containers.mounts import MountPoint, parse_volumes_from
from dockyard.core.containers.names import NameReservations, validate_name
from dockyard.core.containers.networking import ContainerNetworking, seed_endpoints
from dockyard.core.containers.processes import parse_ps, run_ps
from dockyard.core.containers.restart import RestartSupervisor, check_create, launcher
from dockyard.core.containers.runner import Runner, parse_signal
from dockyard.core.containers.stats import CgroupReader
from dockyard.core.containers.store import ContainerStore, LiveContainers, name_conflict
from dockyard.core.containers.teardown import remove_orphans
from dockyard.core.containers.update import ContainerResources
from dockyard.core.containers.volumes import ContainerVolumes
from dockyard.core.events import EventBus
from dockyard.core.ids import ContainerId, new_container_id
from dockyard.core.images import platform as image_platform
from dockyard.core.images.model import Image, ImageUser
from dockyard.core.layers.snapshots import Mounter, Snapshotter
from dockyard.core.logging.service import LogService, default_log_service
from dockyard.core.metadata import Metadata
from dockyard.core.runtime.backend import Monitor, RuntimeBackend, StdioStream
from dockyard.core.runtime.emulation import check_runnable
from dockyard.core.runtime.resources import check_create as check_resources
from dockyard.core.runtime.security import validate as check_security
from dockyard.core.runtime.userns import UsernsRemap
from dockyard.core.timestamps import now_rfc3339
from dockyard.errors import (
    Conflict,
    DockyardError,
    InvalidArgument,
    NotFound,
    NotModified,
    WrongState,
)

if TYPE_CHECKING:
    from dockyard.core.networks.model import EndpointRequest
    from dockyard.core.networks.service import NetworkService
    from dockyard.core.volumes.service import VolumeService

log = logging.getLogger(__name__)

WAIT_CONDITIONS = ("not-running", "next-exit", "removed")


class ContainerService:
    """Creates, runs and removes containers; the API and CLI adapters call only these verbs."""

    def __init__(self, *, config: DaemonConfig, db: Metadata, images: ImageLookup,
                 snapshotter: Snapshotter, mounter: Mounter, runtimes: dict[str, RuntimeBackend],
                 monitor: Monitor, volumes: VolumeService | None = None,
                 networks: NetworkService | None = None, cgroups: CgroupReader | None = None,
                 events: EventBus | None = None, userns: UsernsRemap | None = None,
                 logging: LogService | None = None) -> None:
        self._config = config
        self._events = events or EventBus()
        self._images = images
        self._snapshotter = snapshotter
        self._mounter = mounter
        self._live = LiveContainers(ContainerStore(db))
        self._names = NameReservations(self._live.store.owner_of)  # held from the check to the record
        self._runner = Runner(config=config, live=self._live, snapshotter=snapshotter,
                              mounter=mounter, runtimes=runtimes, monitor=monitor, events=self._events)
        self._runner.on_exit = self._after_exit
        self._runtimes = runtimes
        self._execs = ExecSessions()
        self.execs = ExecService(live=self._live, runner=self._runner, sessions=self._execs,
                                 events=self._events)  # the exec verbs (core/containers/exec_service.py)
        self.files = ContainerFilesystem(snapshotter=snapshotter, mounter=mounter, images=images,
                                         paths=self.paths)  # rootfs, size, changes, graph data
        self._locks: dict[ContainerId, asyncio.Lock] = {}
        self._restarting: set[ContainerId] = set()  # stopped by `restart`: --rm must not remove them
        self._volumes = ContainerVolumes(volumes, lambda: list(self._live.by_id.values()), self._events)
        self._runner.prepare_mounts = self._volumes.prepare
        self._runner.release_mounts = self._volumes.released
        self._networking = ContainerNetworking(networks, self._live, userns,
                                               lambda raw: apply_daemon_defaults(raw, config))
        self._runner.release_network = self._networking.leave
        self._runner.deferrable = lambda c: c.host.auto_remove and self._networking.deferrable(c)
        self._restarts = RestartSupervisor(live=self._live, events=self._events, launch=launcher(
            lock=self._lock, runner=self._runner, networking=self._networking, network_of=self._network_of))
        self.resources = ContainerResources(self._live, self._runner.runtime_of, cgroups)  # update, stats
        self._runner.oom_killed = self.resources.oom_hook()
        self._runner.userns = self._userns = userns  # --userns-remap (core/runtime/userns.py)
        self._runner.linked_env = self._networking.link_env
        self._runner.logging = self.logging = logging or default_log_service()  # core/logging/

    # ---- lifecycle of the service ----
    async def open(self) -> None:
        self._config.containers_dir.mkdir(parents=True, exist_ok=True)
        self._live.load()
        await remove_orphans(self._config.containers_dir, self._live.by_id, runner=self._runner,
                             networking=self._networking, mounter=self._mounter,
                             snapshotter=self._snapshotter)
        for container in list(self._live.by_id.values()):
            try:
                await self._runner.reconnect(container)
            except DockyardError as exc:
                log.error("could not reconnect to container %s: %s", container.id[:12], exc)
        self._restarts.restore(self._live.by_id.values())

    def record(self, container: Container, action: str) -> None:
        """Persist a change made outside the verbs (core/containers/leftovers.py) and announce it."""
        self._live.save(container)
        emit(self._events, container, action)

    async def close(self) -> None:
        await self._restarts.close()
        await self._runner.close()

    async def counts(self) -> tuple[int, int, int]:
        states = [c.state for c in self._live.by_id.values()]
        running = sum(s in (State.RUNNING, State.RESTARTING) for s in states)
        paused = sum(s == State.PAUSED for s in states)
        return running, paused, len(states) - running - paused

    async def image_users(self, image_id: str) -> list[ImageUser]:
        return [ImageUser(c.id, c.state in (State.RUNNING, State.PAUSED, State.RESTARTING))
                for c in self._live.by_id.values() if c.image_id == image_id]

    def volume_users(self, name: str) -> builtins.list[str]:
        """IDs of the containers that mount volume ``name`` (the volume service's in-use check)."""
        return self._volumes.users(name)

    async def commit(self, request: CommitRequest, images: ImageCommitter) -> Image:
        """``docker commit`` (core/containers/commit.py), with this service's snapshotter."""
        return await commit_container(request, containers=self, images=images,
                                      snapshotter=self._snapshotter, config=self._config,
                                      remap=self._userns)

    def remap_of(self, container: Container) -> UsernsRemap | None:
        """The --userns-remap ranges the container runs under (``docker cp`` shifts owners)."""
        return remap_of(container, self._userns)

    def _lock(self, container: Container) -> asyncio.Lock:
        return self._locks.setdefault(container.id, asyncio.Lock())

    def paths(self, container: Container) -> ContainerPaths:
        return self._runner.paths(container)

    # ---- reading ----
    async def inspect(self, ref: str) -> Container:
        return self._live.get(ref)

    @property
    def health_checks(self) -> tuple[int, int]:
        """(probes run, probes failed) since the daemon started, for the metrics adapter."""
        return self._runner.health.checks_total, self._runner.health.checks_failed

    def exec_ids(self, container: Container) -> builtins.list[str]:
        return [s.id for s in self._execs.of_container(container.id)]

    async def list(self, *, all: bool = False, limit: int | None = None,
                   filters: container_filters.Filters | None = None) -> list[Container]:
        filters = filters or {}
        container_filters.validate(filters)
        ctx = await self._filter_context(filters)
        newest_first = sorted(self._live.by_id.values(), key=lambda c: c.created, reverse=True)
        show_all = all or bool(limit and limit > 0) or bool({"status", "exited"} & filters.keys())
        result = [c for c in newest_first
                  if (show_all or c.state.is_active) and container_filters.matches(c, filters, ctx)]
        return result[:limit] if limit and limit > 0 else result

    async def _filter_context(self, filters: container_filters.Filters) -> container_filters.FilterContext:
        ctx = container_filters.FilterContext()
        for ref in filters.get("ancestor", []):
            ctx.ancestor_refs.add(ref)
            with contextlib.suppress(NotFound):
                ctx.ancestor_ids.add((await self._images.inspect(ref)).id)
        if filters.get("before"):
            ctx.before = self._live.get(filters["before"][0]).created
        if filters.get("since"):
            ctx.since = self._live.get(filters["since"][0]).created
        return ctx

    # ---- create ----
    async def create(self, request: CreateRequest) -> Container:
        # The image service answers Docker's "No such image: busybox:latest" itself.
        image = await self._images.inspect(request.image)
        image_platform.check(image, request.image, request.platform)  # --platform: 404 if another
        check_runnable(image_platform.of(image), image_platform.host())
        config = merge_config(request, image.container_config)
        network = network_of(request.host.network_mode)
        self._networking.check_create(request)
        runtime = request.host.runtime or self._config.default_runtime
        if runtime not in self._runtimes:
            raise InvalidArgument(f"unknown or invalid runtime name: {runtime}")
        check_create(request.host.raw, request.host.auto_remove)  # restart policy, --rm
        request.host.raw = self.logging.resolve(request.host.raw)  # LogConfig: defaults, 400s
        check_resources(apply_daemon_defaults(request.host.raw, self._config))  # as it will run
        request.host.raw = check_resources(record_daemon_defaults(request.host.raw, self._config))
        check_security(request.host.raw, remap=self._userns)  # caps, security-opt, sysctls, devices
        container_id = new_container_id()
        with self._names.reserve(request.name, container_id) as name:
            return await self._create(request, image, config, network, runtime, container_id, name)

    async def _create(self, request: CreateRequest, image: Image, config: ContainerConfig, network: str,
                      runtime: str, container_id: ContainerId, name: str) -> Container:
        config.hostname = config.hostname or (
            _host_hostname() if network == "host" else container_id[:12])
        path, args = command_of(config)
        container = Container(
            id=container_id, name=name, created=now_rfc3339(), image_id=image.id, config=config,
            host=request.host, path=path, args=args, runtime=runtime,
            networking=seed_endpoints(request.host.network_mode, request.networking))
        container.mounts, new_volumes = await self._volumes.resolve(
            request.host.raw, config.volumes, self._volumes_from(request.host.raw))
        try:
            await self._create_files(container, image.top_layer, network)
        except BaseException:
            await self._volumes.drop(new_volumes)
            raise
        log.info("created container %s %s from %s", container_id[:12], name, image.id)
        emit(self._events, container, "create")
        return container

    def _volumes_from(self, host: dict[str, Any]) -> builtins.list[tuple[builtins.list[MountPoint], str]]:
        inherited = []
        for spec in host.get("VolumesFrom") or []:
            ref, mode = parse_volumes_from(str(spec))
            inherited.append((self._live.get(ref).mounts, mode))
        return inherited

    async def _create_files(self, container: Container, top_layer: str | None, network: str) -> None:
        config, container_id = container.config, container.id
        paths = self.paths(container)
        with ExitStack() as stack:
            # The directory comes first: after a crash, a directory without a record is how
            # open() finds what a half-done create left (see _remove_orphans).
            paths.root.mkdir(parents=True)
            stack.callback(shutil.rmtree, paths.root, True)
            await asyncio.to_thread(self._snapshotter.prepare, container_id, top_layer)
            stack.callback(self._snapshotter.remove, container_id)
            await asyncio.to_thread(write_host_files, paths, config.hostname, config.domainname,
                                    network)
            self._live.add(container)
            stack.pop_all()

    # ---- start/stop/kill/restart/pause ----
    async def start(self, ref: str) -> None:
        container = self._live.get(ref)
        async with self._lock(container):
            if container.state in (State.RUNNING, State.RESTARTING):
                raise NotModified()
            if container.state == State.PAUSED:
                raise WrongState("cannot start a paused container, try unpause instead")
            if container.state in (State.REMOVING, State.DEAD):
                raise WrongState("container is marked for removal and cannot be started")
            self._restarts.starting(container)
            await self._runner.settle_exit(container)  # what a deferred teardown has not yet freed
            try:
                # A failure to join (an address or port taken) fails the start like any other:
                # an auto-remove container goes, or `docker run --rm` waits for it forever.
                network, pending = await self._networking.prepare(container, self.paths(container),
                                                                  self._network_of(container))
                await self._runner.start(container, network, pending)
            except BaseException as exc:
                await self._networking.leave(container)
                if container.host.auto_remove and isinstance(exc, DockyardError):
                    asyncio.get_running_loop().create_task(self._auto_remove(container))
                raise

    def _network_of(self, container: Container) -> str:
        network = network_of(container.host.network_mode)
        if network.startswith("container:"):
            other = self._live.get(network.split(":", 1)[1])
            if other.state != State.RUNNING or not other.pid:
                raise WrongState(f"cannot join network of a non running container: {other.id}")
            return f"ns:/proc/{other.pid}/ns/net"
        return network

    async def stop(self, ref: str, *, timeout: int | None = None, signal: str | None = None) -> None:
        container = self._live.get(ref)
        async with self._lock(container):
            if not container.state.is_active:
                raise NotModified()
            signum = parse_signal(signal or container.config.stop_signal or "SIGTERM")
            if timeout is None:
                timeout = container.config.stop_timeout
            if not self._restarts.stopping(container):  # else a pending restart was all there was
                await self._runner.stop(container, signum, 10 if timeout is None else timeout)
            emit(self._events, container, "stop")

    async def restart(self, ref: str, *, timeout: int | None = None, signal: str | None = None) -> None:
        # moby turns AutoRemove off for the stop: a restarted --rm container is kept.
        cid = self._live.get(ref).id
        self._restarting.add(cid)
        try:
            with contextlib.suppress(NotModified):
                await self.stop(ref, timeout=timeout, signal=signal)
        finally:
            self._restarting.discard(cid)
        await self.start(ref)
        emit(self._events, self._live.get(ref), "restart")

    async def kill(self, ref: str, *, signal: str | None = None) -> None:
        container = self._live.get(ref)
        signum = parse_signal(signal or "SIGKILL")
        if not container.state.is_active:
            raise WrongState(f"Cannot kill container: {ref}: container {container.id} is not running")
        if self._restarts.stopping(container):
            return
        await self._runner.kill(container, signum)  # emits "kill", as stop's signals do
        if signum == 9:
            await self._runner.wait_stopped(container, 10.0)

    async def pause(self, ref: str) -> None:
        container = self._live.get(ref)
        async with self._lock(container):
            if container.state == State.PAUSED:
                raise WrongState(f"container {container.id} is already paused")
            if container.state != State.RUNNING:
                raise WrongState(f"container {container.id} is not running")
            await self._runner.pause(container)

    async def unpause(self, ref: str) -> None:
        container = self._live.get(ref)
        async with self._lock(container):
            if container.state != State.PAUSED:
                raise WrongState(f"container {container.id} is not paused")
            await self._runner.resume(container)

    async def resize(self, ref: str, *, height: int, width: int) -> None:
        container = self._live.get(ref)
        if not container.state.is_active:
            raise WrongState(f"container {container.id} is not running")
        await self._runner.resize(container, height, width)

    # ---- wait ----
    def wait(self, ref: str, condition: str = "not-running") -> asyncio.Task[WaitResult]:
        """Register a waiter now (so a start that follows cannot be missed) and return the task
        that resolves when the condition holds."""
        if condition in ("", None):
            condition = "not-running"
        if condition not in WAIT_CONDITIONS:
            raise InvalidArgument(f"invalid condition: {condition!r}")
        container = self._live.get(ref)
        seen_exits = self._live.exits.get(container.id, 0)
        live = self._live

        def done() -> bool:
            if condition == "removed":
                return container.id not in live.by_id
            exited = live.exits.get(container.id, 0) > seen_exits
            if condition == "next-exit":
                return exited
            # An exit answers not-running even when a restart policy brings the container back
            # (moby's SetRestarting wakes the stop waiters too).
            return exited or not container.state.is_active or container.id not in live.by_id

        async def waiter() -> WaitResult:
            await live.wait_until(done)
            code, error = live.results.get(container.id, (container.exit_code, ""))
            return WaitResult(status_code=code, error=error)

        return asyncio.get_running_loop().create_task(waiter())

    # ---- remove/rename/prune ----
    async def remove(self, ref: str, *, force: bool = False, volumes: bool = False) -> None:
        container = self._live.get(ref)
        if container.state.is_active:
            if not force:
                raise WrongState(
                    f'cannot remove container "{container.name}": container is running: '
                    "stop the container before removing or force remove")
            await self.kill(container.id, signal="SIGKILL")
        async with self._lock(container):
            if container.id not in self._live.by_id:
                return
            await self._delete(container)
        if volumes:
            await self._volumes.remove_anonymous(container)

    async def _delete(self, container: Container) -> None:
        if container.state == State.REMOVING:
            raise WrongState(f"removal of container {container.id} is already in progress")
        previous = container.state
        container.move(State.REMOVING)
        deferred = self._runner.defers_removal(container)  # after the answer (core/containers/teardown.py)
        try:
            if not deferred:
                await self._runner.finish_removal(container)
        except (DockyardError, OSError) as exc:
            container.state = previous
            raise WrongState(f"unable to remove container {container.id}: {exc}") from exc
        self._execs.drop_container(container.id)
        self._locks.pop(container.id, None)
        self._live.discard(container)
        if deferred:
            # Queued after the discard, so the waiters it woke answer before the teardown's spawns.
            self._runner.remove_later(container)
        emit(self._events, container, "destroy")
        log.info("removed container %s", container.id[:12])

    async def _after_exit(self, container: Container) -> None:
        # Decided before the first await: the exit wakes `restart`'s stop only once this yields.
        remove = container.host.auto_remove and container.id not in self._restarting
        await self._volumes.released(container)  # plugin Unmount, "unmount" events after "die"
        if self._restarts.after_exit(container):
            return
        if remove:
            await self._auto_remove(container)

    async def _auto_remove(self, container: Container) -> None:
        try:
            # --rm takes the container's anonymous volumes with it, as Docker's does.
            await self.remove(container.id, force=True, volumes=True)
        except NotFound:
            pass
        except DockyardError as exc:
            log.warning("auto-remove of %s failed: %s", container.id[:12], exc)

    async def connect_network(self, ref: str, request: EndpointRequest) -> None:
        """``docker network connect``."""
        container = self._live.get(ref)
        async with self._lock(container):
            await self._networking.connect(container, request)

    async def disconnect_network(self, ref: str, network: str) -> None:
        """``docker network disconnect``."""
        container = self._live.get(ref)
        async with self._lock(container):
            await self._networking.disconnect(container, network)

    def remove_link(self, name: str) -> None:
        self._networking.unlink(name)

    async def rename(self, ref: str, new_name: str) -> None:
        container = self._live.get(ref)
        name = validate_name(new_name)
        if name == container.name:
            raise InvalidArgument("Renaming a container with the same name as its current name")
        owner = self._live.store.owner_of(name)
        if owner is not None:
            raise name_conflict(name, owner)
        old = container.name
        container.name = name
        try:
            self._live.save(container)
        except Conflict:
            container.name = old
            raise
        self._networking.rename(container, old)
        emit(self._events, container, "rename", {"oldName": old})

    async def prune(self, filters: container_filters.Filters | None = None) -> PruneReport:
        until = prune_filters.check(filters or {})  # until, label, label! (core/containers/prune.py)
        deleted: list[str] = []
        reclaimed = 0
        for container in list(self._live.by_id.values()):
            if not prune_filters.prunable(container, filters or {}, until):
                continue
            rw, _ = await self.files.size(container)
            with contextlib.suppress(NotFound):
                await self.remove(container.id)
                deleted.append(container.id)
                reclaimed += rw
        return PruneReport(deleted=deleted, space_reclaimed=reclaimed)

    # ---- top/changes/logs/attach ----
    async def top(self, ref: str, ps_args: str = "") -> ProcessTable:
        container = self._live.get(ref)
        if not container.state.is_active:
            raise WrongState(f"container {container.id} is not running")
        pids = await self._runner.runtime_of(container).pids(container.id)
        return parse_ps(await run_ps(ps_args), pids)

    def logs(self, container: Container, options: LogOptions) -> AsyncIterator[LogEntry]:
        return self.logging.read(container, self.paths(container).root, options,
                                 lambda: container.state.is_active)

    def attach(self, container: Container) -> asyncio.Future[StdioStream]:
        """The container's stdio: now if it runs, else once it starts (``docker run -i``
        attaches first). State errors raise here, before the caller answers 101."""
        if container.state == State.PAUSED:
            raise WrongState(f"container {container.id} is paused, unpause the container before attach")
        if container.state == State.RESTARTING:
            raise WrongState(f"container {container.id} is restarting, wait until the container is running")
        emit(self._events, container, "attach")
        if container.state == State.RUNNING:
            return asyncio.ensure_future(self._runner.attach(container))
        return self._runner.attach_after_start(container.id)

def _host_hostname() -> str:
    import socket

    return socket.gethostname()


"""Managed plugins: Docker's ``docker plugin`` verbs, each plugin run by the daemon as a container.

``enable`` writes a bundle (core/plugins/spec.py) and starts the plugin under the monitor and OCI
runtime the containers use (conmon + runc), then waits for its socket in
``<exec-root>/plugins/<id>/``; from then on :meth:`ManagedPlugins.lookup` (a ``PluginSource``)
hands the registry its address, so ``registry.get(name, "VolumeDriver")`` reaches it like any
plugin. ``disable`` stops it (SIGTERM, SIGKILL after 10 s, as moby's ``shutdownPlugin``). A plugin
whose process dies while enabled is started again, as moby's plugin controller restarts it.

Restart: the plugins enabled when the daemon stopped run on (live restore: conmon keeps them);
``open`` reconnects to them, or starts again those whose process is gone, before containers are
restored (as moby). Texts are moby's (``plugin x is enabled``, ``plugin x is in use``).
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from dockyard.core.events import EventBus
from dockyard.core.plugins import artefact, output
from dockyard.core.plugins.config import apply_settings, capabilities, implements, initial_settings, normalise
from dockyard.core.plugins.registry import PluginAddress, PluginRegistry, plugin_name
from dockyard.core.plugins.spec import plugin_spec
from dockyard.core.plugins.store import ManagedPlugin, PluginStore, local_name
from dockyard.core.runtime.backend import Monitor, MonitorStart, RuntimeBackend
from dockyard.errors import DockyardError, InUse, InvalidArgument, Unavailable, WrongState

log = logging.getLogger(__name__)

SOCKET_WAIT_SECONDS = 10.0  # moby: 0.5 s, then three dials 3 s apart
STOP_GRACE_SECONDS = 10.0  # moby's shutdownTimeout
OUTPUT_DRAIN_SECONDS = 5.0  # a stopped plugin's last lines into the daemon's log
_CRASH_LOOP_SECONDS = 2.0  # a plugin that dies this soon after starting is not restarted
_LOG_SIZE_MAX = 1 << 20  # the plugin's output, kept in its bundle; conmon starts it afresh past this
_SOCKET_PATH_MAX = 100  # below sun_path's 108 bytes, with room for the terminating NUL

PluginUsers = Callable[[str], int]  # plugin name -> how many objects (volumes …) use it


class ManagedPlugins:
    """The plugin store's verbs and the running plugins; also the registry's managed source."""

    def __init__(self, *, store: PluginStore, runtime: RuntimeBackend, monitor: Monitor,
                 exec_root: Path, registry: PluginRegistry | None = None, events: EventBus | None = None,
                 live_restore: bool = True, unpack_limit: int | None = None) -> None:
        self.store = store
        self._runtime = runtime
        self._monitor = monitor
        self._exec_root = exec_root  # <exec-root>/plugins: one runtime dir per plugin, bound in
        self._bundles = exec_root.parent / "plugin-bundles"  # outside the bind: the plugin cannot edit them
        self._registry = registry
        self._events = events or EventBus()
        self._live_restore = live_restore
        self.unpack_limit = unpack_limit  # bytes a create context or a pulled rootfs may unpack to
        self._users: PluginUsers = lambda _name: 0
        self._lock = asyncio.Lock()
        self._watchers: dict[str, asyncio.Task[None]] = {}
        self._outputs: dict[str, asyncio.Task[None]] = {}  # each running plugin's output, to the log
        self._stopping: set[str] = set()
        self._dirfds: dict[str, int] = {}  # runtime dirs held open for long socket paths

    def set_users(self, users: PluginUsers) -> None:
        """``users(name)`` counts what uses the plugin (volumes of its driver): disable refuses then."""
        self._users = users

    # ---- PluginSource ----
    def lookup(self, name: str) -> PluginAddress | None:
        plugin = self.store.find(name)
        if plugin is None:
            return None
        if not plugin.enabled or plugin.id not in self._watchers:
            raise WrongState(f"plugin {plugin_name(plugin.name)} found but disabled")
        return self._address(plugin)

    def addresses(self) -> Sequence[PluginAddress]:
        return [self._address(p) for p in self.store.all() if p.enabled and p.id in self._watchers]

    def _address(self, plugin: ManagedPlugin) -> PluginAddress:
        return PluginAddress(name=plugin_name(plugin.name), address=f"unix://{self._socket(plugin)}",
                             implements=implements(plugin.config), managed=True)

    def _socket(self, plugin: ManagedPlugin) -> Path:
        """The socket's path as the daemon connects to it. A UNIX socket address holds at most
        107 bytes and ``<exec-root>/plugins/<64 hex>/<name>`` can be longer under a deep exec
        root: then it is reached through a descriptor of its directory (``/proc/self/fd/N/…``)."""
        name = str(plugin.config["Interface"]["Socket"])
        full = self._exec_root / plugin.id / name
        if len(str(full)) < _SOCKET_PATH_MAX:
            return full
        fd = self._dirfds.get(plugin.id)
        if fd is None:
            fd = self._dirfds[plugin.id] = os.open(full.parent, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        return Path(f"/proc/self/fd/{fd}/{name}")

    # ---- lifecycle ----
    async def open(self) -> None:
        """Before containers: reconnect to the plugins still running, start the others enabled."""
        await asyncio.to_thread(self.store.open)
        for plugin in self.store.all():
            if not plugin.enabled:
                continue
            try:
                if self._monitor.is_alive(plugin.id):
                    await self._wait_socket(plugin)
                    self._watch(plugin)
                    self._forward(plugin)  # from where the last daemon's shipper stopped
                    log.info("plugin %s reconnected", plugin.name)
                else:
                    await self._start(plugin)
                    log.info("plugin %s started again", plugin.name)
            except DockyardError as exc:
                log.error("plugin %s could not be restored: %s", plugin.name, exc)
                await self._stop(plugin)
                plugin.enabled = False
                self.store.save(plugin)

    async def close(self) -> None:
        """Daemon shutdown: plugins keep running under live restore (the next daemon reconnects),
        else they are stopped."""
        watchers = list(self._watchers.items())
        self._watchers.clear()
        outputs = list(self._outputs.values())
        self._outputs.clear()
        for task in [t for _, t in watchers] + outputs:
            task.cancel()
        for task in [t for _, t in watchers] + outputs:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if not self._live_restore:
            for plugin in self.store.all():
                if plugin.enabled:
                    await self._stop(plugin)

    # ---- verbs ----
    async def create(self, name: str, context: Path) -> ManagedPlugin:
        """``docker plugin create NAME DIR``: the dir's tar (``config.json`` + ``rootfs/``)."""
        name = local_name(name)
        self.store.check_name(name)
        workdir = Path(tempfile.mkdtemp(dir=self.store.tmp))
        try:
            raw, rootfs = await asyncio.to_thread(artefact.unpack_context, context, workdir,
                                                  limit=self.unpack_limit)
            try:
                config = normalise(json.loads(raw))
            except ValueError as exc:
                raise InvalidArgument(f"failed to parse config: {exc}") from exc
            plugin_id = secrets.token_hex(32)
            blobs = self.store.dir(plugin_id) / "blobs"
            try:
                layer, size = await asyncio.to_thread(artefact.pack_rootfs, rootfs, blobs, workdir)
                config["rootfs"] = {"type": "layers", "diff_ids": [layer]}
                blob = artefact.config_blob(config, layer)
                config_digest = artefact.put_blob(blobs, blob)
                manifest = artefact.put_blob(
                    blobs, artefact.manifest(config_digest, len(blob), [(layer, size)]))
                rootfs.rename(self.store.rootfs(plugin_id))
                plugin = ManagedPlugin(id=plugin_id, name=name, config=config,
                                       settings=initial_settings(config), reference=name,
                                       manifest=manifest, config_digest=config_digest, layers=[layer])
                async with self._lock:
                    self.store.add(plugin)
            except BaseException:
                shutil.rmtree(self.store.dir(plugin_id), ignore_errors=True)
                raise
        finally:
            await asyncio.to_thread(shutil.rmtree, workdir, True)
        self.store.save(plugin)  # now that its dir exists, config.json beside the rootfs
        self.event(plugin, "create")
        return plugin

    def add(self, plugin: ManagedPlugin, rootfs: Path, blobs: Path) -> None:
        """A plugin pulled into ``rootfs``/``blobs`` (core/plugins/transfer.py) joins the store."""
        target = self.store.dir(plugin.id)
        target.mkdir(parents=True)
        try:
            rootfs.rename(target / "rootfs")
            blobs.rename(target / "blobs")
            self.store.add(plugin)
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise
        self.store.save(plugin)

    def list(self, filters: dict[str, list[str]]) -> builtins.list[ManagedPlugin]:
        """``GET /plugins``: filters ``enabled`` and ``capability``, as moby's ``List``."""
        for key in filters:
            if key not in ("enabled", "capability"):
                raise InvalidArgument(f"invalid filter '{key}'")
        wanted: bool | None = None
        for value in filters.get("enabled", []):
            if value.lower() not in ("true", "false", "1", "0"):
                raise InvalidArgument(f"invalid filter 'enabled={value}'")
            wanted = value.lower() in ("true", "1")
        out = []
        for plugin in self.store.all():
            if wanted is not None and plugin.enabled != wanted:
                continue
            caps = filters.get("capability")
            if caps and not all(c in caps for c in capabilities(plugin.config)):
                continue
            out.append(plugin)
        return out

    def inspect(self, ref: str) -> ManagedPlugin:
        return self.store.get(ref)

    async def enable(self, ref: str, timeout: int = 30) -> None:
        async with self._lock:
            plugin = self.store.get(ref)
            if plugin.enabled:
                raise WrongState(f"plugin already enabled: plugin {plugin.name} is enabled")
            # moby gives the timeout to the plugin's client; here it bounds the wait for the socket.
            await self._start(plugin, wait=float(timeout) if timeout > 0 else SOCKET_WAIT_SECONDS)
            plugin.enabled = True
            self.store.save(plugin)
        self.event(plugin, "enable")

    async def disable(self, ref: str, *, force: bool = False) -> None:
        async with self._lock:
            plugin = self.store.get(ref)
            if not force and self._users(plugin_name(plugin.name)) > 0:
                raise InUse(f"plugin {plugin.name} is in use")
            if not plugin.enabled:
                raise WrongState(f"plugin is already disabled: plugin {plugin.name} found but disabled")
            await self._stop(plugin)
            plugin.enabled = False
            self.store.save(plugin)
        self.event(plugin, "disable")

    async def remove(self, ref: str, *, force: bool = False) -> None:
        async with self._lock:
            plugin = self.store.get(ref)
            if not force:
                if self._users(plugin_name(plugin.name)) > 0:
                    raise InUse(f"plugin {plugin.name} is in use")
                if plugin.enabled:
                    raise WrongState(f"plugin {plugin.name} is enabled")
            if plugin.enabled:
                await self._stop(plugin)
            await asyncio.to_thread(self.store.remove, plugin)
            # The bundle holds the spool of the plugin's output (core/plugins/output.py).
            await asyncio.to_thread(shutil.rmtree, self._bundles / plugin.id, True)
        self.event(plugin, "remove")

    async def set(self, ref: str, args: builtins.list[str]) -> None:
        async with self._lock:
            plugin = self.store.get(ref)
            if plugin.enabled:
                raise WrongState("cannot set on an active plugin, disable plugin before setting")
            plugin.settings = apply_settings(plugin.config, plugin.settings, args)
            self.store.save(plugin)

    def locked(self) -> asyncio.Lock:
        """The store's lock, for changes made elsewhere (an upgrade's swap of the rootfs)."""
        return self._lock

    def event(self, plugin: ManagedPlugin, action: str) -> None:
        self._events.publish("plugin", action, plugin.id, {"name": plugin.name})

    # ---- running ----
    async def _start(self, plugin: ManagedPlugin, wait: float = SOCKET_WAIT_SECONDS) -> None:
        runtime_dir = self._exec_root / plugin.id
        bundle = self._bundles / plugin.id
        await self._forget_runtime(plugin.id)  # a run that ended while the daemon was down
        await asyncio.to_thread(self._write_bundle, plugin, runtime_dir, bundle)
        await self._output_done(plugin.id)  # the last run's lines first, then a new spool
        await asyncio.to_thread(output.forget, bundle)
        try:
            await self._monitor.create(MonitorStart(
                container_id=plugin.id, bundle=bundle, runtime=self._runtime,
                log_path=bundle / output.SPOOL, terminal=False, stdin=False, stdin_once=False,
                log_size_max=_LOG_SIZE_MAX))
            self._forward(plugin)
            await self._runtime.start(plugin.id)
            await self._wait_socket(plugin, wait)
        except BaseException:
            await self._stop(plugin)
            raise
        self._watch(plugin)
        log.info("plugin %s enabled (%s)", plugin.name, plugin.id[:12])

    def _forward(self, plugin: ManagedPlugin) -> None:
        """The plugin's stdout/stderr into the daemon's log while it runs (moby's plugin=<id>)."""
        task = output.forward(plugin.id, self._bundles / plugin.id,
                              lambda: self._monitor.is_alive(plugin.id))
        self._outputs[plugin.id] = task
        task.add_done_callback(lambda t: self._outputs.pop(plugin.id, None)
                               if self._outputs.get(plugin.id) is t else None)

    async def _output_done(self, plugin_id: str) -> None:
        """Once the plugin's process is gone its shipper drains the spool and ends: waited for
        (bounded), so a new run never has two shippers on one spool."""
        task = self._outputs.pop(plugin_id, None)
        if task is None:
            return
        try:
            await asyncio.wait_for(task, OUTPUT_DRAIN_SECONDS)
        except (TimeoutError, DockyardError, OSError) as exc:
            log.debug("output of plugin %s: %r", plugin_id[:12], exc)

    def _write_bundle(self, plugin: ManagedPlugin, runtime_dir: Path, bundle: Path) -> None:
        shutil.rmtree(runtime_dir, ignore_errors=True)  # an old socket would pass for a ready one
        runtime_dir.mkdir(parents=True, mode=0o700)
        bundle.mkdir(parents=True, exist_ok=True)
        propagated = None
        if plugin.config["PropagatedMount"]:
            propagated = self.store.dir(plugin.id) / "propagated-mount"
            propagated.mkdir(exist_ok=True)
        spec = plugin_spec(plugin.id, plugin.config, plugin.settings, rootfs=self.store.rootfs(plugin.id),
                           runtime_dir=runtime_dir, propagated=propagated)
        tmp = bundle / "config.json.tmp"
        tmp.write_text(json.dumps(spec, indent=1))
        tmp.replace(bundle / "config.json")

    async def _wait_socket(self, plugin: ManagedPlugin, wait: float = SOCKET_WAIT_SECONDS) -> None:
        path = self._socket(plugin)
        deadline = time.monotonic() + wait
        error: OSError | None = None
        while time.monotonic() < deadline:
            try:
                _, writer = await asyncio.open_unix_connection(str(path))
            except OSError as exc:
                error = exc
                if self._monitor.exit_code(plugin.id) is not None:
                    break  # the process is gone: no socket will come
                await asyncio.sleep(0.05)
                continue
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return
        raise Unavailable(f"dial unix {path}: connect: {error.strerror if error else 'timeout'}"
                          f" (plugin {plugin.name} did not listen on its socket)")

    def _watch(self, plugin: ManagedPlugin) -> None:
        self._stopping.discard(plugin.id)
        self._watchers[plugin.id] = asyncio.get_running_loop().create_task(self._watch_exit(plugin.id))

    async def _watch_exit(self, plugin_id: str) -> None:
        started = time.monotonic()
        try:
            code = await self._monitor.wait(plugin_id)
        except DockyardError as exc:
            code = -1
            log.debug("waiting for plugin %s: %s", plugin_id[:12], exc)
        if plugin_id in self._stopping:
            return
        self._watchers.pop(plugin_id, None)
        plugin = self.store.find(plugin_id)
        if plugin is None or not plugin.enabled:
            return
        if self._registry is not None:
            self._registry.forget(plugin.name)
        log.warning("plugin %s exited with %d", plugin.name, code)
        async with self._lock:
            await self._forget_runtime(plugin_id)
            if time.monotonic() - started < _CRASH_LOOP_SECONDS:
                log.error("plugin %s keeps exiting: disabled", plugin.name)
                plugin.enabled = False
                self.store.save(plugin)
                return
            try:
                await self._start(plugin)
            except DockyardError as exc:
                log.error("plugin %s could not be restarted: %s", plugin.name, exc)
                plugin.enabled = False
                self.store.save(plugin)

    async def _stop(self, plugin: ManagedPlugin) -> None:
        """SIGTERM, then SIGKILL after the grace period; then no runtime state is left."""
        self._stopping.add(plugin.id)
        watcher = self._watchers.pop(plugin.id, None)
        if self._registry is not None:
            self._registry.forget(plugin.name)
        if self._monitor.is_alive(plugin.id):
            for signum in (signal.SIGTERM, signal.SIGKILL):
                with contextlib.suppress(DockyardError):
                    await self._runtime.kill(plugin.id, signum, all_processes=signum == signal.SIGKILL)
                try:
                    await asyncio.wait_for(self._monitor.wait(plugin.id), STOP_GRACE_SECONDS)
                    break
                except (TimeoutError, DockyardError):
                    log.warning("plugin %s did not stop on signal %d", plugin.name, signum)
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await watcher
        await self._forget_runtime(plugin.id)
        await self._output_done(plugin.id)

    async def _forget_runtime(self, plugin_id: str) -> None:
        with contextlib.suppress(DockyardError):
            await self._runtime.delete(plugin_id, force=True)
        with contextlib.suppress(DockyardError):
            await self._monitor.cleanup(plugin_id)
        fd = self._dirfds.pop(plugin_id, None)
        if fd is not None:
            os.close(fd)
        runtime_dir = self._exec_root / plugin_id
        await asyncio.to_thread(shutil.rmtree, runtime_dir, True)

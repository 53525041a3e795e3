"""The composition root and the ``dockyardd`` entry point.

Builds the services from a :class:`DaemonConfig`, plugs the backends into the core, and serves the
API on each ``-H unix://`` socket. SIGTERM stops serving and leaves containers running: conmon keeps
them, and the next daemon reconnects to them.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import resource
import signal
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from dockyard.config import DEFAULT_DATA_ROOT, DEFAULT_EXEC_ROOT, DEFAULT_HOST, DaemonConfig, load_daemon_json
from dockyard.core.engine import Engine
from dockyard.core.events import EventBus
from dockyard.core.lazy import Lazy
from dockyard.core.metadata import Metadata
from dockyard.core.networks.service import NetworkService
from dockyard.core.recovery import clean_scratch
from dockyard.core.runtime.backend import RuntimeBackend
from dockyard.core.runtime.spec import INHERITED_NOFILE_ENV
from dockyard.core.runtime.userns import UsernsRemap
from dockyard.core.system import AUTO_RUNTIME, SystemService, resolve_default_runtime
from dockyard.daemon_options import (
    add_remote_options,
    default_bridge_options,
    load_seccomp_profile,
    refuse_flag_conflicts,
    refuse_unapplied,
    remote_changes,
)

if TYPE_CHECKING:
    from dockyard.api.web import Middleware
    from dockyard.api.web.server import Server
    from dockyard.backends.bridge import BridgeBackend
    from dockyard.core.builder.service import BuilderService
    from dockyard.core.containers.service import ContainerService
    from dockyard.core.networks.drivers import NetworkDrivers
    from dockyard.core.plugins.managed import ManagedPlugins
    from dockyard.core.plugins.registry import PluginRegistry
    from dockyard.core.plugins.transfer import PluginTransfer
    from dockyard.core.runtime.backend import Monitor
    from dockyard.core.swarm.swarm import Swarm
from dockyard.errors import DockyardError, InvalidArgument

log = logging.getLogger("dockyard.daemon")

# httpx's __init__ imports its command line (httpx._main, with rich, click and pygments) whenever
# those are installed, as they are for dockyard's CLI; the daemon never runs it. A None entry makes
# that import fail, which httpx expects (it then defines a stub): about 4 MB less resident.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
_M_ARENA_MAX = -8  # glibc's mallopt parameter (malloc.h)


def build_engine(config: DaemonConfig) -> Engine:
    """Wire every service from the config; tests call this with a temporary root."""
    from dockyard.backends.cgroup_warmup import MigrationWarmup
    from dockyard.backends.cgroups import FsCgroupReader
    from dockyard.backends.conmon import ConmonMonitor
    from dockyard.backends.http_fetch import HttpxFetcher
    from dockyard.backends.logdrivers import log_service
    from dockyard.backends.oci_cli import CliRuntime
    from dockyard.backends.overlay import CopySnapshotter, OverlaySnapshotter, SyscallMounter
    from dockyard.backends.registry import HttpxRegistry
    from dockyard.core.containers.service import ContainerService
    from dockyard.core.content import ContentStore
    from dockyard.core.distribution.service import DistributionService
    from dockyard.core.images.service import ImageService
    from dockyard.core.volumes.service import VolumeService

    config = resolve_default_runtime(config)  # "auto": crun where the host lets it run
    for directory in (config.data_root, config.exec_root, config.tmp_dir):
        directory.mkdir(parents=True, exist_ok=True)
    db = Metadata(config.db_path)
    events = EventBus()
    content = ContentStore(config.content_dir)
    snapshotter = (CopySnapshotter(config.snapshots_dir) if config.snapshotter == "copy"
                   else OverlaySnapshotter(config.snapshots_dir))
    # Before any service opens: the tmp dir and build snapshots of a daemon killed mid-operation.
    clean_scratch(config.tmp_dir, config.snapshots_dir / "active", mounter=SyscallMounter(),
                  snapshotter=snapshotter)
    images = ImageService(config=config, db=db, content=content, snapshotter=snapshotter,
                          fetcher=HttpxFetcher(), events=events)
    system = SystemService(config)
    warmup = MigrationWarmup.of_this_process()
    runtimes: dict[str, RuntimeBackend] = {
        name: CliRuntime(name, path, root=config.exec_root / "runtime" / name, warmup=warmup)
        for name, path in system.runtimes().items()}
    monitor = ConmonMonitor(config.conmon_path, exec_root=config.exec_root, warmup=warmup)
    remap = userns_remap(config)
    plugins = build_plugins(config)
    volumes = VolumeService(config=config, db=db, mounter=SyscallMounter(), events=events,
                            root_owner=(remap.root_uid, remap.root_gid) if remap else None,
                            plugins=plugins)
    networks = build_networks(config, db, events, plugins)
    containers = ContainerService(config=config, db=db, images=images, snapshotter=snapshotter,
                                  mounter=SyscallMounter(), runtimes=runtimes, monitor=monitor,
                                  volumes=volumes, networks=networks, cgroups=FsCgroupReader(),
                                  events=events, userns=remap, logging=log_service(config))
    images.set_image_users(containers.image_users)
    volumes.set_users(containers.volume_users)
    distribution = DistributionService(
        registry=HttpxRegistry(insecure_registries=config.insecure_registries, certs_dirs=config.certs_dirs,
                               registry_mirrors=config.registry_mirrors), images=images,
        content=content, db=db, snapshotter=snapshotter, tmp_dir=config.tmp_dir,
        max_concurrent_downloads=config.max_concurrent_downloads,
        max_concurrent_uploads=config.max_concurrent_uploads, events=events,
        max_unpack_size=config.max_unpack_size)
    def make_builder() -> BuilderService:
        from dockyard.core.builder.service import BuilderService

        return BuilderService(config=config, db=db, images=images, containers=containers,
                              snapshotter=snapshotter, mounter=SyscallMounter(), fetcher=HttpxFetcher())

    builder = Lazy(make_builder)
    swarm = build_swarm_part(config, db, events, containers, networks, system)
    managed, transfer = build_managed_plugins(config, db, runtimes, monitor, plugins, events)
    return Engine(config=config, images=images, containers=containers, system=system,
                  volumes=volumes, distribution=distribution, builder=builder, networks=networks,
                  events=events, swarm=swarm, plugins=plugins,
                  managed_plugins=managed, plugin_transfer=transfer)


def build_plugins(config: DaemonConfig | None = None) -> PluginRegistry:
    """Plugins found by name: legacy spec/socket files now; managed plugins add their own source.
    ``plugin-dirs`` (tests) replaces the host's discovery directories."""
    from dockyard.backends.plugins.discovery import LegacyDiscovery
    from dockyard.backends.plugins.transport import connect
    from dockyard.core.plugins.registry import PluginRegistry

    dirs = config.plugin_dirs if config is not None else ()
    discovery = LegacyDiscovery(dirs, dirs) if dirs else LegacyDiscovery()
    return PluginRegistry(connect=connect, sources=[discovery])


def build_managed_plugins(config: DaemonConfig, db: Metadata, runtimes: dict[str, RuntimeBackend],
                          monitor: Monitor, registry: PluginRegistry, events: EventBus
                          ) -> tuple[ManagedPlugins | None, PluginTransfer | None]:
    """``docker plugin …``: plugins run under the default runtime and conmon, found by name
    through the registry (a PluginSource); a registry client of their own for install/push."""
    from dockyard.backends.registry import HttpxRegistry
    from dockyard.core.plugins.managed import ManagedPlugins
    from dockyard.core.plugins.store import PluginStore
    from dockyard.core.plugins.transfer import PluginTransfer

    runtime = runtimes.get(config.default_runtime)
    if runtime is None:
        return None, None
    managed = ManagedPlugins(store=PluginStore(db, config.data_root / "plugins"), runtime=runtime,
                             monitor=monitor, exec_root=config.exec_root / "plugins", registry=registry,
                             events=events, live_restore=config.live_restore,
                             unpack_limit=config.max_unpack_size)
    registry.sources.insert(0, managed)  # as moby's store: managed plugins before legacy ones

    def volume_users(name: str) -> int:
        # Volumes record their driver by the name they were created with (``vol`` or ``vol:latest``).
        row = db.query_one("SELECT COUNT(*) AS n FROM volumes "
                           "WHERE json_extract(record, '$.driver') IN (?, ?)", (name, f"{name}:latest"))
        return int(row["n"]) if row is not None else 0
    managed.set_users(volume_users)
    client = HttpxRegistry(insecure_registries=config.insecure_registries, certs_dirs=config.certs_dirs,
                           registry_mirrors=config.registry_mirrors)
    return managed, PluginTransfer(plugins=managed, registry=client)


def build_swarm_part(config: DaemonConfig, db: Metadata, events: EventBus, containers: ContainerService,
                     networks: NetworkService | None, system: SystemService) -> Swarm:
    """Swarm mode (core/swarm/): ingress ports relayed round-robin from the daemon's loop."""
    from dockyard.backends.ingress import RoundRobinIngress
    from dockyard.backends.vip import NftVirtualIPs
    from dockyard.core.swarm.placement import NodeFacts
    from dockyard.core.swarm.swarm import build_swarm

    swarm = build_swarm(db=db, events=events, containers=containers, networks=networks,
                        publisher=RoundRobinIngress(), data_root=config.data_root,
                        exec_root=config.exec_root, facts=NodeFacts(
                            hostname=system.facts.hostname, nano_cpus=system.facts.cpus * 10**9,
                            memory=system.facts.memory),
                        vips=NftVirtualIPs(_host_names(config)[1] + "_vip"))
    if networks is not None:
        networks.swarm_check = swarm.require_manager  # overlay networks need an active swarm
    return swarm


def userns_remap(config: DaemonConfig) -> UsernsRemap | None:
    """``--userns-remap``: the subordinate ranges (``dockremap`` made for ``default``), checked as
    dockerd checks them before anything runs."""
    from dockyard.core.runtime.userns import check_root_access, load_remap

    if not config.userns_remap:
        return None
    remap = load_remap(config.userns_remap)
    check_root_access(config.data_root)
    log.info("user namespace remapping to %s (uid %d, gid %d)", remap.user, remap.root_uid,
             remap.root_gid)
    return remap


def build_networks(config: DaemonConfig, db: Metadata, events: EventBus | None = None,
                   plugins: PluginRegistry | None = None) -> NetworkService:
    """The bridge driver, macvlan and ipvlan, remote drivers through ``plugins``. Names of
    host-wide objects (the default bridge, our nftables table) are derived from the data root, so
    several daemons on one host never touch each other's."""
    from dockyard.backends.bridge import BridgeBackend
    from dockyard.backends.dns import EmbeddedDns
    from dockyard.backends.netlink import NetlinkLinks
    from dockyard.backends.nftables import NftFirewall
    from dockyard.core.containers.hostfiles import host_nameservers

    bridge, table = _host_names(config)
    if not config.icc:
        from dockyard.backends.nftables import enable_bridge_netfilter

        enable_bridge_netfilter()
    backend = BridgeBackend(NetlinkLinks(config.exec_root / "netns"), NftFirewall(table))
    return NetworkService(db=db, backend=backend, resolver=EmbeddedDns(), default_bridge=bridge,
                          drivers=network_drivers(backend, plugins),
                          upstreams=host_nameservers(), events=events,
                          default_bridge_options=default_bridge_options(config),
                          default_subnet=config.bip,
                          address_pools=[(str(p["base"]), int(p["size"]))
                                         for p in config.default_address_pools])


def network_drivers(backend: BridgeBackend, plugins: PluginRegistry | None) -> NetworkDrivers:
    """libnetwork's driver table: the built-ins, then remote NetworkDriver plugins by name."""
    from dockyard.backends.sandbox_links import NetlinkSandboxLinks
    from dockyard.backends.vlan import VlanDriver
    from dockyard.core.networks.drivers import NetworkDrivers
    from dockyard.core.networks.remote import RemoteDriver

    links = NetlinkSandboxLinks()
    return NetworkDrivers({"bridge": backend, "overlay": backend, "macvlan": VlanDriver("macvlan"),
                           "ipvlan": VlanDriver("ipvlan")}, plugins=plugins,
                          remote=lambda plugin: RemoteDriver(plugin, links))


def _host_names(config: DaemonConfig) -> tuple[str, str]:
    """The default bridge's and our nftables table's names, derived from the data root."""
    import hashlib

    if config.data_root == DEFAULT_DATA_ROOT:
        return "dockyard0", "dockyard"
    tag = hashlib.sha256(str(config.data_root).encode()).hexdigest()[:8]
    return f"dy0-{tag}", f"dockyard_{tag}"


def _parse_args(argv: list[str]) -> tuple[DaemonConfig, Path | None]:
    parser = argparse.ArgumentParser(prog="dockyardd", description="The Dockyard container engine daemon")
    parser.add_argument("-H", "--host", action="append", dest="hosts",
                        help=f"daemon socket to listen on (default {DEFAULT_HOST})")
    parser.add_argument("--data-root", type=Path,
                        help=f"root of persistent state (default {DEFAULT_DATA_ROOT})")
    parser.add_argument("--exec-root", type=Path,
                        help=f"root of execution state (default {DEFAULT_EXEC_ROOT})")
    parser.add_argument("-p", "--pidfile", type=Path, help="path of the daemon's PID file")
    parser.add_argument("--config-file", type=Path, help="daemon.json to read")
    parser.add_argument("-l", "--log-level", choices=["debug", "info", "warn", "error", "fatal"])
    parser.add_argument("--default-runtime", help="OCI runtime for containers (runc or crun)")
    parser.add_argument("--bind-hybrid-controllers", action="store_true", default=None,
                        help="bind cgroup2 controllers of a hybrid host to cgroup v1 so crun can run")
    parser.add_argument("--userns-remap",
                        help="user/group setting for user namespaces (default or user[:group])")
    parser.add_argument("--no-new-privileges", action="store_true", default=None,
                        help="set no-new-privileges by default for new containers")
    parser.add_argument("--cpu-rt-period", type=int,
                        help="real-time period (µs) of the containers' parent cgroup")
    parser.add_argument("--cpu-rt-runtime", type=int,
                        help="real-time runtime (µs) containers may share (cgroup v1)")
    parser.add_argument("--emulation", action="store_true", default=None,
                        help="register qemu-user-static in binfmt_misc to run other platforms' images")
    parser.add_argument("--storage-driver", choices=["overlay2", "overlay", "copy"], help=argparse.SUPPRESS)
    parser.add_argument("--authorization-plugin", action="append", dest="authorization_plugins",
                        help="authorization plugins to load")
    parser.add_argument("--plugin-dir", action="append", type=Path, dest="plugin_dirs",
                        help=argparse.SUPPRESS)  # tests: legacy plugin discovery here only
    add_remote_options(parser)
    args = parser.parse_args(argv)
    config = DaemonConfig(default_runtime=AUTO_RUNTIME)
    config_file = args.config_file
    if config_file is None and Path("/etc/dockyard/daemon.json").exists():
        config_file = Path("/etc/dockyard/daemon.json")
    if config_file is not None:
        config = load_daemon_json(config_file, config)
        refuse_flag_conflicts(config_file, args)
    changes: dict[str, object] = {}
    if args.hosts:
        changes["hosts"] = tuple(args.hosts)
    if args.data_root:
        changes["data_root"] = args.data_root.absolute()
    if args.exec_root:
        changes["exec_root"] = args.exec_root.absolute()
    if args.pidfile:
        changes["pidfile"] = args.pidfile.absolute()
    if args.log_level:
        changes["log_level"] = args.log_level
    if args.default_runtime:
        changes["default_runtime"] = args.default_runtime
    if args.bind_hybrid_controllers:
        changes["bind_hybrid_controllers"] = True
    if args.userns_remap:
        changes["userns_remap"] = args.userns_remap
    if args.no_new_privileges:
        changes["no_new_privileges"] = True
    if args.emulation:
        changes["emulation"] = True
    for key in ("cpu_rt_period", "cpu_rt_runtime"):
        if getattr(args, key) is not None:
            changes[key] = getattr(args, key)
    if args.storage_driver:
        changes["snapshotter"] = "copy" if args.storage_driver == "copy" else "overlay"
    changes.update(remote_changes(args))
    if args.authorization_plugins:
        changes["authorization_plugins"] = tuple(args.authorization_plugins)
    if args.plugin_dirs:
        changes["plugin_dirs"] = tuple(p.absolute() for p in args.plugin_dirs)
    config = replace(config, **changes)  # type: ignore[arg-type]
    if config.pidfile is None:
        config = replace(config, pidfile=config.exec_root / "dockyardd.pid")
    return config, config_file


def _claim_pidfile(path: Path) -> None:
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        pid = 0
    if pid and pid != os.getpid():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            pass
        else:
            raise InvalidArgument(f"pid file found, ensure dockyardd is not running or delete {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{os.getpid()}\n")


def _register_emulators() -> None:
    from dockyard.backends.binfmt import register
    from dockyard.core.system import go_arch

    try:
        platforms = register(go_arch())
    except OSError as exc:
        log.warning("emulation: cannot register binfmt_misc handlers: %s", exc)
        return
    if not platforms:
        log.warning("emulation: no qemu-user-static interpreters found (apt-get install qemu-user-static)")
def raise_nofile_limit() -> None:
    """Soft RLIMIT_NOFILE up to the hard limit: every client, stream, container's sync pipe and
    attach socket is a descriptor, and 1024 runs out under a hundred concurrent clients (dockerd's Go
    runtime does the same). Containers get the default back in their spec (core/runtime/spec.py)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if resource.RLIM_INFINITY not in (soft, hard):
        os.environ.setdefault(INHERITED_NOFILE_ENV, f"{soft}:{hard}")
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        log.info("raised RLIMIT_NOFILE soft limit from %d to %d", soft, hard)


async def serve(config: DaemonConfig) -> None:
    from dockyard.api import web
    from dockyard.api.app import build_app
    from dockyard.api.listeners import plan_listeners, start_listeners
    from dockyard.core.containers.leftovers import recover as recover_containers

    listeners = plan_listeners(config)  # refused settings stop us before anything is made
    watch_children_by_pidfd()
    if config.bind_hybrid_controllers:
        from dockyard.backends.cgroups import bind_v1_controllers
        from dockyard.core.system import hybrid_v2_controllers

        bind_v1_controllers(hybrid_v2_controllers())
    if config.emulation:
        _register_emulators()
    if config.cpu_rt_runtime:
        from dockyard.backends.cgroups import set_rt_budget

        set_rt_budget("dockyard", period=config.cpu_rt_period, runtime=config.cpu_rt_runtime)
    engine = build_engine(config)
    config = engine.config  # the default runtime chosen, when it was left to us
    for name, reason in engine.system.unusable_runtimes().items():
        log.warning("runtime %s disabled: %s", name, reason)
    if config.default_runtime not in engine.system.runtimes():
        raise InvalidArgument(f"default runtime {config.default_runtime!r} is not usable on this host")
    if config.default_runtime_reason:
        log.info("default runtime %s: %s", config.default_runtime, config.default_runtime_reason)
    await engine.images.open()
    await engine.volumes.open()
    if engine.networks is not None:
        await engine.networks.open()  # before containers: their reconnect may leave networks
    if engine.managed_plugins is not None:
        await engine.managed_plugins.open()  # before containers, as moby: their volumes may need them
    if config.authorization_plugins and engine.plugins is not None:
        from dockyard.api.authz import AuthzChain

        # As dockerd: no start without them (managed ones are open by now).
        await AuthzChain(config.authorization_plugins, engine.plugins).validate()
    await engine.containers.open()
    # Paused by a commit, build steps, host ports taken while we were down.
    await recover_containers(engine.containers, config.containers_dir,
                             engine.networks.port_conflicts if engine.networks is not None else ())
    if engine.swarm is not None:
        await engine.swarm.open()  # after containers: its tasks are containers
    metrics = None
    if config.metrics_addr:  # prometheus_client (~2 MB) only in a daemon that serves metrics
        from dockyard.api.metrics import EngineMetrics, start_metrics, timing_middleware

        metrics = EngineMetrics(engine)
    app = build_app(engine, ((timing_middleware(metrics),) if metrics else ()) + _trace_middlewares())
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    await start_listeners(runner, config, listeners)
    metrics_runner = await start_metrics(metrics, config.metrics_addr) if metrics else None
    counting = asyncio.get_running_loop().create_task(metrics.count_events()) if metrics else None
    trimming = asyncio.get_running_loop().create_task(trim_when_quiet(runner.server))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    log.info("dockyardd ready (data-root %s, default runtime %s)", config.data_root, config.default_runtime)
    trim_malloc()
    await stop.wait()
    log.info("shutting down; running containers keep running")
    trimming.cancel()
    if counting is not None:
        counting.cancel()
    if metrics_runner is not None:
        await metrics_runner.cleanup()
    await runner.cleanup()
    if engine.swarm is not None:
        await engine.swarm.close()
    await engine.containers.close()
    if engine.managed_plugins is not None:
        await engine.managed_plugins.close()
    if engine.plugin_transfer is not None:
        await engine.plugin_transfer.close()
    if engine.networks is not None:
        await engine.networks.close()
    await engine.images.close()
    if engine.distribution is not None:
        await engine.distribution.close()  # the registry client's pooled connections
    for sock in config.socket_paths:
        sock.unlink(missing_ok=True)


def limit_malloc_arenas(arenas: int = 2) -> None:
    """At most ``arenas`` malloc arenas (what ``MALLOC_ARENA_MAX`` sets), unless the environment
    chose: glibc gives each thread that allocates its own arena, up to 8 per core, and the daemon's
    worker threads (``asyncio.to_thread``, netns threads) each kept megabytes of freed memory in
    theirs. The daemon's allocations are small and its hot work is on the event loop's thread."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return
    import ctypes

    try:
        ctypes.CDLL(None).mallopt(_M_ARENA_MAX, arenas)
    except (OSError, AttributeError):  # not glibc
        return


def watch_children_by_pidfd() -> None:
    """Learn of our subprocesses' exits (conmon, runc …) from a pidfd on the event loop.

    Python 3.11's default watcher starts a thread for every subprocess, whose start the loop
    waits for (~0.3 ms on each container start); 3.12 uses pidfds itself. The daemon runs one
    loop, so a watcher bound to it sees every subprocess."""
    if sys.version_info >= (3, 12):
        return
    try:
        os.close(os.pidfd_open(os.getpid()))
    except (AttributeError, OSError):  # Linux before 5.3
        return
    watcher = asyncio.PidfdChildWatcher()
    watcher.attach_loop(asyncio.get_running_loop())
    asyncio.set_child_watcher(watcher)


def trim_malloc() -> None:
    """Give the heap's free pages back (glibc's ``malloc_trim``): start-up (imports, the restore of
    records, networks and containers) frees far more than it keeps, and glibc holds on to it."""
    import ctypes

    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        return


async def trim_when_quiet(server: Server, every: float = 5.0) -> None:
    """Every ``every`` seconds, if requests came and went since the last look and none is under
    way, give the heap's free pages back: a pull, an import or a build frees megabytes of
    buffers that glibc would otherwise keep (~0.7 MB after a ``docker import`` here)."""
    seen = server.answered
    while True:
        await asyncio.sleep(every)
        if server.answered != seen and not server.busy:
            seen = server.answered
            trim_malloc()


def _trace_middlewares() -> tuple[Middleware, ...]:
    from dockyard.api.trace import trace_middleware
    from dockyard.core import trace

    return (trace_middleware(),) if trace.enabled() else ()


def _trace_to_file() -> None:
    """``DOCKYARD_TRACE=<file>``: the start path's spans (core/trace.py) go there, and only there."""
    from dockyard.core import trace

    path = os.environ.get(trace.TRACE_ENV)
    if not path:
        return
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(message)s"))
    trace.log.addHandler(handler)
    trace.log.setLevel(logging.DEBUG)
    trace.log.propagate = False


def main(argv: list[str] | None = None) -> None:
    try:
        config, _ = _parse_args(sys.argv[1:] if argv is None else argv)
    except DockyardError as exc:  # a bad daemon.json: dockerd's one line, before any logging
        print(f"dockyardd: {exc}", file=sys.stderr)
        sys.exit(1)
    level = {"warn": "WARNING", "fatal": "CRITICAL"}.get(config.log_level, config.log_level.upper())
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if config.log_level != "debug":
        # httpx logs every registry request at INFO: a pull would flood the daemon's log.
        logging.getLogger("httpx").setLevel(logging.WARNING)
    raise_nofile_limit()
    limit_malloc_arenas()
    _trace_to_file()
    try:
        refuse_unapplied(config)  # before anything is made on disk
        config = load_seccomp_profile(config)
        assert config.pidfile is not None
        _claim_pidfile(config.pidfile)
        try:
            asyncio.run(serve(config))
        finally:
            config.pidfile.unlink(missing_ok=True)
    except DockyardError as exc:
        print(f"dockyardd: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()

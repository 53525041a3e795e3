"""Prometheus ``/metrics`` (``--metrics-addr``): dockerd's engine metrics and cAdvisor's per-container ones.

The server is its own site on its own address, so a scrape never queues behind API requests.
Action timings come from a middleware on the API app (the time a ``create``/``start``/``delete``
request took, as dockerd observes around its own handlers); events are counted by a subscriber of
the event bus; container states, health checks and cgroup readings are taken at scrape time, the
cgroup files read in worker threads and the text rendered in one, off the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import platform
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from dockyard import __version__
from dockyard.api import web
from dockyard.api.listeners import parse_tcp
from dockyard.api.routing import Handler
from dockyard.api.web import Middleware
from dockyard.core.containers.model import Container
from dockyard.core.containers.stats import StatsSample, cgroups_path
from dockyard.core.engine import Engine
from dockyard.errors import DockyardError

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
METRICS_KEY = web.AppKey("metrics", object)
# Container labels exported as cAdvisor's ``container_label_<sanitised>`` labels.
EXPORTED_LABELS = ("com.docker.compose.project", "com.docker.compose.service",
                   "com.docker.swarm.service.name", "com.docker.swarm.task.name")
_VERSION = re.compile(r"^/v[\d.]+")
_CONTAINER_VERBS = frozenset({"start"})
_NETWORK_VERBS = frozenset({"connect", "disconnect"})


def _label_name(label: str) -> str:
    return "container_label_" + re.sub(r"[^a-zA-Z0-9_]", "_", label)


def container_action(method: str, path: str) -> tuple[str, str] | None:
    """(histogram, action) for a timed API request, or None: dockerd's container actions
    (create, start, delete, commit, changes) and network actions (create, delete, connect,
    disconnect)."""
    parts = [p for p in _VERSION.sub("", path).split("/") if p]
    if parts == ["commit"] and method == "POST":
        return "container", "commit"
    if len(parts) == 3 and parts[0] == "containers" and parts[2] == "changes" and method == "GET":
        return "container", "changes"
    if len(parts) < 2 or parts[0] not in ("containers", "networks"):
        return None
    kind = "container" if parts[0] == "containers" else "network"
    verbs = _CONTAINER_VERBS if kind == "container" else _NETWORK_VERBS
    if parts[1:] == ["create"] and method == "POST":
        return kind, "create"
    if len(parts) == 2 and method == "DELETE":
        return kind, "delete"
    if len(parts) == 3 and method == "POST" and parts[2] in verbs:
        return kind, parts[2]
    return None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What one scrape reads from the engine on the loop, before rendering in a thread."""

    states: dict[str, int]
    health: tuple[int, int]
    samples: list[tuple[Container, StatsSample]]
    subscribers: int


class EngineMetrics(Collector):
    """The registry and the instruments the API feeds; also the collector of scrape-time values."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        disable_created_metrics()  # type: ignore[no-untyped-call]  # dockerd exports no *_created series
        self.registry = CollectorRegistry(auto_describe=False)
        self.container_actions = Histogram(
            "engine_daemon_container_actions_seconds", "The number of seconds it takes to process "
            "each container action", ["action"], registry=self.registry)
        self.network_actions = Histogram(
            "engine_daemon_network_actions_seconds", "The number of seconds it takes to process "
            "each network action", ["action"], registry=self.registry)
        self.events = Counter("engine_daemon_events", "The number of events logged",
                              registry=self.registry)
        self.registry.register(self)
        self._snapshot: Snapshot | None = None
        self._lock = asyncio.Lock()

    # ---- feeding ----
    def observe(self, method: str, path: str, seconds: float) -> None:
        found = container_action(method, path)
        if found is not None:
            kind, action = found
            histogram = self.container_actions if kind == "container" else self.network_actions
            histogram.labels(action).observe(seconds)

    async def count_events(self) -> None:
        if self.engine.events is None:
            return
        async for _event in self.engine.events.subscribe():
            self.events.inc()

    # ---- scraping ----
    async def _take_snapshot(self) -> Snapshot:
        containers = self.engine.containers
        running, paused, stopped = await containers.counts()
        active = [c for c in await containers.list() if c.state.is_active and c.pid]
        results = await asyncio.gather(*(containers.resources.sample(c.id) for c in active),
                                       return_exceptions=True)
        samples = [r for r in results if isinstance(r, tuple)]
        events = self.engine.events
        return Snapshot(states={"running": running, "paused": paused, "stopped": stopped},
                        health=containers.health_checks, samples=samples,
                        # less our own subscription, which counts events_total
                        subscribers=max(events.listeners - 1, 0) if events is not None else 0)

    async def render(self) -> bytes:
        async with self._lock:  # one scrape at a time: the snapshot is shared with collect()
            self._snapshot = await self._take_snapshot()
            try:
                return await asyncio.to_thread(generate_latest, self.registry)
            finally:
                self._snapshot = None

    def collect(self) -> Iterable[Metric]:
        snap = self._snapshot
        if snap is None:
            return
        yield from self._engine_families(snap)
        yield from container_families(snap.samples)

    def _engine_families(self, snap: Snapshot) -> Iterator[Metric]:
        facts = self.engine.system.facts
        info = GaugeMetricFamily("engine_daemon_engine_info", "The information related to the engine "
                                 "and the OS it is running on", labels=[
                                     "architecture", "commit", "daemon_id", "graphdriver", "kernel",
                                     "os", "os_type", "os_version", "version"])
        driver = "overlay2" if self.engine.config.snapshotter == "overlay" else self.engine.config.snapshotter
        info.add_metric([platform.machine(), "", "", driver, facts.kernel_version,
                         facts.operating_system, "linux", facts.os_version, __version__], 1)
        yield info
        states = GaugeMetricFamily("engine_daemon_container_states_containers",
                                   "The count of containers in various states", labels=["state"])
        for state, count in snap.states.items():
            states.add_metric([state], count)
        yield states
        total, failed = snap.health
        yield CounterMetricFamily("engine_daemon_health_checks", "The total number of health checks",
                                  value=total)
        yield CounterMetricFamily("engine_daemon_health_checks_failed",
                                  "The total number of failed health checks", value=failed)
        yield GaugeMetricFamily("engine_daemon_events_subscribers_total",
                                "The number of current subscribers to events", value=snap.subscribers)


def _identity(container: Container) -> list[str]:
    labels = container.config.labels
    return [cgroups_path(container), container.name.lstrip("/"), container.config.image,
            *(labels.get(key, "") for key in EXPORTED_LABELS)]


def container_families(samples: list[tuple[Container, StatsSample]]) -> Iterator[Metric]:
    """cAdvisor's names and units (seconds, bytes) for each running container's sample."""
    names = ["id", "name", "image", *(_label_name(k) for k in EXPORTED_LABELS)]

    def counter(name: str, doc: str, extra: tuple[str, ...] = ()) -> CounterMetricFamily:
        return CounterMetricFamily(name, doc, labels=[*names, *extra])

    def gauge(name: str, doc: str) -> GaugeMetricFamily:
        return GaugeMetricFamily(name, doc, labels=names)

    cpu = counter("container_cpu_usage_seconds_total",
                 "Cumulative cpu time consumed in seconds.", ("cpu",))
    user = counter("container_cpu_user_seconds_total",
                  "Cumulative user cpu time consumed in seconds.")
    system = counter("container_cpu_system_seconds_total",
                    "Cumulative system cpu time consumed in seconds.")
    usage = gauge("container_memory_usage_bytes",
                   "Current memory usage in bytes, including all memory regardless of when it was accessed")
    working = gauge("container_memory_working_set_bytes",
                     "Current working set in bytes.")
    limit = gauge("container_spec_memory_limit_bytes", "Memory limit for the container.")
    pids = gauge("container_processes",
                  "Number of processes running inside the container.")
    rx = counter("container_network_receive_bytes_total",
                "Cumulative count of bytes received", ("interface",))
    tx = counter("container_network_transmit_bytes_total",
                "Cumulative count of bytes transmitted", ("interface",))
    reads = counter("container_fs_reads_bytes_total",
                   "Cumulative count of bytes read", ("device",))
    writes = counter("container_fs_writes_bytes_total",
                    "Cumulative count of bytes written", ("device",))
    seen = gauge("container_last_seen", "Last time a container was seen by the exporter")
    now = time.time()
    for container, sample in samples:
        ident = _identity(container)
        cpu.add_metric([*ident, "total"], sample.cpu.total_ns / 1e9)
        user.add_metric(ident, sample.cpu.user_ns / 1e9)
        system.add_metric(ident, sample.cpu.kernel_ns / 1e9)
        usage.add_metric(ident, sample.memory.usage)
        inactive = sample.memory.stats.get("inactive_file", sample.memory.stats.get("total_inactive_file", 0))
        working.add_metric(ident, max(sample.memory.usage - inactive, 0))
        limit.add_metric(ident, sample.memory.limit)
        pids.add_metric(ident, sample.pids_current)
        for interface, counters in sample.networks.items():
            rx.add_metric([*ident, interface], counters.get("rx_bytes", 0))
            tx.add_metric([*ident, interface], counters.get("tx_bytes", 0))
        for entry in sample.io_bytes:
            device = f"{entry.major}:{entry.minor}"
            if entry.op.lower() == "read":
                reads.add_metric([*ident, device], entry.value)
            elif entry.op.lower() == "write":
                writes.add_metric([*ident, device], entry.value)
        seen.add_metric(ident, now)
    yield from (cpu, user, system, usage, working, limit, pids, rx, tx, reads, writes, seen)


def timing_middleware(metrics: EngineMetrics) -> Middleware:
    """Observe each container/network action's duration in its histogram."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        start = time.perf_counter()
        try:
            return await handler(request)
        finally:
            metrics.observe(request.method, request.path, time.perf_counter() - start)

    return middleware


def metrics_app(metrics: EngineMetrics) -> web.Application:
    async def scrape(_request: web.Request) -> web.StreamResponse:
        return web.Response(body=await metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    app = web.Application()
    app.router.add_get("/metrics", scrape)
    return app


async def start_metrics(metrics: EngineMetrics, addr: str) -> web.AppRunner:
    """Serve ``/metrics`` on ``addr`` (``127.0.0.1:9323``), its own listener beside the API's."""
    address = parse_tcp(addr if addr.startswith("tcp://") else f"tcp://{addr}", tls=False)
    runner = web.AppRunner(metrics_app(metrics))
    await runner.setup()
    try:
        await web.TCPSite(runner, address.host, address.port).start()
    except OSError as exc:
        await runner.cleanup()
        raise DockyardError(f"failed to start metrics server: listen tcp {addr}: {exc.strerror}") from exc
    log.info("metrics API listening on %s:%d", address.host, address.port)
    return runner

"""``/containers/{id}/update``, ``/containers/{id}/stats`` and ``/system/df``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from dockyard.api import web, wire
from dockyard.api.params import json_body, json_response, query_bool
from dockyard.api.routes.images import summary as image_summary
from dockyard.api.routes.volumes import volume_json
from dockyard.api.routing import RouteTable, engine
from dockyard.core.containers.model import Container
from dockyard.core.containers.stats import STATS_INTERVAL, BlkioEntry, CpuSample, StatsSample
from dockyard.core.disk_usage import disk_usage
from dockyard.core.timestamps import ZERO_TIME
from dockyard.errors import InvalidArgument

log = logging.getLogger(__name__)
table = RouteTable()


@table.post("/containers/{id}/update")
async def update(request: web.Request) -> web.StreamResponse:
    body = await json_body(request)
    warnings = await engine(request).containers.resources.update(request.match_info["id"], body)
    return json_response({"Warnings": warnings})


def _cpu_json(cpu: CpuSample, *, v2: bool) -> dict[str, Any]:
    usage: dict[str, Any] = {"total_usage": cpu.total_ns, "usage_in_kernelmode": cpu.kernel_ns,
                             "usage_in_usermode": cpu.user_ns}
    if not v2 and cpu.percpu_ns:
        usage["percpu_usage"] = list(cpu.percpu_ns)
    data: dict[str, Any] = {
        "cpu_usage": usage,
        "throttling_data": {"periods": cpu.periods, "throttled_periods": cpu.throttled_periods,
                            "throttled_time": cpu.throttled_ns}}
    if cpu.system_ns:
        data["system_cpu_usage"] = cpu.system_ns
        data["online_cpus"] = cpu.online_cpus
    return data


def _blkio_json(entries: tuple[BlkioEntry, ...]) -> list[dict[str, Any]] | None:
    return [{"major": e.major, "minor": e.minor, "op": e.op, "value": e.value}
            for e in entries] or None


def stats_json(container: Container, sample: StatsSample,
               previous: StatsSample | None) -> dict[str, Any]:
    """Docker's ContainerStatsResponse; ``previous`` fills ``precpu_stats`` (zeros when None)."""
    running = container.state.is_active
    memory: dict[str, Any] = {}
    if running:
        memory = {"usage": sample.memory.usage, "stats": sample.memory.stats,
                  "limit": sample.memory.limit}
        if not sample.cgroup_v2:
            memory["max_usage"] = sample.memory.max_usage
            memory["failcnt"] = sample.memory.failcnt
    pids: dict[str, Any] = {"current": sample.pids_current} if running else {}
    if running and sample.pids_limit:
        pids["limit"] = sample.pids_limit
    data: dict[str, Any] = {
        "name": container.name, "id": container.id, "os_type": "linux",
        "read": sample.read if running else ZERO_TIME,
        "preread": previous.read if previous is not None else ZERO_TIME,
        "pids_stats": pids,
        "blkio_stats": {
            "io_service_bytes_recursive": _blkio_json(sample.io_bytes),
            "io_serviced_recursive": _blkio_json(sample.io_ops), "io_queue_recursive": None,
            "io_service_time_recursive": None, "io_wait_time_recursive": None,
            "io_merged_recursive": None, "io_time_recursive": None, "sectors_recursive": None},
        "num_procs": 0, "storage_stats": {},
        "cpu_stats": _cpu_json(sample.cpu if running else CpuSample(), v2=sample.cgroup_v2),
        "precpu_stats": _cpu_json(previous.cpu if previous else CpuSample(), v2=sample.cgroup_v2),
        "memory_stats": memory,
    }
    if running and sample.networks:
        data["networks"] = sample.networks
    return data


@table.get("/containers/{id}/stats")
async def stats(request: web.Request) -> web.StreamResponse:
    resources = engine(request).containers.resources
    stream = query_bool(request, "stream", True)
    one_shot = query_bool(request, "one-shot")
    if one_shot and stream:
        raise InvalidArgument("cannot have stream=true and one-shot=true")
    container, first = await resources.sample(request.match_info["id"])
    if not stream:
        previous = None
        if not one_shot and container.state.is_active:
            # Like dockerd, wait for a second reading so precpu_stats gives the CPU percentage.
            await asyncio.sleep(STATS_INTERVAL)
            previous, first = first, (await resources.sample(container.id))[1]
        return json_response(stats_json(container, first, previous))
    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    await response.prepare(request)
    with contextlib.suppress(ConnectionError):
        async for sample, previous in resources.stream(container, STATS_INTERVAL):
            if request.transport is None or request.transport.is_closing():
                break
            await response.write(json.dumps(stats_json(container, sample, previous)).encode() + b"\n")
        await response.write_eof()
    return response


@table.get("/system/df")
async def system_df(request: web.Request) -> web.StreamResponse:
    eng = engine(request)
    usage = await disk_usage(images=eng.images, containers=eng.containers, volumes=eng.volumes,
                             snapshots_dir=eng.config.snapshots_dir)
    images = []
    for item in usage.images:
        entry = image_summary(item.image)
        entry.update({"Size": item.size, "SharedSize": item.shared_size, "Containers": item.containers})
        images.append(entry)
    containers = []
    for c in usage.containers:
        containers.append(wire.summary_json(c.container, (c.size_rw, c.size_root_fs)))
    volumes = []
    for v in usage.volumes:
        entry = volume_json(v.volume, v.size)
        entry["UsageData"] = {"Size": v.size, "RefCount": v.ref_count}
        volumes.append(entry)
    return json_response({"LayersSize": usage.layers_size, "Images": images,
                          "Containers": containers, "Volumes": volumes, "BuildCache": []})

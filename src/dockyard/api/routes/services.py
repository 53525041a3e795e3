"""``/services`` and ``/tasks``: desired state in, tasks and their logs out."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from dockyard.api import swarm_wire, web
from dockyard.api.hijack import frame, stream_content_type
from dockyard.api.params import json_body, json_response, query_bool, query_filters
from dockyard.api.routes.containers import _log_options
from dockyard.api.routes.swarm import swarm_of, version_of
from dockyard.api.routing import RouteTable, api_version, engine
from dockyard.core.containers.logs import LogEntry, LogOptions
from dockyard.core.swarm.model import Task
from dockyard.errors import InvalidArgument, NotFound

table = RouteTable()


@table.post("/services/create")
async def create(request: web.Request) -> web.StreamResponse:
    body = await json_body(request, allow_empty=False)
    service = swarm_of(request).services.create(body)
    return json_response({"ID": service.id, "Warnings": []}, status=201)


@table.get("/services")
async def list_services(request: web.Request) -> web.StreamResponse:
    verbs = swarm_of(request).services
    with_status = query_bool(request, "status")
    return json_response([swarm_wire.service_json(s, defaults=False,
                                                  status=verbs.status(s) if with_status else None)
                          for s in verbs.list(query_filters(request))])


@table.get("/services/{id}")
async def inspect(request: web.Request) -> web.StreamResponse:
    service = swarm_of(request).services.inspect(request.match_info["id"])
    return json_response(swarm_wire.service_json(
        service, defaults=query_bool(request, "insertDefaults"), status=None))


@table.post("/services/{id}/update")
async def update(request: web.Request) -> web.StreamResponse:
    body = await json_body(request, allow_empty=False)
    rollback = request.query.get("rollback", "")
    if rollback not in ("", "previous"):
        raise InvalidArgument(f"invalid value for rollback: {rollback}")
    swarm_of(request).services.update(request.match_info["id"], version=version_of(request), spec=body,
                                      rollback=rollback == "previous")
    return json_response({"Warnings": []})


@table.delete("/services/{id}")
async def remove(request: web.Request) -> web.StreamResponse:
    await swarm_of(request).services.remove(request.match_info["id"])
    return web.Response(status=200)


@table.get("/tasks")
async def list_tasks(request: web.Request) -> web.StreamResponse:
    networks = engine(request).networks
    return json_response([swarm_wire.task_json(t, networks) for t in
                          swarm_of(request).services.tasks(query_filters(request))])


@table.get("/tasks/{id}")
async def inspect_task(request: web.Request) -> web.StreamResponse:
    task = swarm_of(request).services.task(request.match_info["id"])
    return json_response(swarm_wire.task_json(task, engine(request).networks))


@table.get("/services/{id}/logs")
async def service_logs(request: web.Request) -> web.StreamResponse:
    verbs = swarm_of(request).services
    service = verbs.inspect(request.match_info["id"])
    return await _logs(request, verbs.tasks({"service": [service.id]}))


@table.get("/tasks/{id}/logs")
async def task_logs(request: web.Request) -> web.StreamResponse:
    return await _logs(request, [swarm_of(request).services.task(request.match_info["id"])])


async def _logs(request: web.Request, tasks: list[Task]) -> web.StreamResponse:
    """Each task container's log, framed, each line led by its task's identity when ``details``
    is asked for (the CLI turns that into the ``name.slot.id@node |`` prefix)."""
    options = _log_options(request)
    if not (options.stdout or options.stderr):
        raise InvalidArgument("Bad parameters: you must choose at least one stream")
    details = query_bool(request, "details")
    tty = any(bool((t.spec.get("ContainerSpec") or {}).get("TTY")) for t in tasks)
    response = web.StreamResponse(status=200, headers={
        "Content-Type": stream_content_type(tty, api_version(request))})
    await response.prepare(request)
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=256)
    readers = [asyncio.ensure_future(_pump(request, t, options, details, tty, queue))
               for t in tasks if t.container_id]
    pending = len(readers)
    try:
        while pending:
            chunk = await queue.get()
            if chunk is None:
                pending -= 1
                continue
            await response.write(chunk)
    finally:
        for reader in readers:
            reader.cancel()
        for reader in readers:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
    await response.write_eof()
    return response


async def _pump(request: web.Request, task: Task, options: LogOptions, details: bool, tty: bool,
                queue: asyncio.Queue[bytes | None]) -> None:
    containers = engine(request).containers
    try:
        container = await containers.inspect(task.container_id)
        entries: AsyncIterator[LogEntry] = containers.logs(container, options)
        prefix = (f"com.docker.swarm.node.id={task.node_id},com.docker.swarm.service.id="
                  f"{task.service_id},com.docker.swarm.task.id={task.id} ").encode() if details else b""
        async for entry in entries:
            data = prefix + entry.data
            if options.timestamps:
                data = entry.timestamp.encode() + b" " + data
            await queue.put(data if tty else frame(entry.stream, data))
    except NotFound:
        pass
    finally:
        await queue.put(None)

"""``/containers/{id}/archive`` (docker cp), ``/containers/{id}/export`` and ``/commit``.

Tars are built in a worker thread into a temporary file under the daemon's tmp dir, then streamed;
an upload is spooled the same way before it is unpacked, so a broken upload changes nothing.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from dockyard.api import web
from dockyard.api.params import json_body, json_response, query_bool
from dockyard.api.routing import RouteTable, engine
from dockyard.api.transfer import body_file, scratch_dir, send_file
from dockyard.core.containers.archive import ContainerFs, PathStat, container_fs, write_export
from dockyard.core.containers.commit import CommitRequest
from dockyard.core.containers.model import Container
from dockyard.core.runtime.users import resolve_user
from dockyard.errors import InvalidArgument

table = RouteTable()
STAT_HEADER = "X-Docker-Container-Path-Stat"


def _stat_header(info: PathStat) -> str:
    data = {"name": info.name, "size": info.size, "mode": info.mode, "mtime": info.mtime,
            "linkTarget": info.link_target}
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode()


def _path(request: web.Request) -> str:
    path = request.query.get("path", "")
    if not path:
        raise InvalidArgument("path is required")
    return path if path.startswith("/") else "/" + path


@asynccontextmanager
async def _container_fs(request: web.Request) -> AsyncIterator[tuple[Container, ContainerFs]]:
    service = engine(request).containers
    container = await service.inspect(request.match_info["id"])
    async with service.files.rootfs(container) as rootfs:
        yield container, container_fs(rootfs, container, service.paths(container),
                                      service.remap_of(container))


@table.head("/containers/{id}/archive")
async def archive_head(request: web.Request) -> web.StreamResponse:
    path = _path(request)
    async with _container_fs(request) as (container, fs):
        info = await asyncio.to_thread(fs.stat, path, request.match_info["id"])
    return web.Response(status=200, headers={STAT_HEADER: _stat_header(info)})


@table.get("/containers/{id}/archive")
async def archive_get(request: web.Request) -> web.StreamResponse:
    path = _path(request)
    with scratch_dir(request, "cp-") as tmp:
        tar_path = tmp / "out.tar"
        async with _container_fs(request) as (container, fs):
            with tar_path.open("wb") as out:
                info = await asyncio.to_thread(fs.write_archive, path, request.match_info["id"], out)
        return await send_file(request, tar_path, {STAT_HEADER: _stat_header(info)})


@table.put("/containers/{id}/archive")
async def archive_put(request: web.Request) -> web.StreamResponse:
    path = _path(request)
    async with body_file(request, "cp-") as tar_path:
        async with _container_fs(request) as (container, fs):
            owner = None
            if query_bool(request, "copyUIDGID") and container.config.user:
                # moby: -a chowns to the container's user when it has one, else keeps the tar's.
                user = await asyncio.to_thread(resolve_user, fs.rootfs, container.config.user)
                owner = (user.uid, user.gid)
            await asyncio.to_thread(
                fs.extract, path, request.match_info["id"], tar_path,
                no_overwrite_dir_non_dir=query_bool(request, "noOverwriteDirNonDir"), owner=owner)
    return web.Response(status=200)


@table.get("/containers/{id}/export")
async def export(request: web.Request) -> web.StreamResponse:
    service = engine(request).containers
    container = await service.inspect(request.match_info["id"])
    with scratch_dir(request, "export-") as tmp:
        tar_path = tmp / "export.tar"
        async with service.files.rootfs(container) as rootfs:
            with tar_path.open("wb") as out:
                await asyncio.to_thread(write_export, rootfs, out, service.remap_of(container))
        return await send_file(request, tar_path, {})


@table.post("/commit")
async def commit(request: web.Request) -> web.StreamResponse:
    eng = engine(request)
    ref = request.query.get("container", "")
    if not ref:
        raise InvalidArgument("container is required")
    body = await json_body(request)
    commit_request = CommitRequest(
        container=ref, repo=request.query.get("repo") or None, tag=request.query.get("tag") or None,
        comment=request.query.get("comment", ""), author=request.query.get("author", ""),
        changes=request.query.getall("changes", []), pause=query_bool(request, "pause", True),
        config=body)
    image = await eng.containers.commit(commit_request, eng.images)
    return json_response({"Id": image.id}, status=201)

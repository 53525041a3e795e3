"""``/images/…``: list, inspect, history, tag, remove, prune, import, load, save (get).

Image names in paths may hold slashes (``/images/localhost:5000/foo/bar/json``), so the name pattern
is ``{name:.+}``; fixed paths (``/images/json``, ``/images/get``, ``/images/load`` …) are registered
first so they win. Request bodies (import, load) are streamed to a temp file, never held in memory.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

from dockyard.api import web
from dockyard.api.params import json_response, query_bool, query_filters
from dockyard.api.routes import distribution
from dockyard.api.routing import RouteTable, engine
from dockyard.api.transfer import body_file, scratch_dir, send_file
from dockyard.core.distribution.progress import ProgressEvent, ProgressSink
from dockyard.core.ids import hex_of
from dockyard.core.images.model import Image
from dockyard.core.images.reference import familiar
from dockyard.core.images.service import ImageService
from dockyard.core.timestamps import unix_seconds
from dockyard.errors import DockyardError, InvalidArgument

log = logging.getLogger(__name__)

table = RouteTable()

_JSON_STREAM = "application/json"


def _images(request: web.Request) -> ImageService:
    return engine(request).images


def summary(image: Image) -> dict[str, Any]:
    """Docker's ImageSummary: familiar tags, dangling images have none."""
    return {
        "Id": image.id,
        "ParentId": "",
        "RepoTags": [familiar(t) for t in image.repo_tags],
        "RepoDigests": [familiar(d) for d in image.repo_digests],
        "Created": unix_seconds(image.created),
        "Size": image.size,
        "SharedSize": -1,
        "Labels": image.container_config.get("Labels") or {},
        "Containers": -1,
    }


_CONFIG_FIELDS = ("User", "ExposedPorts", "Env", "Cmd", "Healthcheck", "ArgsEscaped", "Volumes",
                  "WorkingDir", "Entrypoint", "OnBuild", "Labels", "StopSignal", "Shell")


def image_config(image: Image) -> dict[str, Any]:
    """The ``Config`` of ImageInspect: Docker's ImageConfig shape, defaults filled in."""
    cfg = image.container_config
    out: dict[str, Any] = {"User": "", "Env": None, "Cmd": None, "Volumes": None, "WorkingDir": "",
                           "Entrypoint": None, "OnBuild": None, "Labels": None}
    out.update({k: cfg[k] for k in _CONFIG_FIELDS if k in cfg})
    return out


def inspect_body(image: Image, snapshots_dir: Path, last_tag_time: str | None) -> dict[str, Any]:
    cfg = image.config
    dirs = [snapshots_dir / hex_of(c) for c in reversed(image.chain_ids)]
    graph: dict[str, str] = {}
    if dirs:
        graph = {"MergedDir": str(dirs[0] / "merged"), "UpperDir": str(dirs[0] / "fs"),
                 "WorkDir": str(dirs[0] / "work")}
        if len(dirs) > 1:
            graph["LowerDir"] = ":".join(str(d / "fs") for d in dirs[1:])
    body: dict[str, Any] = {
        "Id": image.id,
        "RepoTags": [familiar(t) for t in image.repo_tags],
        "RepoDigests": [familiar(d) for d in image.repo_digests],
        "Parent": "",
        "Comment": cfg.get("comment", ""),
        "Created": image.created,
        "DockerVersion": cfg.get("docker_version", ""),
        "Author": cfg.get("author", ""),
        "Config": image_config(image),
        "Architecture": cfg.get("architecture", ""),
        "Os": cfg.get("os", ""),
        "Size": image.size,
        "GraphDriver": {"Name": "overlay2", "Data": graph},
        "RootFS": {"Type": "layers", "Layers": list(cfg.get("rootfs", {}).get("diff_ids") or [])},
        "Metadata": {"LastTagTime": last_tag_time} if last_tag_time else {},
    }
    if cfg.get("variant"):
        body["Variant"] = cfg["variant"]
    return body


def _message_line(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode() + b"\r\n"


async def _json_lines(request: web.Request, lines: list[dict[str, Any]]) -> web.StreamResponse:
    response = web.StreamResponse(status=200, headers={"Content-Type": _JSON_STREAM})
    await response.prepare(request)
    for line in lines:
        await response.write(_message_line(line))
    await response.write_eof()
    return response


# ---- fixed paths first ----

@table.get("/images/json")
async def list_images(request: web.Request) -> web.StreamResponse:
    images = await _images(request).list(all=query_bool(request, "all"), filters=query_filters(request))
    return json_response([summary(i) for i in images])


@table.post("/images/create")
async def create_image(request: web.Request) -> web.StreamResponse:
    query = request.query
    if query.get("fromImage"):
        return await distribution.pull(request)
    source = query.get("fromSrc")
    if source is None:
        raise InvalidArgument("either fromImage or fromSrc must be given")
    service = _images(request)
    if source != "-":
        image = await service.import_url(source, repo=query.get("repo") or None,
                                         tag=query.get("tag") or None,
                                         changes=query.getall("changes", []),
                                         message=query.get("message", ""),
                                         platform=query.get("platform") or None)
        return await _json_lines(request, [{"status": image.id}])
    async with body_file(request) as path:
        image = await service.import_(path, repo=query.get("repo") or None, tag=query.get("tag") or None,
                                      changes=query.getall("changes", []), message=query.get("message", ""),
                                      platform=query.get("platform") or None)
    return await _json_lines(request, [{"status": image.id}])


@table.post("/images/load")
async def load_images(request: web.Request) -> web.StreamResponse:
    """As dockerd: a 200 JSON stream at once, ``Loading layer`` progress unless ``quiet``, then the
    loaded names; a failure is an ``error`` message in the stream (docker-py's ImageLoadError)."""
    service = _images(request)
    quiet = query_bool(request, "quiet")
    async with body_file(request) as path:
        response = web.StreamResponse(status=200, headers={"Content-Type": _JSON_STREAM})
        await response.prepare(request)
        queue: asyncio.Queue[ProgressEvent | None] = asyncio.Queue()
        sink = ProgressSink(queue.put_nowait)

        def loaded_layer(short_id: str, size: int) -> None:  # called from the loading thread
            sink(ProgressEvent("Loading layer", short_id, size, size))

        task = asyncio.create_task(service.load(path, progress=None if quiet else loaded_layer))
        task.add_done_callback(lambda _: queue.put_nowait(None))
        try:
            while (event := await queue.get()) is not None:
                await response.write(_message_line(distribution.message(event)))
            lines = task.result()
        except DockyardError as exc:
            log.info("load failed: %s", exc)
            await response.write(_message_line({"errorDetail": {"message": str(exc)}, "error": str(exc)}))
        else:
            for line in lines:
                await response.write(_message_line({"stream": line + "\n"}))
    await response.write_eof()
    return response


@table.post("/images/prune")
async def prune_images(request: web.Request) -> web.StreamResponse:
    filters = query_filters(request)
    dangling = filters.get("dangling", ["true"])[-1].lower() in ("true", "1")
    records, reclaimed = await _images(request).prune(dangling_only=dangling, filters=filters)
    return json_response({"ImagesDeleted": records or None, "SpaceReclaimed": reclaimed})


async def _send_archive(request: web.Request, names: list[str]) -> web.StreamResponse:
    with scratch_dir(request, "save-") as tmp:
        path = tmp / "images.tar"
        await _images(request).save(names, path)  # errors (404) before any byte is sent
        return await send_file(request, path)


@table.get("/images/get")
async def save_images(request: web.Request) -> web.StreamResponse:
    names = request.query.getall("names", [])
    if not names:
        raise InvalidArgument("no images given: use names=")
    return await _send_archive(request, names)


# ---- /images/{name} ----

@table.get("/images/{name:.+}/json")
async def inspect_image(request: web.Request) -> web.StreamResponse:
    service = _images(request)
    image = await service.inspect(request.match_info["name"])
    body = inspect_body(image, engine(request).config.snapshots_dir, service.last_tag_time(image))
    return json_response(body)


@table.get("/images/{name:.+}/history")
async def image_history(request: web.Request) -> web.StreamResponse:
    return json_response(await _images(request).history(request.match_info["name"]))


@table.post("/images/{name:.+}/tag")
async def tag_image(request: web.Request) -> web.StreamResponse:
    repo = request.query.get("repo")
    if not repo:
        raise InvalidArgument("repository name (repo) is required")
    await _images(request).tag(request.match_info["name"], repo, request.query.get("tag") or None)
    return web.Response(status=201)


@table.get("/images/{name:.+}/get")
async def save_image(request: web.Request) -> web.StreamResponse:
    return await _send_archive(request, [request.match_info["name"]])


@table.delete("/images/{name:.+}")
async def remove_image(request: web.Request) -> web.StreamResponse:
    records = await _images(request).remove(request.match_info["name"], force=query_bool(request, "force"),
                                            prune=not query_bool(request, "noprune"))
    return json_response(records)

"""``/volumes``: Docker's volume endpoints over the volume service."""

from __future__ import annotations

from typing import Any

from dockyard.api import web
from dockyard.api.params import json_body, json_response, query_bool, query_filters
from dockyard.api.routing import RouteTable, api_at_least, engine
from dockyard.core.volumes.model import Volume
from dockyard.core.volumes.service import VolumeService

table = RouteTable()


def _service(request: web.Request) -> VolumeService:
    return engine(request).volumes


def volume_json(volume: Volume, size: int | None = None) -> dict[str, Any]:
    """Docker's ``Volume`` object."""
    data: dict[str, Any] = {
        "CreatedAt": volume.created_at, "Driver": volume.driver, "Labels": volume.labels,
        "Mountpoint": volume.mountpoint_text, "Name": volume.name,
        "Options": volume.options or None, "Scope": volume.scope,
    }
    if volume.status is not None:
        data["Status"] = volume.status  # a plugin's Get (moby shows it in inspect)
    if size is not None:
        data["UsageData"] = {"Size": size, "RefCount": 0}
    return data


def _strings(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in (value or {}).items()}


@table.get("/volumes")
async def list_volumes(request: web.Request) -> web.StreamResponse:
    volumes, warnings = await _service(request).list_all(query_filters(request))
    return json_response({"Volumes": [volume_json(v) for v in volumes], "Warnings": warnings})


@table.post("/volumes/create")
async def create(request: web.Request) -> web.StreamResponse:
    body = await json_body(request)
    name = str(body.get("Name") or "")
    # As moby: a volume the client did not name is anonymous (so `volume prune` takes it).
    volume = await _service(request).create(
        name, driver=str(body.get("Driver") or ""),
        options=_strings(body.get("DriverOpts")), labels=_strings(body.get("Labels")), anonymous=not name)
    return json_response(volume_json(volume), status=201)


@table.get("/volumes/{name}")
async def inspect(request: web.Request) -> web.StreamResponse:
    return json_response(volume_json(await _service(request).inspect(request.match_info["name"])))


@table.delete("/volumes/{name}")
async def remove(request: web.Request) -> web.StreamResponse:
    await _service(request).remove(request.match_info["name"], force=query_bool(request, "force"))
    return web.Response(status=204)


@table.post("/volumes/prune")
async def prune(request: web.Request) -> web.StreamResponse:
    filters = query_filters(request)
    if not api_at_least(request, "1.42"):
        filters["all"] = ["true"]  # before API 1.42 prune took every unused volume
    deleted, reclaimed = await _service(request).prune(filters)
    return json_response({"VolumesDeleted": deleted or None, "SpaceReclaimed": reclaimed})

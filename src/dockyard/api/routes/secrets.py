"""``/secrets`` and ``/configs``: the same verbs over two kinds; only a config's data is shown."""

from __future__ import annotations

import base64
import binascii

from dockyard.api import swarm_wire, web
from dockyard.api.params import json_body, json_response, query_filters
from dockyard.api.routes.swarm import swarm_of, version_of
from dockyard.api.routing import Handler, RouteTable
from dockyard.core.swarm.blobs import BlobService
from dockyard.errors import InvalidArgument

table = RouteTable()


def _verbs(request: web.Request, kind: str) -> BlobService:
    swarm = swarm_of(request)
    return swarm.secrets if kind == "secret" else swarm.configs


def _json(verbs: BlobService, blob_ref: object) -> dict[str, object]:
    from dockyard.core.swarm.model import Blob

    assert isinstance(blob_ref, Blob)
    return swarm_wire.blob_json(blob_ref, verbs.data(blob_ref) if verbs.kind == "config" else None)


def _routes(kind: str) -> None:
    plural = f"/{kind}s"

    async def create(request: web.Request) -> web.StreamResponse:
        body = await json_body(request, allow_empty=False)
        try:
            data = base64.b64decode(str(body.get("Data") or ""), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidArgument(f"illegal base64 data: {exc}") from exc
        blob = _verbs(request, kind).create(body, data)
        return json_response({"ID": blob.id}, status=201)

    async def list_all(request: web.Request) -> web.StreamResponse:
        verbs = _verbs(request, kind)
        return json_response([_json(verbs, b) for b in verbs.list(query_filters(request))])

    async def inspect(request: web.Request) -> web.StreamResponse:
        verbs = _verbs(request, kind)
        return json_response(_json(verbs, verbs.inspect(request.match_info["id"])))

    async def update(request: web.Request) -> web.StreamResponse:
        body = await json_body(request, allow_empty=False)
        _verbs(request, kind).update(request.match_info["id"], version=version_of(request), spec=body)
        return web.Response(status=200)

    async def remove(request: web.Request) -> web.StreamResponse:
        _verbs(request, kind).remove(request.match_info["id"])
        return web.Response(status=204)

    handlers: list[tuple[str, str, Handler]] = [
        ("POST", f"{plural}/create", create), ("GET", plural, list_all),
        ("GET", f"{plural}/{{id}}", inspect), ("POST", f"{plural}/{{id}}/update", update),
        ("DELETE", f"{plural}/{{id}}", remove)]
    table.routes.extend(handlers)


_routes("secret")
_routes("config")

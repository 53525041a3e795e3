"""``/swarm`` and ``/nodes``: the one-node swarm of this engine."""

from __future__ import annotations

from dockyard.api import swarm_wire, web
from dockyard.api.params import json_body, json_response, query_bool, query_filters, query_int
from dockyard.api.routing import RouteTable, engine
from dockyard.core.swarm.cluster import InitRequest
from dockyard.core.swarm.state import NOT_MANAGER
from dockyard.core.swarm.swarm import Swarm
from dockyard.errors import InvalidArgument, Unavailable

table = RouteTable()


def swarm_of(request: web.Request) -> Swarm:
    swarm = engine(request).swarm
    if swarm is None:
        raise Unavailable(NOT_MANAGER)
    return swarm


def version_of(request: web.Request) -> int:
    version = query_int(request, "version")
    if version is None:
        raise InvalidArgument("invalid swarm version: missing version")
    return version


@table.get("/swarm")
async def inspect(request: web.Request) -> web.StreamResponse:
    cluster = swarm_of(request).cluster.inspect()
    return json_response(swarm_wire.cluster_json(cluster, tokens=True))


@table.post("/swarm/init")
async def init(request: web.Request) -> web.StreamResponse:
    body = await json_body(request)
    pool = body.get("DefaultAddrPool") or []
    node_id = await swarm_of(request).cluster.init(InitRequest(
        advertise_addr=str(body.get("AdvertiseAddr") or ""),
        listen_addr=str(body.get("ListenAddr") or "0.0.0.0:2377"),
        spec=body.get("Spec") or None, autolock=bool(body.get("AutoLockManagers")),
        availability=str(body.get("Availability") or "active"),
        default_addr_pool=tuple(str(p) for p in pool), subnet_size=int(body.get("SubnetSize") or 0),
        data_path_port=int(body.get("DataPathPort") or 0)))
    return json_response(node_id)


@table.post("/swarm/join")
async def join(request: web.Request) -> web.StreamResponse:
    swarm_of(request).cluster.join()
    return web.Response(status=200)


@table.post("/swarm/leave")
async def leave(request: web.Request) -> web.StreamResponse:
    await swarm_of(request).cluster.leave(force=query_bool(request, "force"))
    return web.Response(status=200)


@table.post("/swarm/update")
async def update(request: web.Request) -> web.StreamResponse:
    body = await json_body(request, allow_empty=False)
    await swarm_of(request).cluster.update(
        version=version_of(request), spec=body,
        rotate_worker=query_bool(request, "rotateWorkerToken"),
        rotate_manager=query_bool(request, "rotateManagerToken"),
        rotate_unlock=query_bool(request, "rotateManagerUnlockKey"))
    return web.Response(status=200)


@table.get("/swarm/unlockkey")
async def unlock_key(request: web.Request) -> web.StreamResponse:
    return json_response({"UnlockKey": swarm_of(request).cluster.unlock_key()})


@table.post("/swarm/unlock")
async def unlock(request: web.Request) -> web.StreamResponse:
    body = await json_body(request, allow_empty=False)
    await swarm_of(request).cluster.unlock(str(body.get("UnlockKey") or ""))
    return web.Response(status=200)


# ---- nodes ----
def _node_json(request: web.Request, node_ref: str | None = None) -> list[dict[str, object]]:
    swarm = swarm_of(request)
    cluster = swarm.cluster.inspect()
    nodes = [swarm.cluster.node(node_ref)] if node_ref else swarm.cluster.nodes(query_filters(request))
    facts = engine(request).system.facts
    return [swarm_wire.node_json(n, cluster, facts, swarm.cluster.hostname) for n in nodes]


@table.get("/nodes")
async def list_nodes(request: web.Request) -> web.StreamResponse:
    return json_response(_node_json(request))


@table.get("/nodes/{id}")
async def inspect_node(request: web.Request) -> web.StreamResponse:
    return json_response(_node_json(request, request.match_info["id"])[0])


@table.post("/nodes/{id}/update")
async def update_node(request: web.Request) -> web.StreamResponse:
    body = await json_body(request, allow_empty=False)
    swarm_of(request).cluster.update_node(request.match_info["id"], version=version_of(request), spec=body)
    return web.Response(status=200)


@table.delete("/nodes/{id}")
async def remove_node(request: web.Request) -> web.StreamResponse:
    swarm_of(request).cluster.remove_node(request.match_info["id"], force=query_bool(request, "force"))
    return web.Response(status=200)

"""``/networks/...``: Docker's network endpoints over the network service."""

from __future__ import annotations

import ipaddress
from typing import Any

from dockyard.api import web
from dockyard.api.params import Filters, json_body, json_response, query_filters
from dockyard.api.routing import RouteTable, engine
from dockyard.core.networks.model import EndpointRequest, Network, NetworkCreate
from dockyard.core.networks.service import NetworkService
from dockyard.errors import InvalidArgument, Unimplemented

table = RouteTable()

_FILTERS = ("name", "id", "driver", "label", "type", "scope", "dangling")


def _service(request: web.Request) -> NetworkService:
    service = engine(request).networks
    if service is None:
        raise Unimplemented("networking is not available in this daemon")
    return service


def network_json(service: NetworkService, network: Network, *, containers: bool = True) -> dict[str, Any]:
    """NetworkResource (``GET /networks/{id}``)."""
    config: list[dict[str, Any]] = []
    if network.subnet:
        entry: dict[str, Any] = {"Subnet": network.subnet, "Gateway": network.gateway}
        if network.ip_range:
            entry["IPRange"] = network.ip_range
        config.append(entry)
    if network.subnet6:
        config.append({"Subnet": network.subnet6, "Gateway": network.gateway6})
    for pool in config:
        aux = {k: v for k, v in network.aux_addresses.items()
               if ipaddress.ip_address(v) in ipaddress.ip_network(pool["Subnet"])}
        if aux:
            pool["AuxiliaryAddresses"] = aux
    attached: dict[str, Any] = {}
    if containers:
        for endpoint in service.endpoints(network):
            attached[endpoint.container_id] = {
                "Name": endpoint.container_name, "EndpointID": endpoint.id,
                "MacAddress": endpoint.mac, "IPv4Address": f"{endpoint.ip}/{network.prefixlen}",
                "IPv6Address": f"{endpoint.ip6}/{network.prefixlen6}" if endpoint.ip6 else ""}
    return {
        "Name": network.name, "Id": network.id, "Created": network.created, "Scope": network.scope,
        "Driver": network.driver, "EnableIPv4": True, "EnableIPv6": network.ipv6,
        "IPAM": {"Driver": network.ipam_driver, "Options": network.ipam_options or None, "Config": config},
        "Internal": network.internal, "Attachable": network.attachable, "Ingress": network.ingress,
        "ConfigFrom": {"Network": ""}, "ConfigOnly": False, "Containers": attached,
        "Options": network.options, "Labels": network.labels,
    }


def _matches(network: Network, filters: Filters, in_use: bool) -> bool:
    for key in filters:
        if key not in _FILTERS:
            raise InvalidArgument(f"invalid filter '{key}'")
    for key, values in filters.items():
        hits = [_match_one(network, key, value, in_use) for value in values]
        if key == "label" and not all(hits):
            return False
        if key != "label" and values and not any(hits):
            return False
    return True


def _match_one(network: Network, key: str, value: str, in_use: bool) -> bool:
    if key == "name":
        return value in network.name
    if key == "id":
        return network.id.startswith(value)
    if key == "driver":
        return network.driver == value
    if key == "scope":
        return value == network.scope
    if key == "type":
        return (value == "builtin") == network.builtin
    if key == "dangling":
        return (value.lower() in ("true", "1")) == (not in_use and not network.builtin)
    label, sep, wanted = value.partition("=")
    return label in network.labels and (not sep or network.labels[label] == wanted)


@table.get("/networks")
async def list_networks(request: web.Request) -> web.StreamResponse:
    service = _service(request)
    filters = query_filters(request)
    result = [network_json(service, n, containers=False) for n in service.list()
              if _matches(n, filters, bool(service.endpoints(n)))]
    return json_response(result)


@table.get("/networks/{id}")
async def inspect(request: web.Request) -> web.StreamResponse:
    service = _service(request)
    return json_response(network_json(service, service.inspect(request.match_info["id"])))


def _create_request(body: dict[str, Any]) -> NetworkCreate:
    name = str(body.get("Name") or "")
    if not name:
        raise InvalidArgument("network name cannot be empty")
    ipam = body.get("IPAM") or {}
    configs = ipam.get("Config") or []
    ipv4 = [c for c in configs if ":" not in str(c.get("Subnet") or "")]
    ipv6 = [c for c in configs if ":" in str(c.get("Subnet") or "")]
    if len(ipv4) > 1 or len(ipv6) > 1:
        raise InvalidArgument("only one IPv4 and one IPv6 subnet per network are supported")
    first = ipv4[0] if ipv4 else {}
    first6 = ipv6[0] if ipv6 else {}
    aux = {**(first.get("AuxiliaryAddresses") or {}), **(first6.get("AuxiliaryAddresses") or {})}
    return NetworkCreate(
        name=name, driver=str(body.get("Driver") or "bridge"),
        subnet=str(first.get("Subnet") or ""), gateway=str(first.get("Gateway") or ""),
        ip_range=str(first.get("IPRange") or ""), internal=bool(body.get("Internal")),
        ipv6=bool(body.get("EnableIPv6")), subnet6=str(first6.get("Subnet") or ""),
        gateway6=str(first6.get("Gateway") or ""),
        labels={str(k): str(v) for k, v in (body.get("Labels") or {}).items()},
        options={str(k): str(v) for k, v in (body.get("Options") or {}).items()},
        aux_addresses={str(k): str(v) for k, v in aux.items()},
        ipam_options={str(k): str(v) for k, v in (ipam.get("Options") or {}).items()},
        attachable=bool(body.get("Attachable")), ingress=bool(body.get("Ingress")),
        ipam_driver=str(ipam.get("Driver") or "default"))


@table.post("/networks/create")
async def create(request: web.Request) -> web.StreamResponse:
    body = await json_body(request, allow_empty=False)
    network = await _service(request).create(_create_request(body))
    return json_response({"Id": network.id, "Warning": ""}, status=201)


@table.delete("/networks/{id}")
async def remove(request: web.Request) -> web.StreamResponse:
    await _service(request).remove(request.match_info["id"])
    return web.Response(status=204)


@table.post("/networks/prune")
async def prune(request: web.Request) -> web.StreamResponse:
    filters = query_filters(request)
    deleted = await _service(request).prune(filters.get("label", []))
    return json_response({"NetworksDeleted": deleted})


@table.post("/networks/{id}/connect")
async def connect(request: web.Request) -> web.StreamResponse:
    network = _service(request).inspect(request.match_info["id"])
    body = await json_body(request, allow_empty=False)
    config = body.get("EndpointConfig") or {}
    ipam = config.get("IPAMConfig") or {}
    links = tuple(str(link) for link in config.get("Links") or [])
    endpoint = EndpointRequest(network=network.name, ip=str(ipam.get("IPv4Address") or ""),
                               ip6=str(ipam.get("IPv6Address") or ""),
                               aliases=tuple(str(a) for a in config.get("Aliases") or []), links=links,
                               mac=str(config.get("MacAddress") or ""),
                               gw_priority=int(config.get("GwPriority") or 0))
    await engine(request).containers.connect_network(str(body.get("Container") or ""), endpoint)
    return web.Response(status=200)


@table.post("/networks/{id}/disconnect")
async def disconnect(request: web.Request) -> web.StreamResponse:
    network = _service(request).inspect(request.match_info["id"])
    body = await json_body(request, allow_empty=False)
    await engine(request).containers.disconnect_network(str(body.get("Container") or ""), network.id)
    return web.Response(status=200)

"""Services that name other services: ``network_mode``/``pid``/``ipc: service:x``, ``volumes_from``
and ``links``. compose-go makes each an implicit ``depends_on`` (started, required); at create
time the reference becomes the engine's form — ``container:<id>``, a container for
``VolumesFrom``, ``name:alias`` for ``Links`` — naming the other service's first container."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from dockyard.compose.yamlfile import ComposeError

SERVICE_PREFIX = "service:"
CONTAINER_PREFIX = "container:"
NAMESPACES = (("network_mode", "NetworkMode"), ("pid", "PidMode"), ("ipc", "IpcMode"))

# A service's containers, first one first: (ID, name) pairs.
ContainersOf = Callable[[str], list[tuple[str, str]]]


def _link_parts(link: str) -> tuple[str, str]:
    target, _, alias = link.partition(":")
    return target, alias or target


def _volumes_from_service(entry: str) -> str:
    """The service a ``volumes_from`` entry names ("" for ``container:``)."""
    return "" if entry.startswith(CONTAINER_PREFIX) else entry.split(":")[0]


def named_services(service: Mapping[str, Any]) -> list[tuple[str, bool]]:
    """The services ``service`` refers to, each with whether a restart of it restarts this one."""
    out = [(_link_parts(str(link))[0], True) for link in service.get("links") or []]
    out += [(str(service[key])[len(SERVICE_PREFIX):], True) for key, _ in NAMESPACES
            if str(service.get(key) or "").startswith(SERVICE_PREFIX)]
    out += [(name, False) for name in map(_volumes_from_service, map(str, service.get("volumes_from") or []))
            if name]
    return out


def add_implicit_dependencies(services: Mapping[str, dict[str, Any]]) -> None:
    """compose-go's normalisation: each reference is a ``depends_on`` entry unless one is given."""
    for service in services.values():
        for name, restart in named_services(service):
            deps = service["depends_on"] = service.get("depends_on") or {}
            deps.setdefault(name, {"condition": "service_started", "required": True, "restart": restart})


def check(services: Mapping[str, dict[str, Any]], source: str) -> None:
    for name, service in services.items():
        for key in ("links", "external_links", "volumes_from"):
            if service.get(key) is not None and not isinstance(service[key], list):
                raise ComposeError(f"{source}: services.{name}.{key} must be a list")
        for other, _ in named_services(service):
            if other not in services:
                raise ComposeError(f"{source}: service {name!r} refers to undefined service {other!r}: "
                                   "invalid compose project")


def _first(containers_of: ContainersOf, owner: str, other: str, what: str) -> tuple[str, str]:
    found = containers_of(other)
    if not found:
        raise ComposeError(f"service {owner} depends on service {other} for its {what}, "
                           f"but {other} has no container")
    return found[0]


def resolved(name: str, service: Mapping[str, Any], containers_of: ContainersOf) -> dict[str, Any]:
    """``service`` with its references as Compose v2 resolves them before hashing: ``service:x``
    namespaces become ``container:<id>``, a ``volumes_from`` entry the bare ID or name (Compose v2
    drops the mode there). The config hash then changes when the other service's container is
    replaced, which is how Compose v2 knows to recreate this one too."""
    out = dict(service)
    for key, _ in NAMESPACES:
        value = str(service.get(key) or "")
        if value.startswith(SERVICE_PREFIX):
            cid, _ = _first(containers_of, name, value[len(SERVICE_PREFIX):], key)
            out[key] = CONTAINER_PREFIX + cid
    if service.get("volumes_from"):
        entries = []
        for entry in map(str, service["volumes_from"]):
            if entry.startswith(CONTAINER_PREFIX):
                entries.append(entry.split(":")[1])
            else:
                entries.append(_first(containers_of, name, entry.split(":")[0], "volumes")[0])
        out["volumes_from"] = entries
    return out


def stale(host: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """Whether a container's HostConfig (``host``) still names containers other than those
    :func:`host_config` resolves now (``wanted``): the other service's container was replaced."""
    for _, field in NAMESPACES:
        if str(wanted.get(field) or "").startswith(CONTAINER_PREFIX) and host.get(field) != wanted[field]:
            return True
    ids = [str(v).split(":")[0] for v in wanted.get("VolumesFrom") or []]
    return ids != [str(v).split(":")[0] for v in host.get("VolumesFrom") or []]


def host_config(name: str, service: Mapping[str, Any], containers_of: ContainersOf) -> dict[str, Any]:
    """The HostConfig fields that name other containers, resolved."""
    out: dict[str, Any] = {}
    for key, field in NAMESPACES:
        value = str(service.get(key) or "")
        if value.startswith(SERVICE_PREFIX):
            cid, _ = _first(containers_of, name, value[len(SERVICE_PREFIX):], key)
            out[field] = CONTAINER_PREFIX + cid
    volumes_from = []
    for entry in map(str, service.get("volumes_from") or []):
        if entry.startswith(CONTAINER_PREFIX):
            volumes_from.append(entry[len(CONTAINER_PREFIX):])
            continue
        other, _, mode = entry.partition(":")
        cid, _ = _first(containers_of, name, other, "volumes")
        volumes_from.append(f"{cid}:{mode}" if mode else cid)
    if volumes_from:
        out["VolumesFrom"] = volumes_from
    links = []
    for link in map(str, service.get("links") or []):
        other, alias = _link_parts(link)
        for _, cname in containers_of(other):  # Compose v2 links every container of the service
            links.append(f"{cname}:{alias}")
            if alias != other:
                links.append(f"{cname}:{other}")
    external = map(str, service.get("external_links") or [])
    links += [link if ":" in link else f"{link}:{link}" for link in external]
    if links:
        out["Links"] = sorted(set(links))
    return out

"""Merging Compose files (the spec's "merge" rules): mappings merge key by key, most sequences
append, a few are keyed (volumes by target, ports by their text), a few replace (``command``,
``entrypoint``, ``healthcheck.test``); ``!reset`` removes a value and ``!override`` replaces it whole.

Fields that may be written either as a list or as a mapping (environment, labels, depends_on,
networks, …) are made mappings first, so that ``FOO=1`` in one file and ``FOO: 2`` in another merge.
"""

from __future__ import annotations

from typing import Any

from dockyard.compose.yamlfile import Override, Reset

# Service keys whose list form ``["K=V", "K2"]`` means the mapping ``{K: V, K2: None}``.
_KV_LISTS = frozenset({"environment", "labels", "sysctls", "annotations"})
_REPLACED = frozenset({"command", "entrypoint", "test", "healthcheck.test"})


def kv_mapping(value: Any, sep: str = "=") -> Any:
    if not isinstance(value, list):
        return value
    out: dict[str, Any] = {}
    for item in value:
        key, found, rest = str(item).partition(sep)
        out[key] = rest if found else None
    return out


def _extra_hosts(value: Any) -> Any:
    if not isinstance(value, list):
        return value
    out: dict[str, Any] = {}
    for item in value:
        text = str(item)
        sep = "=" if "=" in text else ":"
        host, _, ip = text.partition(sep)
        out[host] = ip
    return out


def _names_mapping(value: Any) -> Any:
    """``depends_on``/``networks`` list forms as mappings (``depends_on`` gets its default)."""
    if isinstance(value, list):
        return {str(name): None for name in value}
    return value


def normalise_service(service: dict[str, Any]) -> dict[str, Any]:
    """The mapping forms of a service's list-or-mapping fields (before merging)."""
    for key in _KV_LISTS:
        if key in service:
            service[key] = kv_mapping(service[key])
    if "extra_hosts" in service:
        service["extra_hosts"] = _extra_hosts(service["extra_hosts"])
    for key in ("depends_on", "networks"):
        if key in service:
            service[key] = _names_mapping(service[key])
    if isinstance(service.get("depends_on"), dict):
        service["depends_on"] = {name: {"condition": "service_started", "required": True,
                                        "restart": False, **(cfg or {})}
                                 for name, cfg in service["depends_on"].items()}
    build = service.get("build")
    if isinstance(build, str):
        service["build"] = {"context": build}
    if isinstance(service.get("build"), dict) and "args" in service["build"]:
        service["build"]["args"] = kv_mapping(service["build"]["args"])
    return service


def _volume_key(item: Any) -> str:
    if isinstance(item, dict):
        return str(item.get("target", item))
    parts = str(item).split(":")
    return parts[1] if len(parts) > 1 else parts[0]


def _merge_list(key: str, base: list[Any], other: list[Any]) -> list[Any]:
    if key in ("volumes", "secrets", "configs") or key.endswith(".volumes"):
        keyed = {(_volume_key(i) if key.endswith("volumes") else str(i)): i for i in base}
        for item in other:
            keyed[_volume_key(item) if key.endswith("volumes") else str(item)] = item
        return list(keyed.values())
    merged = list(base)
    for item in other:
        if item not in merged or key not in ("ports", "expose", "dns", "dns_search", "cap_add",
                                             "cap_drop", "profiles", "env_file"):
            merged.append(item)
    return merged


def merge(base: Any, other: Any, key: str = "") -> Any:
    """``other`` (a later file) merged onto ``base``."""
    if isinstance(other, Override):
        return strip(other.value)
    if isinstance(other, Reset):
        return Reset()
    if isinstance(base, dict) and isinstance(other, dict):
        out = dict(base)
        for name, value in other.items():
            child = f"{key}.{name}" if key else name
            out[name] = merge(out[name], value, child) if name in out else strip(value)
        return out
    leaf = key.rsplit(".", 1)[-1]
    if isinstance(base, list) and isinstance(other, list) and key not in _REPLACED and leaf not in _REPLACED:
        return _merge_list(leaf, base, strip(other))
    return strip(other)


def strip(node: Any) -> Any:
    """The tree without markers: ``!override`` unwrapped, ``!reset`` entries dropped."""
    if isinstance(node, Override):
        return strip(node.value)
    if isinstance(node, dict):
        return {k: strip(v) for k, v in node.items() if not isinstance(v, Reset)}
    if isinstance(node, list):
        return [strip(v) for v in node if not isinstance(v, Reset)]
    return node

"""Service specs: swarmkit's validation (with its error texts) and its defaults.

A spec is kept as the client sent it; :func:`with_defaults` gives the values the orchestrator acts
on and what ``GET /services/{id}?insertDefaults=true`` shows (swarmkit ``api/defaults``). Errors
read as dockerd relays swarmkit's: ``rpc error: code = InvalidArgument desc = …``.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from dockyard.core.images.reference import parse as parse_reference
from dockyard.errors import AlreadyExists, InvalidArgument

SECOND = 1_000_000_000
MAX_BLOB_SIZE = 500 * 1024  # swarmkit's MaxSecretSize and MaxConfigSize
_DNS_LABEL = re.compile(r"^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$")
_FAILURE_ACTIONS = ("pause", "continue", "rollback")
_ORDERS = ("stop-first", "start-first")
_CONDITIONS = ("none", "on-failure", "any")
_AVAILABILITY = ("active", "pause", "drain")

_UPDATE_DEFAULTS: dict[str, Any] = {"Parallelism": 1, "FailureAction": "pause", "Monitor": 5 * SECOND,
                                    "MaxFailureRatio": 0, "Order": "stop-first"}


def invalid(message: str) -> InvalidArgument:
    return InvalidArgument(f"rpc error: code = InvalidArgument desc = {message}")


def already_exists(message: str) -> AlreadyExists:
    return AlreadyExists(f"rpc error: code = AlreadyExists desc = {message}")


def validate_name(name: str) -> None:
    if not name:
        raise invalid("meta: name must be provided")
    if len(name) > 63 or not _DNS_LABEL.match(name):
        # swarmkit's validateAnnotations: a service name is a DNS label (it names tasks and DNS).
        raise invalid("name must be valid as a DNS name component")


def _duration(value: Any, where: str) -> int:
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidArgument(f"json: cannot unmarshal {type(value).__name__} into Go struct field "
                              f"{where} of type time.Duration")
    if value < 0:
        raise invalid(f"TaskSpec: {where.rsplit('.', 1)[-1]} cannot be negative")
    return value


_MODES = {m.lower(): m for m in ("Replicated", "Global", "ReplicatedJob", "GlobalJob")}


def normalise(spec: dict[str, Any]) -> dict[str, Any]:
    """Go's JSON decoder matches field names without regard to case (docker-py sends
    ``{"replicated": …}``): give the mode Docker's spelling."""
    mode = spec.get("Mode")
    if isinstance(mode, dict):
        spec["Mode"] = {_MODES.get(str(k).lower(), k): v for k, v in mode.items()}
    # dockerd stores one replica where the client named none (the CLI's progress needs the count).
    if not spec.get("Mode"):
        spec["Mode"] = {"Replicated": {"Replicas": 1}}
    elif isinstance(spec["Mode"].get("Replicated", 0), dict | None) and "Replicated" in spec["Mode"]:
        replicated = spec["Mode"]["Replicated"] or {}
        replicated.setdefault("Replicas", 1)
        spec["Mode"]["Replicated"] = replicated
    return spec


def validate_service(spec: dict[str, Any]) -> None:
    """swarmkit ``validateServiceSpec``: the parts this engine acts on."""
    normalise(spec)
    validate_name(str(spec.get("Name") or ""))
    template = spec.get("TaskTemplate")
    if not isinstance(template, dict):
        raise invalid("TaskSpec: missing runtime")
    if template.get("PluginSpec") or template.get("NetworkAttachmentSpec"):
        raise invalid("TaskSpec: only container runtimes are supported by this engine")
    container = template.get("ContainerSpec")
    if not isinstance(container, dict):
        raise invalid("TaskSpec: missing runtime")
    image = str(container.get("Image") or "")
    if not image:
        raise invalid("ContainerSpec: image reference must be provided")
    try:
        parse_reference(image)
    except InvalidArgument as exc:
        raise invalid(f'ContainerSpec: "{image}" is not a valid repository/tag') from exc
    _duration(container.get("StopGracePeriod"), "ContainerSpec.StopGracePeriod")
    _validate_mode(spec.get("Mode"))
    _validate_restart(template.get("RestartPolicy"))
    for key in ("UpdateConfig", "RollbackConfig"):
        _validate_update(spec.get(key), key)
    _validate_endpoint(spec.get("EndpointSpec"))
    from dockyard.core.swarm.placement import check_constraints

    check_constraints(list((template.get("Placement") or {}).get("Constraints") or []))


def _validate_mode(mode: Any) -> None:
    if mode is None:
        return
    if not isinstance(mode, dict):
        raise InvalidArgument("json: cannot unmarshal into Go struct field ServiceSpec.Mode")
    known = {"Replicated", "Global"}
    unknown = set(mode) - known - {"ReplicatedJob", "GlobalJob"}
    if unknown or set(mode) & {"ReplicatedJob", "GlobalJob"}:
        raise invalid(f"unrecognized service mode: {', '.join(sorted(mode))}")
    if len(set(mode) & known) > 1:
        raise invalid("ServiceSpec: only one of Replicated and Global may be set")
    replicated = mode.get("Replicated")
    if replicated is not None:
        replicas = (replicated or {}).get("Replicas", 1)
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            # Replicas is a uint64 in Docker's types: a negative number fails to decode.
            raise InvalidArgument(f"json: cannot unmarshal number {replicas} into Go struct field "
                                  "ReplicatedService.Mode.Replicated.Replicas of type uint64")


def _validate_restart(policy: Any) -> None:
    if not policy:
        return
    condition = policy.get("Condition")
    if condition and condition not in _CONDITIONS:
        raise invalid(f"TaskSpec: unrecognized restart condition {condition}")
    _duration(policy.get("Delay"), "RestartPolicy.Delay")
    _duration(policy.get("Window"), "RestartPolicy.Window")


def _validate_update(config: Any, key: str) -> None:
    if not config:
        return
    action = config.get("FailureAction")
    if action and action not in _FAILURE_ACTIONS:
        raise invalid(f"{key}: unrecognized failure action {action}")
    if key == "RollbackConfig" and action == "rollback":
        raise invalid(f"{key}: unrecognized failure action {action}")
    order = config.get("Order")
    if order and order not in _ORDERS:
        raise invalid(f"{key}: unrecognized update order {order}")
    ratio = config.get("MaxFailureRatio", 0)
    if not isinstance(ratio, int | float) or not 0 <= ratio <= 1:
        raise invalid(f"{key}: max failure ratio must be between 0 and 1")
    _duration(config.get("Delay"), f"{key}.Delay")
    _duration(config.get("Monitor"), f"{key}.Monitor")


def _validate_endpoint(endpoint: Any) -> None:
    if not endpoint:
        return
    mode = endpoint.get("Mode") or "vip"
    if mode not in ("vip", "dnsrr"):
        raise invalid(f"EndpointSpec: unrecognized endpoint mode {mode}")
    seen: set[tuple[int, str, str]] = set()
    for port in endpoint.get("Ports") or []:
        published = int(port.get("PublishedPort") or 0)
        proto = str(port.get("Protocol") or "tcp")
        publish_mode = str(port.get("PublishMode") or "ingress")
        if mode == "dnsrr" and publish_mode == "ingress" and published:
            raise invalid("EndpointSpec: port published with ingress mode can't be used with dnsrr mode")
        if published and (published, proto, publish_mode) in seen:
            raise invalid("EndpointSpec: duplicate published ports provided")
        seen.add((published, proto, publish_mode))


def validate_node_spec(spec: dict[str, Any]) -> None:
    availability = spec.get("Availability") or "active"
    if availability not in _AVAILABILITY:
        raise invalid(f"unrecognized availability {availability}")
    role = spec.get("Role") or "manager"
    if role not in ("manager", "worker"):
        raise invalid(f"unrecognized role {role}")


def with_defaults(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec with swarmkit's defaults filled in where the client left a value out."""
    out = copy.deepcopy(spec)
    out.setdefault("Labels", {})
    out.setdefault("Mode", {"Replicated": {"Replicas": 1}})
    if "Replicated" in out["Mode"]:
        out["Mode"]["Replicated"] = out["Mode"]["Replicated"] or {}
        out["Mode"]["Replicated"].setdefault("Replicas", 1)
    template = out.setdefault("TaskTemplate", {})
    container = template.setdefault("ContainerSpec", {})
    container.setdefault("StopGracePeriod", 10 * SECOND)
    container.setdefault("DNSConfig", {})
    container.setdefault("Isolation", "default")
    template.setdefault("Resources", {"Limits": {}, "Reservations": {}})
    restart = template.setdefault("RestartPolicy", {})
    restart.setdefault("Condition", "any")
    restart.setdefault("Delay", 5 * SECOND)
    restart.setdefault("MaxAttempts", 0)
    template.setdefault("Placement", {})
    template.setdefault("ForceUpdate", 0)
    template.setdefault("Runtime", "container")
    for key in ("UpdateConfig", "RollbackConfig"):
        config = out.setdefault(key, {}) or {}
        out[key] = {**_UPDATE_DEFAULTS, **config}
    endpoint = out.setdefault("EndpointSpec", {}) or {}
    endpoint.setdefault("Mode", "vip")
    out["EndpointSpec"] = endpoint
    return out


def template_changed(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """True when tasks must be replaced: the task template differs (ForceUpdate included)."""
    return bool(old.get("TaskTemplate") != new.get("TaskTemplate"))


def validate_blob(kind: str, spec: dict[str, Any], data: bytes) -> None:
    name = str(spec.get("Name") or "")
    if not name:
        raise invalid("name must be provided")
    if len(name) > 64 or not re.match(r"^[a-zA-Z0-9]+(?:[a-zA-Z0-9-_.]*[a-zA-Z0-9])?$", name):
        raise invalid("invalid name, only 64 [a-zA-Z0-9-_.] characters allowed, and the start and "
                      "end character must be [a-zA-Z0-9]")
    if kind == "secret" and spec.get("Driver"):
        if data:
            raise invalid("secret data must be empty when a driver is specified")
        raise invalid("secret drivers are not supported by this engine")
    if not 0 < len(data) < MAX_BLOB_SIZE:
        raise invalid(f"{kind} data must be larger than 0 and less than {MAX_BLOB_SIZE} bytes")

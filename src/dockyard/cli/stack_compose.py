"""A compose file as the swarm objects ``stack deploy`` makes: networks, secrets, configs and
services (docker/cli's ``convert`` package does this on the client side too).

Keys this engine cannot act on are refused by name rather than dropped.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from dockyard.cli.client import CliError
from dockyard.cli.health_opts import parse_duration
from dockyard.cli.resource_opts import parse_cpus, parse_ram

NAMESPACE = "com.docker.stack.namespace"
_SERVICE_KEYS = {"image", "command", "entrypoint", "environment", "labels", "hostname", "working_dir",
                 "user", "healthcheck", "secrets", "configs", "networks", "ports", "stop_grace_period",
                 "stop_signal", "deploy", "read_only", "init", "tty", "stdin_open", "cap_add", "cap_drop"}
_DEPLOY_KEYS = {"mode", "replicas", "endpoint_mode", "labels", "resources", "restart_policy",
                "update_config", "rollback_config", "placement"}


def load(path: Path) -> dict[str, Any]:
    data = YAML(typ="safe").load(path.read_text())
    if not isinstance(data, dict) or not isinstance(data.get("services"), dict):
        raise CliError(f"{path}: services must be a mapping")
    return data


def _duration(value: Any, key: str) -> int:
    return parse_duration(str(value), key)


def _words(value: Any) -> list[str]:
    import shlex

    return shlex.split(value) if isinstance(value, str) else [str(v) for v in value]


def _mapping(value: Any) -> dict[str, str]:
    if isinstance(value, dict):
        return {str(k): "" if v is None else str(v) for k, v in value.items()}
    return {k: v for k, _, v in (str(item).partition("=") for item in value or [])}


def networks(stack: str, data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Network name in the file -> create body (None body: external, must exist)."""
    declared = dict(data.get("networks") or {})
    used = {n for svc in data["services"].values() for n in _service_networks(svc)} or {"default"}
    result: dict[str, dict[str, Any]] = {}
    for name in used:
        spec = declared.get(name) or {}
        if spec.get("external"):
            result[name] = {"external": spec.get("name") or name}
            continue
        driver = spec.get("driver") or "overlay"
        result[name] = {"Name": spec.get("name") or f"{stack}_{name}", "Driver": driver,
                        "Attachable": bool(spec.get("attachable")), "Scope": "swarm",
                        "Labels": {**_mapping(spec.get("labels")), NAMESPACE: stack}}
    return result


def _service_networks(service: dict[str, Any]) -> list[str]:
    value = service.get("networks") or ["default"]
    return list(value) if isinstance(value, dict | list) else ["default"]


def blobs(stack: str, data: dict[str, Any], kind: str, base: Path) -> dict[str, dict[str, Any]]:
    result = {}
    for name, spec in (data.get(f"{kind}s") or {}).items():
        spec = spec or {}
        if spec.get("external"):
            result[name] = {"external": spec.get("name") or name}
        elif spec.get("file"):
            content = (base / spec["file"]).read_bytes()
            result[name] = {"Name": spec.get("name") or f"{stack}_{name}",
                            "Labels": {**_mapping(spec.get("labels")), NAMESPACE: stack},
                            "Data": base64.b64encode(content).decode()}
        else:
            raise CliError(f"{kind} {name}: only file and external {kind}s are supported")
    return result


def service_spec(stack: str, name: str, svc: dict[str, Any], *, network_ids: dict[str, str],
                 refs: dict[str, dict[str, tuple[str, str]]]) -> dict[str, Any]:
    unknown = set(svc) - _SERVICE_KEYS
    if unknown:
        raise CliError(f"service {name}: unsupported compose keys: {', '.join(sorted(unknown))}")
    deploy = svc.get("deploy") or {}
    unknown = set(deploy) - _DEPLOY_KEYS
    if unknown:
        raise CliError(f"service {name}: unsupported deploy keys: {', '.join(sorted(unknown))}")
    image = str(svc.get("image") or "")
    container: dict[str, Any] = {"Image": image, "Labels": {NAMESPACE: stack}}
    if svc.get("command") is not None:
        container["Args"] = _words(svc["command"])
    if svc.get("entrypoint") is not None:
        container["Command"] = _words(svc["entrypoint"])
    if svc.get("environment"):
        container["Env"] = [f"{k}={v}" for k, v in _mapping(svc["environment"]).items()]
    container["Labels"].update(_mapping(svc.get("labels")))
    for key, field in (("hostname", "Hostname"), ("working_dir", "Dir"), ("user", "User"),
                       ("stop_signal", "StopSignal")):
        if svc.get(key):
            container[field] = str(svc[key])
    for key, field in (("read_only", "ReadOnly"), ("init", "Init"), ("tty", "TTY"),
                       ("stdin_open", "OpenStdin")):
        if key in svc:
            container[field] = bool(svc[key])
    for key, field in (("cap_add", "CapabilityAdd"), ("cap_drop", "CapabilityDrop")):
        if svc.get(key):
            container[field] = list(svc[key])
    if svc.get("stop_grace_period"):
        container["StopGracePeriod"] = _duration(svc["stop_grace_period"], "stop_grace_period")
    if svc.get("healthcheck"):
        container["Healthcheck"] = _healthcheck(svc["healthcheck"])
    for kind in ("secret", "config"):
        if svc.get(f"{kind}s"):
            container[f"{kind.capitalize()}s"] = [_reference(kind, r, refs[kind]) for r in svc[f"{kind}s"]]
    template: dict[str, Any] = {"ContainerSpec": container, "Resources": _resources(deploy.get("resources")),
                                "Networks": [{"Target": network_ids[n], "Aliases": [name]}
                                             for n in _service_networks(svc)]}
    if deploy.get("restart_policy"):
        template["RestartPolicy"] = _restart(deploy["restart_policy"])
    placement = deploy.get("placement") or {}
    if placement:
        template["Placement"] = {"Constraints": list(placement.get("constraints") or []),
                                 "MaxReplicas": int(placement.get("max_replicas_per_node") or 0)}
    mode = deploy.get("mode") or "replicated"
    spec: dict[str, Any] = {
        "Name": f"{stack}_{name}", "Labels": {**_mapping(deploy.get("labels")), NAMESPACE: stack,
                                              "com.docker.stack.image": image},
        "TaskTemplate": template,
        "Mode": {"Global": {}} if mode == "global" else {
            "Replicated": {"Replicas": int(deploy.get("replicas", 1))}},
        "EndpointSpec": {"Mode": deploy.get("endpoint_mode") or "vip", "Ports": _ports(svc.get("ports"))}}
    for key, field in (("update_config", "UpdateConfig"), ("rollback_config", "RollbackConfig")):
        if deploy.get(key):
            spec[field] = _update(deploy[key])
    return spec


def _healthcheck(check: dict[str, Any]) -> dict[str, Any]:
    if check.get("disable"):
        return {"Test": ["NONE"]}
    test = check.get("test")
    result: dict[str, Any] = {"Test": ["CMD-SHELL", test] if isinstance(test, str) else list(test or [])}
    for key, field in (("interval", "Interval"), ("timeout", "Timeout"), ("start_period", "StartPeriod")):
        if check.get(key):
            result[field] = _duration(check[key], key)
    if check.get("retries") is not None:
        result["Retries"] = int(check["retries"])
    return result


def _reference(kind: str, ref: Any, known: dict[str, tuple[str, str]]) -> dict[str, Any]:
    source = ref if isinstance(ref, str) else ref["source"]
    if source not in known:
        raise CliError(f"undefined {kind} \"{source}\"")
    blob_id, blob_name = known[source]
    long = ref if isinstance(ref, dict) else {}
    default = source if kind == "secret" else f"/{source}"
    return {"File": {"Name": str(long.get("target") or default), "UID": str(long.get("uid", "0")),
                     "GID": str(long.get("gid", "0")), "Mode": int(long.get("mode", 0o444))},
            f"{kind.capitalize()}ID": blob_id, f"{kind.capitalize()}Name": blob_name}


def _resources(resources: Any) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, field in (("limits", "Limits"), ("reservations", "Reservations")):
        part = (resources or {}).get(key) or {}
        entry: dict[str, Any] = {}
        if part.get("cpus"):
            entry["NanoCPUs"] = parse_cpus(str(part["cpus"]))
        if part.get("memory"):
            entry["MemoryBytes"] = parse_ram(str(part["memory"]))
        if part.get("pids"):
            entry["Pids"] = int(part["pids"])
        if entry:
            result[field] = entry
    return result


def _restart(policy: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {"Condition": policy.get("condition") or "any"}
    if policy.get("delay"):
        result["Delay"] = _duration(policy["delay"], "delay")
    if policy.get("max_attempts") is not None:
        result["MaxAttempts"] = int(policy["max_attempts"])
    if policy.get("window"):
        result["Window"] = _duration(policy["window"], "window")
    return result


def _update(config: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, field in (("parallelism", "Parallelism"), ("failure_action", "FailureAction"),
                       ("order", "Order"), ("max_failure_ratio", "MaxFailureRatio")):
        if key in config:
            result[field] = config[key]
    for key, field in (("delay", "Delay"), ("monitor", "Monitor")):
        if config.get(key):
            result[field] = _duration(config[key], key)
    return result


_SHORT_PORT = re.compile(r"^(?:(\d+):)?(\d+)(?:/(tcp|udp))?$")


def _ports(ports: Any) -> list[dict[str, Any]]:
    result = []
    for port in ports or []:
        if isinstance(port, dict):
            result.append({"TargetPort": int(port["target"]),
                           "PublishedPort": int(port.get("published") or 0),
                           "Protocol": port.get("protocol") or "tcp",
                           "PublishMode": port.get("mode") or "ingress"})
            continue
        match = _SHORT_PORT.match(str(port))
        if match is None:
            raise CliError(f"invalid port {port!r}: use [published:]target[/protocol]")
        published, target, proto = match.groups()
        result.append({"TargetPort": int(target), "PublishedPort": int(published or 0),
                       "Protocol": proto or "tcp", "PublishMode": "ingress"})
    return result

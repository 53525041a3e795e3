"""The create body of one service container (``POST /containers/create``), as Compose v2 builds it."""

from __future__ import annotations

from typing import Any

from dockyard.compose import references
from dockyard.compose.confighash import config_hash
from dockyard.compose.loader import Project
from dockyard.compose.spec import (
    COMPOSE_VERSION,
    CONFIG_FILES,
    DEPENDS_ON,
    HASH,
    IMAGE,
    NUMBER,
    ONEOFF,
    PROJECT,
    SERVICE,
    VERSION,
    WORKING_DIR,
    _command,
    duration_ns,
    environment,
    healthcheck,
    image_of,
    mounts,
    network_name,
    parse_ports,
    size_bytes,
)
from dockyard.compose.yamlfile import ComposeError

# Service keys this implementation applies; any other key of the spec is refused by name rather
# than silently ignored (``x-`` extensions excepted).
SUPPORTED = frozenset({
    "image", "build", "command", "entrypoint", "environment", "env_file", "ports", "expose", "volumes",
    "depends_on", "networks", "network_mode", "healthcheck", "restart", "init", "labels", "user",
    "working_dir", "hostname", "domainname", "tty", "stdin_open", "privileged", "cap_add", "cap_drop",
    "extra_hosts", "dns", "dns_search", "stop_signal", "stop_grace_period", "logging", "ulimits",
    "deploy", "secrets", "configs", "container_name", "profiles", "read_only", "tmpfs", "sysctls",
    "mem_limit", "cpus", "shm_size", "pull_policy", "scale", "develop", "security_opt", "platform",
    "pid", "ipc", "devices", "group_add", "mac_address", "annotations", "links", "external_links",
    "volumes_from",
})


def labels(project: Project, name: str, service: dict[str, Any], number: int, *,
           oneoff: bool, image_id: str = "") -> dict[str, str]:
    """Compose v2's labels; ``depends_on`` is ``name:condition:restart`` joined by commas and
    ``com.docker.compose.image`` the image's ID (Compose v2 recreates a container whose image
    changed, or whose label differs from the image it would use now)."""
    deps = ",".join(f"{dep}:{cfg.get('condition', 'service_started')}:"
                    f"{str(cfg.get('restart', False)).lower()}"
                    for dep, cfg in (service.get("depends_on") or {}).items())
    return {**{str(k): str(v) for k, v in (service.get("labels") or {}).items()},
            PROJECT: project.name, SERVICE: name, NUMBER: str(number), ONEOFF: "True" if oneoff else "False",
            HASH: config_hash(project, service), DEPENDS_ON: deps, WORKING_DIR: str(project.working_dir),
            CONFIG_FILES: ",".join(str(p) for p in project.config_files), VERSION: COMPOSE_VERSION,
            IMAGE: image_id}


def _port_bindings(service: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[dict[str, str]]]]:
    exposed: dict[str, Any] = {}
    bindings: dict[str, list[dict[str, str]]] = {}
    for port in parse_ports(service.get("ports") or []):
        key = f"{port['target']}/{port['protocol']}"
        exposed[key] = {}
        bindings.setdefault(key, []).append({"HostIp": port["host_ip"], "HostPort": port["published"]})
    for item in service.get("expose") or []:
        text = str(item)
        exposed[text if "/" in text else f"{text}/tcp"] = {}
    return exposed, bindings


def _restart(service: dict[str, Any]) -> dict[str, Any]:
    policy = str(service.get("restart") or "no")
    name, _, count = policy.partition(":")
    restart = ((service.get("deploy") or {}).get("restart_policy") or {})
    if restart and not service.get("restart"):
        conditions = {"any": "always", "none": "no", "on-failure": "on-failure"}
        name = conditions.get(restart.get("condition", "any"), "always")
        count = str(restart.get("max_attempts") or "")
    return {"Name": name, "MaximumRetryCount": int(count or 0)}


def _resources(service: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    limits = ((service.get("deploy") or {}).get("resources") or {}).get("limits") or {}
    memory = limits.get("memory") or service.get("mem_limit")
    if memory:
        out["Memory"] = size_bytes(memory)
    cpus = limits.get("cpus") or service.get("cpus")
    if cpus:
        out["NanoCpus"] = int(float(cpus) * 10**9)
    if limits.get("pids"):
        out["PidsLimit"] = int(limits["pids"])
    reservations = ((service.get("deploy") or {}).get("resources") or {}).get("reservations") or {}
    if reservations.get("memory"):
        out["MemoryReservation"] = size_bytes(reservations["memory"])
    if service.get("shm_size"):
        out["ShmSize"] = size_bytes(service["shm_size"])
    return out


def _ulimits(service: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for name, value in (service.get("ulimits") or {}).items():
        soft, hard = (value, value) if isinstance(value, int) else (value.get("soft"), value.get("hard"))
        out.append({"Name": name, "Soft": int(soft), "Hard": int(hard)})
    return out


def service_networks(project: Project, service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The service's networks (key → its settings), ``default`` when it names none."""
    if service.get("network_mode"):
        return {}
    nets = service.get("networks") or {"default": None}
    out = {}
    for key, cfg in nets.items():
        if key not in project.networks:
            raise ComposeError(f"service {service.get('_name')!r} refers to undefined network {key}: "
                               "invalid compose project")
        out[key] = cfg or {}
    return out


def _networking(project: Project, name: str, service: dict[str, Any],
                short_aliases: bool) -> tuple[str, dict[str, Any]]:
    nets = service_networks(project, service)
    if not nets:
        return str(service.get("network_mode")), {}
    endpoints: dict[str, Any] = {}
    for key, cfg in sorted(nets.items(), key=lambda kv: -int(kv[1].get("priority") or 0)):
        ipam = {k: v for k, v in (("IPv4Address", cfg.get("ipv4_address")),
                                  ("IPv6Address", cfg.get("ipv6_address"))) if v}
        aliases = [name, *[str(a) for a in cfg.get("aliases") or []]] if short_aliases else []
        endpoints[network_name(project, key)] = {"Aliases": aliases or None, "IPAMConfig": ipam or None}
        # A service-level mac_address belongs to the primary (first) network, as in Compose v2.
        mac = cfg.get("mac_address") or (service.get("mac_address") if len(endpoints) == 1 else None)
        if mac:
            endpoints[network_name(project, key)]["MacAddress"] = str(mac)
    return next(iter(endpoints)), {"EndpointsConfig": endpoints}


def _devices(service: dict[str, Any]) -> list[dict[str, str]]:
    """``devices:`` short (``src[:dst[:perms]]``) and long forms, as compose-go reads them."""
    out = []
    for item in service.get("devices") or []:
        if isinstance(item, dict):
            src, dst, perms = str(item["source"]), str(item.get("target") or item["source"]), str(
                item.get("permissions") or "rwm")
        else:
            parts = str(item).split(":")
            src, dst, perms = parts[0], (parts[1:2] or [parts[0]])[0] or parts[0], (parts[2:3] or ["rwm"])[0]
        out.append({"PathOnHost": src, "PathInContainer": dst, "CgroupPermissions": perms})
    return out


def create_body(project: Project, name: str, service: dict[str, Any], number: int, *,
                oneoff: bool = False, command: list[str] | None = None,
                publish: bool = True, image_id: str = "",
                peers: references.ContainersOf = lambda _service: []) -> dict[str, Any]:
    """The engine's create body; ``peers`` finds the containers of services this one names."""
    unknown = sorted(k for k in service if k not in SUPPORTED and not k.startswith(("x-", "_")))
    if unknown:
        raise ComposeError(f"services.{name}.{unknown[0]}: not supported by dockyard compose")
    exposed, bindings = _port_bindings(service)
    mode, networking = _networking(project, name, service, not oneoff)
    host: dict[str, Any] = {
        "NetworkMode": mode, "PortBindings": bindings if publish else {},
        "Mounts": mounts(project, service), "RestartPolicy": _restart(service),
        "Init": service.get("init"), "ExtraHosts": [f"{h}:{ip}" for h, ip in
                                                    (service.get("extra_hosts") or {}).items()] or None,
        "Privileged": bool(service.get("privileged")), "CapAdd": service.get("cap_add"),
        "CapDrop": service.get("cap_drop"), "Dns": service.get("dns"), "DnsSearch": service.get("dns_search"),
        "ReadonlyRootfs": bool(service.get("read_only")), "Sysctls": service.get("sysctls"),
        "SecurityOpt": service.get("security_opt"), "Ulimits": _ulimits(service) or None,
        "Tmpfs": {str(t): "" for t in ([service["tmpfs"]] if isinstance(service.get("tmpfs"), str)
                                       else service.get("tmpfs") or [])} or None,
        "Devices": _devices(service) or None,
        "GroupAdd": [str(g) for g in service.get("group_add") or []] or None,
        "PidMode": service.get("pid"), "IpcMode": service.get("ipc"),
        "Annotations": {str(k): str(v) for k, v in (service.get("annotations") or {}).items()} or None,
        **_resources(service),
        **references.host_config(name, service, peers),
    }
    if service.get("logging"):
        host["LogConfig"] = {"Type": service["logging"].get("driver") or "json-file",
                             "Config": service["logging"].get("options") or {}}
    body: dict[str, Any] = {
        "Image": image_of(project, name, service), "Env": environment(project, service),
        "Cmd": command if command is not None else _command(service.get("command")),
        "Entrypoint": _command(service.get("entrypoint")),
        "Labels": labels(project, name, references.resolved(name, service, peers), number, oneoff=oneoff,
                         image_id=image_id),
        "ExposedPorts": exposed or None,
        "WorkingDir": service.get("working_dir") or "", "User": service.get("user") or "",
        "Hostname": service.get("hostname") or "", "Domainname": service.get("domainname") or "",
        "Tty": bool(service.get("tty")), "OpenStdin": bool(service.get("stdin_open")),
        "AttachStdout": True, "AttachStderr": True,
        "Healthcheck": healthcheck(service), "StopSignal": service.get("stop_signal"),
        "HostConfig": {k: v for k, v in host.items() if v is not None},
        "NetworkingConfig": networking,
    }
    if service.get("mac_address") and not service_networks(project, service):
        body["MacAddress"] = str(service["mac_address"])
    if service.get("stop_grace_period") is not None:
        body["StopTimeout"] = duration_ns(service["stop_grace_period"]) // 10**9
    return {k: v for k, v in body.items() if v is not None}

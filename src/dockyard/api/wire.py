"""Docker JSON <-> container models: the create body, inspect and list output, exec records.

Docker's ``Running``/``Paused``/``Restarting``/``Dead`` booleans are derived here from the State
enum; nothing in the core stores them.
"""

from __future__ import annotations

import time
from typing import Any

from dockyard.core.containers.execs import ExecConfig, ExecSession
from dockyard.core.containers.model import (
    Container,
    ContainerConfig,
    ContainerPaths,
    CreateRequest,
    HostOptions,
    State,
)
from dockyard.core.networks.model import PortBinding
from dockyard.core.networks.ports import parse_port_key, ports_json
from dockyard.core.system import cgroup_version
from dockyard.core.timestamps import parse_ns, unix_seconds
from dockyard.errors import InvalidArgument
from dockyard.units import human_duration

_NULL_DEFAULTS: dict[str, Any] = {
    "Binds": None, "ContainerIDFile": "",
    "NetworkMode": "bridge", "PortBindings": {}, "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
    "AutoRemove": False, "VolumeDriver": "", "VolumesFrom": None, "ConsoleSize": [0, 0],
    "CapAdd": None, "CapDrop": None, "CgroupnsMode": "host", "Dns": [], "DnsOptions": [],
    "DnsSearch": [], "ExtraHosts": None, "GroupAdd": None, "IpcMode": "private", "Cgroup": "",
    "Links": None, "OomScoreAdj": 0, "PidMode": "", "Privileged": False, "PublishAllPorts": False,
    "ReadonlyRootfs": False, "SecurityOpt": None, "UTSMode": "", "UsernsMode": "",
    "ShmSize": 67108864, "Runtime": "runc", "Isolation": "", "CpuShares": 0, "Memory": 0,
    "NanoCpus": 0, "CgroupParent": "", "BlkioWeight": 0, "BlkioWeightDevice": [],
    "BlkioDeviceReadBps": [], "BlkioDeviceWriteBps": [], "BlkioDeviceReadIOps": [],
    "BlkioDeviceWriteIOps": [], "CpuPeriod": 0, "CpuQuota": 0, "CpuRealtimePeriod": 0,
    "CpuRealtimeRuntime": 0, "CpusetCpus": "", "CpusetMems": "", "Devices": [],
    "DeviceCgroupRules": None, "DeviceRequests": None, "MemoryReservation": 0, "MemorySwap": 0,
    "MemorySwappiness": None, "OomKillDisable": None, "PidsLimit": None, "Ulimits": None,
    "CpuCount": 0, "CpuPercent": 0, "IOMaximumIOps": 0, "IOMaximumBandwidth": 0,
    "Init": None, "Mounts": None,
}


def _strings(value: Any, field: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value]
    raise InvalidArgument(f"json: cannot unmarshal {type(value).__name__} into {field} of type []string")


def _dict(value: Any, field: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidArgument(f"json: cannot unmarshal {type(value).__name__} into {field}")
    return dict(value)


_CONFIG_KEYS = {"Hostname", "Domainname", "User", "AttachStdin", "AttachStdout", "AttachStderr",
                "ExposedPorts", "Tty", "OpenStdin", "StdinOnce", "Env", "Cmd", "Image", "Volumes",
                "WorkingDir", "Entrypoint", "Labels", "StopSignal", "StopTimeout", "HostConfig",
                "NetworkingConfig"}


def container_config(body: dict[str, Any]) -> ContainerConfig:
    stop_timeout = body.get("StopTimeout")
    return ContainerConfig(
        image=str(body.get("Image") or ""),
        cmd=_strings(body.get("Cmd"), "Config.Cmd"),
        entrypoint=_strings(body.get("Entrypoint"), "Config.Entrypoint"),
        env=_strings(body.get("Env"), "Config.Env") or [],
        working_dir=str(body.get("WorkingDir") or ""),
        user=str(body.get("User") or ""),
        labels={str(k): str(v) for k, v in _dict(body.get("Labels"), "Config.Labels").items()},
        hostname=str(body.get("Hostname") or ""),
        domainname=str(body.get("Domainname") or ""),
        tty=bool(body.get("Tty")),
        open_stdin=bool(body.get("OpenStdin")),
        stdin_once=bool(body.get("StdinOnce")),
        attach_stdin=bool(body.get("AttachStdin")),
        attach_stdout=bool(body.get("AttachStdout")),
        attach_stderr=bool(body.get("AttachStderr")),
        stop_signal=str(body["StopSignal"]) if body.get("StopSignal") else None,
        stop_timeout=int(stop_timeout) if stop_timeout is not None else None,
        exposed_ports=_dict(body.get("ExposedPorts"), "Config.ExposedPorts"),
        volumes=_dict(body.get("Volumes"), "Config.Volumes"),
        extra={k: v for k, v in body.items() if k not in _CONFIG_KEYS},
    )


def host_options(raw: dict[str, Any], *, default_runtime: str) -> HostOptions:
    filled = {**_NULL_DEFAULTS, **{k: v for k, v in raw.items()}}
    filled["Runtime"] = raw.get("Runtime") or default_runtime
    # LogConfig is completed by the core (daemon default driver and options, core/logging/).
    # The CLI sends "default"; Docker records and shows the driver it means.
    mode = str(raw.get("NetworkMode") or "bridge")
    filled["NetworkMode"] = "bridge" if mode == "default" else mode
    # The CLI sends "" and -1 for "not set"; dockerd records the mode it applies (a private
    # cgroup namespace only on cgroup v2 hosts) and no swappiness.
    if not filled.get("CgroupnsMode"):
        filled["CgroupnsMode"] = "private" if cgroup_version() == "2" else "host"
    if filled.get("MemorySwappiness") == -1:
        filled["MemorySwappiness"] = None
    _as_dockerd_records(filled)
    size = raw.get("ConsoleSize") or [0, 0]
    return HostOptions(
        network_mode=filled["NetworkMode"],
        auto_remove=bool(raw.get("AutoRemove")),
        init=bool(raw.get("Init")),
        privileged=bool(raw.get("Privileged")),
        readonly_rootfs=bool(raw.get("ReadonlyRootfs")),
        cap_add=_strings(raw.get("CapAdd"), "HostConfig.CapAdd") or [],
        cap_drop=_strings(raw.get("CapDrop"), "HostConfig.CapDrop") or [],
        runtime=str(raw.get("Runtime") or ""),
        console_size=(int(size[0]), int(size[1])) if len(size) == 2 and size[0] and size[1] else None,
        raw=filled,
    )


def _as_dockerd_records(host: dict[str, Any]) -> None:
    """The values dockerd writes into a new container's HostConfig (daemon/create.go): the IPC mode
    it applies, no pids limit for 0 or -1, and the masked and read-only paths an unprivileged
    container gets (the same lists the spec uses, so the effect is unchanged)."""
    from dockyard.core.runtime.spec import MASKED_PATHS, READONLY_PATHS

    if not host.get("IpcMode"):
        host["IpcMode"] = "private"
    if isinstance(host.get("PidsLimit"), int) and host["PidsLimit"] <= 0:
        host["PidsLimit"] = None
    if not host.get("Privileged"):
        for key, paths in (("MaskedPaths", MASKED_PATHS), ("ReadonlyPaths", READONLY_PATHS)):
            if host.get(key) is None:
                host[key] = list(paths)


def create_request(body: dict[str, Any], *, name: str = "", platform: str = "",
                   default_runtime: str = "runc") -> CreateRequest:
    """``POST /containers/create``: the body is a Config with HostConfig and NetworkingConfig."""
    config = container_config(body)
    if not config.image:
        raise InvalidArgument("config cannot be empty in order to create a container")
    return CreateRequest(
        image=config.image,
        name=name,
        config=config,
        host=host_options(_host_config(body), default_runtime=default_runtime),
        platform=platform,
        entrypoint_given=body.get("Entrypoint") is not None,
        networking=_dict(body.get("NetworkingConfig"), "NetworkingConfig"),
    )


def _host_config(body: dict[str, Any]) -> dict[str, Any]:
    host = _dict(body.get("HostConfig"), "HostConfig")
    if body.get("NetworkDisabled"):
        # Config.NetworkDisabled: as moby, the container gets no network at all.
        host["NetworkMode"] = "none"
    return host


def config_json(config: ContainerConfig) -> dict[str, Any]:
    data: dict[str, Any] = {
        "Hostname": config.hostname, "Domainname": config.domainname, "User": config.user,
        "AttachStdin": config.attach_stdin, "AttachStdout": config.attach_stdout,
        "AttachStderr": config.attach_stderr,
    }
    if config.exposed_ports:
        data["ExposedPorts"] = config.exposed_ports
    data.update({
        "Tty": config.tty, "OpenStdin": config.open_stdin, "StdinOnce": config.stdin_once,
        "Env": config.env or None, "Cmd": config.cmd, "Image": config.image,
        "Volumes": config.volumes or None, "WorkingDir": config.working_dir,
        "Entrypoint": config.entrypoint, "OnBuild": None, "Labels": config.labels,
    })
    if config.stop_signal:
        data["StopSignal"] = config.stop_signal
    if config.stop_timeout is not None:
        data["StopTimeout"] = config.stop_timeout
    data.update(config.extra)
    return data


def state_json(container: Container) -> dict[str, Any]:
    state = container.state
    return {
        "Status": state.value,
        "Running": state in (State.RUNNING, State.PAUSED, State.RESTARTING),
        "Paused": state == State.PAUSED,
        "Restarting": state == State.RESTARTING,
        "OOMKilled": container.oom_killed,
        "Dead": state == State.DEAD,
        "Pid": container.pid,
        "ExitCode": container.exit_code,
        "Error": container.error,
        "StartedAt": container.started_at,
        "FinishedAt": container.finished_at,
        **({"Health": container.health} if container.health is not None else {}),
    }


def network_settings(container: Container) -> dict[str, Any]:
    """NetworkSettings: the endpoints of a running container, the networks it asked for otherwise."""
    mode = container.host.network_mode
    mode = "bridge" if mode in ("", "default") else mode
    state = container.network_state
    live: dict[str, Any] = state.get("networks") or {}
    networks: dict[str, Any] = {}
    if not mode.startswith("container:"):
        # The stored EndpointsConfig already holds the NetworkMode's network unless it was
        # disconnected (core/containers/networking.py seed_endpoints).
        asked = list((container.networking.get("EndpointsConfig") or {}).keys())
        for name in dict.fromkeys([*asked, *live]):
            if name != "default":
                networks[name] = _endpoint(live.get(name), _endpoint_config(container, name))
    bindings = [PortBinding(**p) for p in state.get("ports") or []]
    running = bool(state)
    primary = networks.get("bridge") if mode == "bridge" else None
    top = primary or _endpoint(None, {})
    return {
        "Bridge": "", "SandboxID": container.id if running else "",
        "SandboxKey": str(state.get("sandbox") or ""),
        "Ports": ports_json(container.config.exposed_ports, bindings) if running else {},
        "HairpinMode": False, "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
        "SecondaryIPAddresses": None, "SecondaryIPv6Addresses": None,
        "EndpointID": top["EndpointID"], "Gateway": top["Gateway"],
        "GlobalIPv6Address": top["GlobalIPv6Address"], "GlobalIPv6PrefixLen": top["GlobalIPv6PrefixLen"],
        "IPAddress": top["IPAddress"], "IPPrefixLen": top["IPPrefixLen"],
        "IPv6Gateway": top["IPv6Gateway"], "MacAddress": top["MacAddress"],
        "Networks": networks,
    }


def _endpoint_config(container: Container, name: str) -> dict[str, Any]:
    configs = container.networking.get("EndpointsConfig") or {}
    return dict(configs.get(name) or configs.get("default") or {})


def _endpoint(live: dict[str, Any] | None, config: dict[str, Any]) -> dict[str, Any]:
    """EndpointSettings: what the endpoint has while it runs, what was asked for otherwise."""
    live = live or {}
    ipam = config.get("IPAMConfig") or None
    aliases = live.get("aliases") or config.get("Aliases") or None
    return {"IPAMConfig": ipam, "Links": live.get("links") or config.get("Links") or None,
            "Aliases": aliases, "MacAddress": live.get("mac") or config.get("MacAddress") or "",
            "DriverOpts": config.get("DriverOpts") or None, "GwPriority": 0,
            "NetworkID": live.get("network_id", ""), "EndpointID": live.get("endpoint_id", ""),
            "Gateway": live.get("gateway", ""), "IPAddress": live.get("ip", ""),
            "IPPrefixLen": live.get("prefixlen", 0), "IPv6Gateway": live.get("gateway6", ""),
            "GlobalIPv6Address": live.get("ip6", ""),
            "GlobalIPv6PrefixLen": live.get("prefixlen6", 0), "DNSNames": live.get("dns_names") or None}


def summary_ports(container: Container) -> list[dict[str, Any]]:
    """ContainerSummary.Ports: published bindings, and exposed ports without one."""
    result: list[dict[str, Any]] = []
    bindings = [PortBinding(**p) for p in container.network_state.get("ports") or []]
    published = {b.key for b in bindings}
    for binding in bindings:
        result.append({"IP": binding.host_ip or "0.0.0.0", "PrivatePort": binding.container_port,
                       "PublicPort": binding.host_port, "Type": binding.proto})
    if container.network_state:
        for key in container.config.exposed_ports:
            port, proto = parse_port_key(str(key))
            if f"{port}/{proto}" not in published:
                result.append({"PrivatePort": port, "Type": proto})
    return result


def inspect_json(container: Container, *, paths: ContainerPaths, exec_ids: list[str],
                 graph_data: dict[str, str]) -> dict[str, Any]:
    """``GET /containers/{id}/json`` (ContainerInspectResponse)."""
    return {
        "Id": container.id, "Created": container.created, "Path": container.path,
        "Args": container.args, "State": state_json(container), "Image": container.image_id,
        "ResolvConfPath": str(paths.resolv_conf), "HostnamePath": str(paths.hostname),
        "HostsPath": str(paths.hosts), "LogPath": str(paths.log), "Name": container.name,
        "RestartCount": container.restart_count, "Driver": "overlay2", "Platform": "linux",
        "MountLabel": "", "ProcessLabel": "", "AppArmorProfile": "",
        "ExecIDs": exec_ids or None, "HostConfig": container.host.raw,
        "GraphDriver": {"Name": "overlay2", "Data": graph_data},
        "Mounts": mounts_json(container), "Config": config_json(container.config),
        "NetworkSettings": network_settings(container),
    }


def mounts_json(container: Container) -> list[dict[str, Any]]:
    """Inspect's ``Mounts`` (MountPoint): binds, volumes and --mount tmpfs; not --tmpfs."""
    result = []
    for point in container.mounts:
        if point.from_flag == "tmpfs":
            continue
        entry: dict[str, Any] = {"Type": point.type}
        if point.type == "volume":
            entry["Name"] = point.name
        entry.update({"Source": point.source, "Destination": point.destination})
        if point.type == "volume":
            entry["Driver"] = point.driver
        entry.update({"Mode": point.mode, "RW": point.rw, "Propagation": point.propagation})
        result.append(entry)
    return result


def _age(stamp: str, now: float) -> str:
    try:
        return human_duration(max(0.0, now - parse_ns(stamp) / 1e9))
    except ValueError:
        return "Less than a second"


def status_text(container: Container, now: float | None = None) -> str:
    now = time.time() if now is None else now
    state = container.state
    if state == State.RUNNING:
        return f"Up {_age(container.started_at, now)}{_health_suffix(container)}"
    if state == State.PAUSED:
        return f"Up {_age(container.started_at, now)} (Paused)"
    if state == State.RESTARTING:
        return f"Restarting ({container.exit_code}) {_age(container.finished_at, now)} ago"
    if state == State.EXITED:
        return f"Exited ({container.exit_code}) {_age(container.finished_at, now)} ago"
    if state == State.REMOVING:
        return "Removal In Progress"
    if state == State.DEAD:
        return "Dead"
    return "Created"


def _health_suffix(container: Container) -> str:
    # moby's State.String(): " (health: starting)", " (healthy)", " (unhealthy)".
    status = (container.health or {}).get("Status")
    if not status:
        return ""
    return " (health: starting)" if status == "starting" else f" ({status})"


def summary_json(container: Container, size: tuple[int, int] | None = None) -> dict[str, Any]:
    """One entry of ``GET /containers/json`` (ContainerSummary)."""
    command = " ".join([container.path, *container.args])
    mode = container.host.network_mode
    data: dict[str, Any] = {
        "Id": container.id, "Names": [container.name], "Image": container.config.image,
        "ImageID": container.image_id, "Command": command,
        "Created": unix_seconds(container.created), "Ports": summary_ports(container),
        "Labels": container.config.labels, "State": container.state.value,
        "Status": status_text(container), "HostConfig": {"NetworkMode": mode},
        "NetworkSettings": {"Networks": network_settings(container)["Networks"]},
        "Mounts": mounts_json(container),
    }
    if size is not None:
        data["SizeRw"], data["SizeRootFs"] = size
    return data


def exec_config(body: dict[str, Any]) -> ExecConfig:
    size = body.get("ConsoleSize") or None
    return ExecConfig(
        cmd=_strings(body.get("Cmd"), "Cmd") or [],
        env=_strings(body.get("Env"), "Env") or [],
        working_dir=str(body.get("WorkingDir") or ""),
        user=str(body.get("User") or ""),
        tty=bool(body.get("Tty")),
        privileged=bool(body.get("Privileged")),
        attach_stdin=bool(body.get("AttachStdin")),
        attach_stdout=bool(body.get("AttachStdout")),
        attach_stderr=bool(body.get("AttachStderr")),
        detach_keys=str(body.get("DetachKeys") or ""),
        console_size=(int(size[0]), int(size[1])) if size and len(size) == 2 and size[0] and size[1]
        else None,
    )


def exec_json(session: ExecSession) -> dict[str, Any]:
    config = session.config
    return {
        "ID": session.id, "Running": session.running, "ExitCode": session.exit_code,
        "ProcessConfig": {"privileged": config.privileged, "user": config.user, "tty": config.tty,
                          "entrypoint": config.cmd[0] if config.cmd else "",
                          "arguments": config.cmd[1:]},
        "OpenStdin": config.attach_stdin, "OpenStderr": config.attach_stderr,
        "OpenStdout": config.attach_stdout, "CanRemove": False,
        "ContainerID": session.container_id, "DetachKeys": config.detach_keys, "Pid": session.pid,
    }

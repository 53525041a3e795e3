"""``/_ping``, ``/version``, ``/info``."""

from __future__ import annotations

import datetime as dt
import platform

from dockyard import API_VERSION, MIN_API_VERSION, __version__
from dockyard.api import swarm_wire, web
from dockyard.api.params import json_response
from dockyard.api.routing import RouteTable, engine
from dockyard.core.engine import Engine
from dockyard.core.runtime.emulation import emulated
from dockyard.core.runtime.security import info_options

table = RouteTable()


def _ping_headers() -> dict[str, str]:
    return {"Api-Version": API_VERSION, "Builder-Version": "1",
            "Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache",
            "Docker-Experimental": "false", "Ostype": "linux"}


@table.get("/_ping")
async def ping(request: web.Request) -> web.StreamResponse:
    return web.Response(text="OK", headers=_ping_headers(), content_type="text/plain")


@table.head("/_ping")
async def ping_head(request: web.Request) -> web.StreamResponse:
    return web.Response(headers=_ping_headers(), content_type="text/plain")


@table.get("/version")
async def version(request: web.Request) -> web.StreamResponse:
    facts = engine(request).system.facts
    return json_response({
        "Platform": {"Name": "Dockyard Engine"},
        "Components": [{"Name": "Engine", "Version": __version__,
                        "Details": {"ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION,
                                    "Os": "linux", "Arch": facts.architecture,
                                    "KernelVersion": facts.kernel_version,
                                    "GoVersion": "python" + platform.python_version()}}],
        "Version": __version__,
        "ApiVersion": API_VERSION,
        "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": "",
        "GoVersion": "python" + platform.python_version(),
        "Os": "linux",
        "Arch": facts.architecture,
        "KernelVersion": facts.kernel_version,
        "BuildTime": "",
    })


async def _volume_drivers(eng: Engine) -> list[str]:
    """``local`` and the volume plugins found now (engines built by tests may have no volumes)."""
    return await eng.volumes.driver_names() if eng.volumes is not None else ["local"]


@table.get("/info")
async def info(request: web.Request) -> web.StreamResponse:
    eng = engine(request)
    facts = eng.system.facts
    running, paused, stopped = await eng.containers.counts()
    images = await eng.images.count()
    runtimes = eng.system.runtimes()
    cfg = eng.config
    logging = getattr(eng.containers, "logging", None)  # engines built without drivers have none
    log_drivers = logging.registry.names() if logging is not None else [cfg.log_driver]
    networks = eng.networks
    network_drivers = (await networks.drivers.names(n.driver for n in networks.list())
                       if networks is not None else ["bridge", "host", "null"])
    return json_response({
        "ID": "", "Name": facts.hostname,
        "Containers": running + paused + stopped, "ContainersRunning": running,
        "ContainersPaused": paused, "ContainersStopped": stopped, "Images": images,
        "Driver": cfg.snapshotter if cfg.snapshotter != "overlay" else "overlay2",
        "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"]],
        "DockerRootDir": str(cfg.data_root),
        "Plugins": {"Volume": await _volume_drivers(eng), "Network": network_drivers,
                    "Authorization": list(cfg.authorization_plugins) or None,
                    "Log": log_drivers},
        "MemoryLimit": True, "SwapLimit": False, "CpuCfsPeriod": True, "CpuCfsQuota": True,
        "CPUShares": True, "CPUSet": True, "PidsLimit": True, "IPv4Forwarding": True,
        "Debug": cfg.log_level == "debug", "NFd": 0, "OomKillDisable": False, "NGoroutines": 0,
        "SystemTime": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"),
        "LoggingDriver": logging.driver if logging is not None else cfg.log_driver,
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": facts.cgroup_version,
        "NEventsListener": eng.events.listeners if eng.events is not None else 0,
        "KernelVersion": facts.kernel_version, "OperatingSystem": facts.operating_system,
        "OSVersion": facts.os_version, "OSType": "linux", "Architecture": platform.machine(),
        "IndexServerAddress": "https://index.docker.io/v1/", "RegistryConfig": {
            "InsecureRegistryCIDRs": ["127.0.0.0/8", "::1/128"], "IndexConfigs": {},
            "Mirrors": []},
        "NCPU": facts.cpus, "MemTotal": facts.memory, "GenericResources": None,
        "HttpProxy": "", "HttpsProxy": "", "NoProxy": "", "Labels": [], "ExperimentalBuild": False,
        "ServerVersion": __version__,
        "Runtimes": {name: {"path": path} for name, path in runtimes.items()},
        "DefaultRuntime": cfg.default_runtime, "LiveRestoreEnabled": True,
        "Isolation": "", "InitBinary": "catatonit", "SecurityOptions": [
            # --seccomp-profile: dockerd names the daemon's profile file in place of "builtin".
            o.replace("profile=builtin", f"profile={cfg.seccomp_profile}") if cfg.seccomp_profile_json
            else o for o in info_options(
                cgroup_version=facts.cgroup_version, no_new_privileges=cfg.no_new_privileges,
                remap_active=bool(cfg.userns_remap))],
        # Ours: the foreign platforms the kernel runs through binfmt_misc (`dockyardd --emulation`).
        "Emulation": {"Enabled": cfg.emulation, "Platforms": emulated()},
        "Warnings": [f"WARNING: runtime {name} disabled: {why}"
                     for name, why in eng.system.unusable_runtimes().items()] + (
            # Why the default is runc when crun is installed (core/system.py resolve_default_runtime).
            [f"WARNING: default runtime {cfg.default_runtime}: {cfg.default_runtime_reason}"]
            if cfg.default_runtime_reason and cfg.default_runtime != "crun" else []) + (
            ["WARNING: userland-proxy: dockyardd has no userland proxy; published ports are "
             "kernel NAT (nftables DNAT)"] if cfg.userland_proxy else []),
        "Swarm": swarm_wire.info_json(eng.swarm),
    })

"""Facts about the host and the engine, behind ``/version`` and ``/info``."""

from __future__ import annotations

import os
import platform
import shutil
import socket
from dataclasses import dataclass, replace
from pathlib import Path

from dockyard.config import DaemonConfig


@dataclass(frozen=True, slots=True)
class HostFacts:
    kernel_version: str
    operating_system: str
    os_version: str
    architecture: str  # Go's GOARCH spelling, as Docker reports it
    cpus: int
    memory: int
    hostname: str
    cgroup_version: str  # "1" or "2"


_GOARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386",
           "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}


def go_arch() -> str:
    machine = platform.machine()
    return _GOARCH.get(machine, machine)


def cgroup_version() -> str:
    """"2" only on a unified hierarchy; hybrid hosts (v1 controllers plus a v2 mount) report "1"."""
    return "2" if Path("/sys/fs/cgroup/cgroup.controllers").exists() else "1"


def _os_release() -> tuple[str, str]:
    fields: dict[str, str] = {}
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if "=" in line:
                key, value = line.split("=", 1)
                fields[key] = value.strip().strip('"')
    except OSError:
        pass
    return fields.get("PRETTY_NAME", "Linux"), fields.get("VERSION_ID", "")


def _memory() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def host_facts() -> HostFacts:
    name, version = _os_release()
    return HostFacts(
        kernel_version=platform.release(),
        operating_system=name,
        os_version=version,
        architecture=go_arch(),
        cpus=os.cpu_count() or 1,
        memory=_memory(),
        hostname=socket.gethostname(),
        cgroup_version=cgroup_version(),
    )


class SystemService:
    """Answers what the engine is and what the host offers."""

    def __init__(self, config: DaemonConfig) -> None:
        self._config = config
        self._facts = host_facts()

    @property
    def facts(self) -> HostFacts:
        return self._facts

    def runtimes(self) -> dict[str, str]:
        """Runtime name -> binary path, for every runtime that can run containers on this host."""
        found: dict[str, str] = {}
        for name in ("runc", "crun"):
            path = self._config.runtimes.get(name) or shutil.which(name)
            if path:
                found[name] = path
        for name, path in self._config.runtimes.items():
            found.setdefault(name, path)
        return {name: path for name, path in found.items() if name not in self.unusable_runtimes()}

    def unusable_runtimes(self) -> dict[str, str]:
        """Runtime name -> why it cannot run here (shown in ``info`` warnings and the log)."""
        problems: dict[str, str] = {}
        controllers = hybrid_v2_controllers()
        crun = self._config.runtimes.get("crun") or shutil.which("crun")
        if crun and controllers:
            problems["crun"] = (
                "crun refuses hybrid cgroup hosts while controllers are on the cgroup2 hierarchy "
                f"({', '.join(controllers)}); start dockyardd with --bind-hybrid-controllers to bind "
                "them to cgroup v1 (a host change) and enable crun")
        return problems


# ``dockyardd`` without --default-runtime (or daemon.json's): crun where this host lets it run.
AUTO_RUNTIME = "auto"


def resolve_default_runtime(config: DaemonConfig) -> DaemonConfig:
    """The config with ``default_runtime`` chosen when it is :data:`AUTO_RUNTIME`, and the reason
    (``default_runtime_reason``, shown in ``docker info``'s warnings when it is a fallback).

    crun starts a container in about half of runc's time here (it is C, no Go runtime to start, and
    ``crun create`` forks no ``init`` re-exec); runc works on every cgroup layout, crun 1.8 refuses
    hybrid hosts whose cgroup2 mount holds controllers (``--bind-hybrid-controllers`` fixes that)."""
    if config.default_runtime != AUTO_RUNTIME:
        return config
    system = SystemService(config)
    usable, unusable = system.runtimes(), system.unusable_runtimes()
    if "crun" in usable:
        name, why = "crun", "crun runs on this host's cgroups (it starts containers faster than runc)"
    elif "crun" in unusable:
        name, why = "runc", 'crun, the faster one, cannot run on this host (see "runtime crun disabled")'
    else:
        name, why = "runc", "crun is not installed"
    return replace(config, default_runtime=name, default_runtime_reason=why)


def _cgroup2_mounts() -> list[Path]:
    mounts: list[Path] = []
    try:
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            pre, _, post = line.partition(" - ")
            if post.split(" ", 1)[0] == "cgroup2":
                mounts.append(Path(pre.split()[4]))
    except OSError:
        pass
    return mounts


def hybrid_v2_controllers() -> list[str]:
    """Controllers enabled on the cgroup2 mount of a hybrid host; empty on pure v1 or v2 hosts.

    crun (1.8) refuses to run when this list is not empty; runc does not care."""
    if cgroup_version() == "2":
        return []
    for mount in _cgroup2_mounts():
        try:
            return (mount / "cgroup.controllers").read_text().split()
        except OSError:
            continue
    return []


def v1_cgroup_root() -> Path:
    return Path("/sys/fs/cgroup")

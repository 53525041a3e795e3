"""Daemon configuration: dockerd's flag and daemon.json names where Docker has them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from dockyard.errors import InvalidArgument

DEFAULT_HOST = "unix:///run/dockyard/dockyard.sock"
DEFAULT_DATA_ROOT = Path("/var/lib/dockyard")
DEFAULT_EXEC_ROOT = Path("/run/dockyard")


@dataclass(frozen=True, slots=True)
class DaemonConfig:
    """Everything the composition root needs to build an engine; passed explicitly, never global."""

    hosts: tuple[str, ...] = (DEFAULT_HOST,)
    data_root: Path = DEFAULT_DATA_ROOT
    exec_root: Path = DEFAULT_EXEC_ROOT
    pidfile: Path | None = None
    log_level: str = "info"
    default_runtime: str = "runc"
    # name -> binary path; "runc" and "crun" are looked up on PATH when not given.
    runtimes: dict[str, str] = field(default_factory=dict)
    conmon_path: str = "conmon"
    # Set by tests to a copy-based snapshotter; production always uses overlay.
    snapshotter: str = "overlay"
    # Opt-in host change: bind cgroup controllers that sit on the cgroup2 mount of a hybrid host to
    # v1 hierarchies, so that crun runs (crun refuses hybrid hosts otherwise).
    bind_hybrid_controllers: bool = False
    # Registries that may answer plain HTTP (loopback ones always may, as Docker's); mirrors of
    # docker.io are accepted for daemon.json compatibility.
    insecure_registries: tuple[str, ...] = ()
    registry_mirrors: tuple[str, ...] = ()
    # Per-registry TLS trust: <dir>/<host:port>/ca.crt (and client *.cert/*.key), dockerd's place first.
    certs_dirs: tuple[Path, ...] = (Path("/etc/docker/certs.d"), Path("/etc/dockyard/certs.d"))
    max_concurrent_downloads: int = 3
    max_concurrent_uploads: int = 5
    # dockerd's --userns-remap ("default" or "user[:group]") and --no-new-privileges.
    userns_remap: str = ""
    no_new_privileges: bool = False
    # Opt-in host change: register qemu-user-static in binfmt_misc so --platform can run foreign images.
    emulation: bool = False
    # dockerd's --cpu-rt-period/--cpu-rt-runtime: the real-time budget (µs) of the containers'
    # parent cgroup, which --cpu-rt-runtime of a container draws on (cgroup v1 only).
    cpu_rt_period: int = 1_000_000
    cpu_rt_runtime: int = 0
    # Bytes any archive the daemon unpacks (a layer of a pull, load or import, a build context)
    # may hold uncompressed: a few KB of gzip can claim terabytes. dockerd has no such bound.
    max_unpack_size: int = 20 * 2**30
    # daemon.json log-driver / log-opts; None opts: json-file's bounded default (core/logging/service.py).
    log_driver: str = "json-file"
    log_opts: dict[str, str] | None = None

    # ---- derived paths (storage layout from ARCHITECTURE.md) ----
    @property
    def content_dir(self) -> Path:
        return self.data_root / "content"

    @property
    def snapshots_dir(self) -> Path:
        return self.data_root / "snapshots"

    @property
    def containers_dir(self) -> Path:
        return self.data_root / "containers"

    @property
    def volumes_dir(self) -> Path:
        return self.data_root / "volumes"

    @property
    def tmp_dir(self) -> Path:
        return self.data_root / "tmp"

    @property
    def db_path(self) -> Path:
        return self.data_root / "dockyard.db"

    @property
    def socket_paths(self) -> tuple[Path, ...]:
        return tuple(Path(socket_path(h)) for h in self.hosts)


def socket_path(host: str) -> str:
    """Return the filesystem path of a ``unix://`` host; only UNIX sockets are served."""
    if host.startswith("unix://"):
        path = host[len("unix://"):]
        if path:
            return path
    raise InvalidArgument(f"invalid host {host!r}: only unix:///path sockets are supported")


_JSON_KEYS: dict[str, str] = {
    "hosts": "hosts",
    "data-root": "data_root",
    "exec-root": "exec_root",
    "pidfile": "pidfile",
    "log-level": "log_level",
    "default-runtime": "default_runtime",
    "bind-hybrid-controllers": "bind_hybrid_controllers",
    "insecure-registries": "insecure_registries",
    "registry-mirrors": "registry_mirrors",
    "certs-dirs": "certs_dirs",
    "max-concurrent-downloads": "max_concurrent_downloads",
    "max-concurrent-uploads": "max_concurrent_uploads",
    "userns-remap": "userns_remap",
    "no-new-privileges": "no_new_privileges",
    "emulation": "emulation",
    "cpu-rt-period": "cpu_rt_period",
    "cpu-rt-runtime": "cpu_rt_runtime",
    "max-unpack-size": "max_unpack_size",
    "log-driver": "log_driver",
    "log-opts": "log_opts",
}


def size_bytes(value: Any) -> int:
    """A byte count from daemon.json: an integer, or text such as ``512MB``/``20g`` (binary units,
    as docker's RAMInBytes)."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    text = str(value).strip().lower().removesuffix("b").removesuffix("i")
    units = {"k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
    scale = units.get(text[-1:], 1) if text else 1
    number = text[:-1] if text[-1:] in units else text
    try:
        size = int(float(number) * scale)
    except ValueError:
        size = 0
    if size <= 0:
        raise InvalidArgument(f"unable to configure the daemon: invalid size {value!r}")
    return size


def load_daemon_json(path: Path, base: DaemonConfig) -> DaemonConfig:
    """Overlay a daemon.json file onto ``base``, as dockerd reads ``--config-file``."""
    try:
        raw: Any = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise InvalidArgument(f"unable to configure the daemon: open {path}: no such file") from exc
    except json.JSONDecodeError as exc:
        raise InvalidArgument(f"unable to configure the daemon: {path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise InvalidArgument(f"unable to configure the daemon: {path}: not a JSON object")
    changes: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "runtimes":
            changes["runtimes"] = {n: str(v.get("path", n)) for n, v in dict(value).items()}
        elif key in _JSON_KEYS:
            attr = _JSON_KEYS[key]
            if attr in ("data_root", "exec_root", "pidfile"):
                value = Path(value)
            elif attr in ("hosts", "insecure_registries", "registry_mirrors"):
                value = tuple(value)
            elif attr == "certs_dirs":
                value = tuple(Path(v) for v in value)
            elif attr == "max_unpack_size":
                value = size_bytes(value)
            changes[attr] = value
    return replace(base, **changes)

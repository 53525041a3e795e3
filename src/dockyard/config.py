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
    # Why dockyardd chose default_runtime when none was configured (core/system.py).
    default_runtime_reason: str = ""
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
    # Remote access (dockerd's --tls*, -G and --metrics-addr). ``tls`` is None when not given: a tcp
    # listener without TLS then needs an explicit ``--tls=false`` (dockerd 27's rule).
    tls: bool | None = None
    tlsverify: bool = False
    tlscacert: str = ""
    tlscert: str = ""
    tlskey: str = ""
    group: str = "docker"  # owner group of the UNIX sockets, when that group exists
    metrics_addr: str = ""
    # Daemon-wide defaults that hardening guides check (see README "Remote daemons").
    icc: bool = True
    userland_proxy: bool | None = None  # accepted; we have none (nftables DNAT): info says so
    live_restore: bool = True  # containers always outlive the daemon (conmon keeps them)
    default_ulimits: dict[str, tuple[int, int]] = field(default_factory=dict)
    seccomp_profile: str = ""
    seccomp_profile_json: str = ""  # the file's text, read once at start (daemon_options.py)
    default_shm_size: int = 64 * 1024 * 1024
    ip: str = "0.0.0.0"
    dns: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    dns_opts: tuple[str, ...] = ()
    default_address_pools: tuple[dict[str, Any], ...] = ()
    bip: str = ""
    mtu: int = 1500
    # --authorization-plugin / authorization-plugins: every API request is asked of these, in order.
    authorization_plugins: tuple[str, ...] = ()
    # Hidden, for tests (dockerd has no such option): legacy plugin discovery looks only here for
    # sockets and spec files, instead of /run/docker/plugins, /etc/docker/plugins, /usr/lib/docker/plugins.
    plugin_dirs: tuple[Path, ...] = ()

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
        return tuple(Path(socket_path(h)) for h in self.hosts if not h.startswith("tcp://"))


def socket_path(host: str) -> str:
    """Return the filesystem path of a ``unix://`` host; only UNIX sockets are served."""
    if host.startswith("unix://"):
        path = host[len("unix://"):]
        if path:
            return path
    raise InvalidArgument(f"invalid host {host!r}: only unix:///path and tcp://ADDR:PORT are supported")


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
    "tls": "tls",
    "tlsverify": "tlsverify",
    "tlscacert": "tlscacert",
    "tlscert": "tlscert",
    "tlskey": "tlskey",
    "group": "group",
    "metrics-addr": "metrics_addr",
    "icc": "icc",
    "userland-proxy": "userland_proxy",
    "live-restore": "live_restore",
    "seccomp-profile": "seccomp_profile",
    "ip": "ip",
    "dns": "dns",
    "dns-search": "dns_search",
    "dns-opts": "dns_opts",
    "bip": "bip",
    "mtu": "mtu",
    "authorization-plugins": "authorization_plugins",
    "plugin-dirs": "plugin_dirs",
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
    unknown = sorted(k for k in raw if k not in _JSON_KEYS and k not in _HARDENING_JSON
                     and k != "runtimes")
    if unknown:
        # dockerd's words (daemon/config.findConfigurationConflicts): a misspelt key is an error,
        # never a setting silently dropped.
        raise InvalidArgument(f"unable to configure the Docker daemon with file {path}: the following "
                              f"directives don't match any configuration option: {', '.join(unknown)}")
    changes: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "runtimes":
            changes["runtimes"] = {n: str(v.get("path", n)) for n, v in dict(value).items()}
        elif key in _HARDENING_JSON:
            changes.update(_HARDENING_JSON[key](value))
        elif key in _JSON_KEYS:
            attr = _JSON_KEYS[key]
            if attr in ("data_root", "exec_root", "pidfile"):
                value = Path(value)
            elif attr in ("hosts", "insecure_registries", "registry_mirrors"):
                value = tuple(value)
            elif attr in ("dns", "dns_search", "dns_opts"):
                value = tuple(str(v) for v in value)
            elif attr == "certs_dirs":
                value = tuple(Path(v) for v in value)
            elif attr == "max_unpack_size":
                value = size_bytes(value)
            elif attr == "authorization_plugins":
                value = tuple(str(v) for v in value)
            elif attr == "plugin_dirs":
                value = tuple(Path(v) for v in value)
            changes[attr] = value
    return replace(base, **changes)


def _json_ulimits(value: Any) -> dict[str, Any]:
    # daemon.json: {"nofile": {"Name": "nofile", "Hard": 64000, "Soft": 64000}}
    return {"default_ulimits": {str(name): (int(v["Soft"]), int(v["Hard"]))
                                for name, v in dict(value).items()}}


def parse_size(text: str) -> int:
    """docker's RAM sizes: ``64m``, ``1g``, ``512k`` or bytes."""
    units = {"b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    raw = text.strip().lower().removesuffix("b") or "0"
    scale = units.get(raw[-1], 0)
    try:
        number = float(raw[:-1]) if scale else float(raw)
    except ValueError as exc:
        raise InvalidArgument(f"invalid size: '{text}'") from exc
    return int(number * (scale or 1))


def _json_shm(value: Any) -> dict[str, Any]:
    return {"default_shm_size": parse_size(str(value))}


def _json_pools(value: Any) -> dict[str, Any]:
    return {"default_address_pools": tuple(dict(v) for v in value)}


_HARDENING_JSON: dict[str, Any] = {
    "default-ulimits": _json_ulimits,
    "default-shm-size": _json_shm,
    "default-address-pools": _json_pools,
}

"""Daemon-wide defaults for containers: dockerd's ``--default-shm-size``, ``--default-ulimit``,
``--dns``/``--dns-search``/``--dns-opt``, ``--ip`` and ``--seccomp-profile``, where the request
leaves them unset (what the request says always wins).

As dockerd, only the shm size is written into the container's HostConfig at create
(:func:`record_daemon_defaults`); the others are applied where they take effect, at start
(:func:`apply_daemon_defaults`: the spec, resolv.conf, published ports), so ``docker inspect`` shows
what the request said."""

from __future__ import annotations

from typing import Any

from dockyard.config import DaemonConfig

DEFAULT_BIND_IP = "0.0.0.0"


def record_daemon_defaults(raw: dict[str, Any], config: DaemonConfig) -> dict[str, Any]:
    """What dockerd writes into a new container's HostConfig: the daemon's shm size."""
    host = dict(raw)
    if not host.get("ShmSize"):
        host["ShmSize"] = config.default_shm_size
    return host


def apply_daemon_defaults(raw: dict[str, Any], config: DaemonConfig) -> dict[str, Any]:
    """The HostConfig a starting container runs with: its own plus the daemon-wide defaults."""
    host = record_daemon_defaults(raw, config)
    if config.default_ulimits:
        given = {str(u.get("Name")) for u in host.get("Ulimits") or []}
        host["Ulimits"] = [*(host.get("Ulimits") or []), *(
            {"Name": name, "Soft": soft, "Hard": hard}
            for name, (soft, hard) in sorted(config.default_ulimits.items()) if name not in given)]
    for key, value in (("Dns", config.dns), ("DnsSearch", config.dns_search),
                       ("DnsOptions", config.dns_opts)):
        if value and not host.get(key):
            host[key] = list(value)
    security = [str(o) for o in host.get("SecurityOpt") or []]
    if config.seccomp_profile_json and not any(o.startswith(("seccomp=", "seccomp:")) for o in security):
        # --seccomp-profile: the daemon's default profile, as if the request had named it.
        host["SecurityOpt"] = [*security, f"seccomp={config.seccomp_profile_json}"]
    if config.ip != DEFAULT_BIND_IP and isinstance(host.get("PortBindings"), dict):
        # --ip: the address of bindings that name none (``-p 8080:80``).
        host["PortBindings"] = {
            key: [{**b, "HostIp": b.get("HostIp") or config.ip} for b in (bindings or [{}])]
            for key, bindings in host["PortBindings"].items()}
    return host

"""dockerd's flags for remote access, metrics and daemon-wide container defaults.

Each flag maps to a :class:`~dockyard.config.DaemonConfig` field (the daemon.json key of the same
name is read by ``config.py``); a flag given on the command line wins over daemon.json, as dockerd.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from dockyard.config import DaemonConfig, parse_size
from dockyard.errors import InvalidArgument

_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def go_bool(text: str) -> bool:
    """Go's ``--flag=true|false`` form of a boolean flag."""
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean value {text!r}")


def ulimit(text: str) -> tuple[str, tuple[int, int]]:
    """``nofile=1024:2048`` (soft:hard) or ``nofile=1024`` (both)."""
    name, sep, values = text.partition("=")
    soft, _, hard = values.partition(":")
    try:
        pair = (int(soft), int(hard or soft))
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid ulimit argument: {text}") from None
    if not sep or not name or pair[0] > pair[1]:
        raise argparse.ArgumentTypeError(f"invalid ulimit argument: {text}")
    return name, pair


def address_pool(text: str) -> dict[str, Any]:
    """``base=10.10.0.0/16,size=24``."""
    import ipaddress

    fields = dict(part.partition("=")[::2] for part in text.split(","))
    try:
        base = ipaddress.IPv4Network(fields.get("base", ""))
        size = int(fields.get("size", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid default address pool: {text}") from None
    if not base.prefixlen <= size <= 30:
        raise argparse.ArgumentTypeError(f"invalid default address pool: {text}: size {size} "
                                         f"must be between {base.prefixlen} and 30")
    return {"base": str(base), "size": size}


def _flag(parser: argparse.ArgumentParser, name: str, help_: str) -> None:
    parser.add_argument(name, nargs="?", const=True, default=None, type=go_bool, help=help_)


def add_remote_options(parser: argparse.ArgumentParser) -> None:
    _flag(parser, "--tls", "use TLS; implied by --tlsverify (--tls=false allows plain tcp)")
    _flag(parser, "--tlsverify", "use TLS and verify the remote (mutual TLS)")
    parser.add_argument("--tlscacert", help="trust certs signed only by this CA")
    parser.add_argument("--tlscert", help="path to TLS certificate file")
    parser.add_argument("--tlskey", help="path to TLS key file")
    parser.add_argument("-G", "--group", help="group for the unix socket (default docker)")
    parser.add_argument("--metrics-addr", help="address to serve the Prometheus /metrics API on")
    _flag(parser, "--icc", "enable inter-container communication on the default bridge")
    _flag(parser, "--userland-proxy", "accepted: published ports are always kernel NAT")
    _flag(parser, "--live-restore", "containers always keep running without the daemon")
    parser.add_argument("--default-ulimit", action="append", type=ulimit, dest="default_ulimit",
                        help="default ulimits for containers (name=soft[:hard])")
    parser.add_argument("--seccomp-profile", help="path to the default seccomp profile")
    parser.add_argument("--default-shm-size", help="default shm size for containers")
    parser.add_argument("--ip", help="default IP when binding container ports")
    parser.add_argument("--dns", action="append", help="DNS server to use")
    parser.add_argument("--dns-search", action="append", help="DNS search domains to use")
    parser.add_argument("--dns-opt", action="append", help="DNS options to use")
    parser.add_argument("--default-address-pool", action="append", type=address_pool,
                        help="default address pools for local networks")
    parser.add_argument("--bip", help="network address of the default bridge (CIDR)")
    parser.add_argument("--mtu", type=int, help="MTU of the default bridge's links")


def remote_changes(args: argparse.Namespace) -> dict[str, object]:
    """The config fields the flags above set (only those given)."""
    changes: dict[str, object] = {}
    for attr in ("tls", "tlsverify", "tlscacert", "tlscert", "tlskey", "group", "metrics_addr",
                 "icc", "userland_proxy", "live_restore", "seccomp_profile", "ip", "bip", "mtu"):
        value = getattr(args, attr)
        if value is not None:
            changes[attr] = value
    if args.default_ulimit:
        changes["default_ulimits"] = dict(args.default_ulimit)
    if args.default_shm_size:
        changes["default_shm_size"] = parse_size(args.default_shm_size)
    for attr, dest in (("dns", "dns"), ("dns_search", "dns_search"), ("dns_opt", "dns_opts")):
        if getattr(args, attr):
            changes[dest] = tuple(getattr(args, attr))
    if args.default_address_pool:
        changes["default_address_pools"] = tuple(args.default_address_pool)
    return changes


def default_bridge_options(config: DaemonConfig) -> dict[str, str]:
    """The default bridge's options, as ``docker network inspect bridge`` shows dockerd's flags."""
    return {"com.docker.network.bridge.enable_icc": "true" if config.icc else "false",
            "com.docker.network.driver.mtu": str(config.mtu)}


_DEFAULTS = DaemonConfig()
# Daemon-wide container defaults not applied yet: refused when set, never accepted and ignored.
_NOT_YET: dict[str, str] = {}


def refuse_unapplied(config: DaemonConfig) -> None:
    """Raise for a daemon-wide setting (flag or daemon.json) that dockyardd cannot apply yet."""
    for attr, flag in _NOT_YET.items():
        if getattr(config, attr) != getattr(_DEFAULTS, attr):
            raise InvalidArgument(f"{flag} (daemon.json \"{flag[2:]}\") is not supported by dockyardd yet")
    if config.live_restore is False:
        raise InvalidArgument("--live-restore=false is not supported: containers always outlive "
                              "the daemon (conmon keeps them)")


def load_seccomp_profile(config: DaemonConfig) -> DaemonConfig:
    """``--seccomp-profile``: read and check the file once; "builtin" and "unconfined" are names."""
    from dataclasses import replace
    from pathlib import Path

    from dockyard.core.runtime.seccomp import parse_profile

    path = config.seccomp_profile
    if path in ("", "builtin"):
        return config
    if path == "unconfined":
        return replace(config, seccomp_profile_json="unconfined")
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise InvalidArgument(f"opening seccomp profile ({path}) failed: {exc.strerror}") from exc
    parse_profile(text)
    return replace(config, seccomp_profile_json=text)


# daemon.json keys whose command-line flag has another name (the rest: key with "-" → "_").
_FLAG_DEST = {"dns-opts": "dns_opt", "default-ulimits": "default_ulimit",
              "default-address-pools": "default_address_pool"}


def _go_value(value: object) -> str:
    """A value as Go's ``%v`` prints it in dockerd's conflict message."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(_go_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_go_value(v)}" for k, v in sorted(value.items())) + "]"
    return str(value)


def refuse_flag_conflicts(path: Path, args: argparse.Namespace) -> None:
    """A setting given both as a flag and in daemon.json stops the daemon, as dockerd: neither is
    silently preferred."""
    import json

    raw = json.loads(path.read_text())
    conflicts = []
    for key in sorted(raw):
        flag = getattr(args, _FLAG_DEST.get(key, key.replace("-", "_")), None)
        if flag is not None and flag is not False and flag != []:
            conflicts.append(f"{key}: (from flag: {_go_value(flag)}, from file: {_go_value(raw[key])})")
    if conflicts:
        raise InvalidArgument(f"unable to configure the Docker daemon with file {path}: the following "
                              "directives are specified both as a flag and in the configuration "
                              f"file: {', '.join(conflicts)}")

"""From a service to the Engine API's create body: image, command, environment, ports, mounts,
healthcheck, restart, init, logging, ulimits, resources, networks, and Compose v2's labels.

The names and labels are Compose v2's (``<project>-<service>-<n>``, ``<project>_<network>``,
``com.docker.compose.*``) so that either tool manages what the other created.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from dockyard.compose import shellwords
from dockyard.compose.loader import Project, parse_env_file
from dockyard.compose.yamlfile import ComposeError

PROJECT = "com.docker.compose.project"
SERVICE = "com.docker.compose.service"
NUMBER = "com.docker.compose.container-number"
ONEOFF = "com.docker.compose.oneoff"
HASH = "com.docker.compose.config-hash"
DEPENDS_ON = "com.docker.compose.depends_on"
WORKING_DIR = "com.docker.compose.project.working_dir"
CONFIG_FILES = "com.docker.compose.project.config_files"
VERSION = "com.docker.compose.version"
NETWORK = "com.docker.compose.network"
VOLUME = "com.docker.compose.volume"
IMAGE = "com.docker.compose.image"
COMPOSE_VERSION = "2.40.3"  # the Compose v2 whose semantics we follow (and whose label we write)

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
_SIZES = {"b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5}


def duration_ns(text: Any) -> int:
    """A Go duration (``1m30s``, ``500ms``) in nanoseconds."""
    if isinstance(text, int | float):
        return int(text * 10**9)
    total = 0
    for number, unit in _DURATION.findall(str(text)):
        total += int(float(number) * _UNITS[unit])
    if not total and str(text).strip() not in ("0", "0s"):
        raise ComposeError(f"invalid duration {text!r}")
    return total


def size_bytes(text: Any) -> int:
    if isinstance(text, int):
        return text
    # docker/go-units RAMInBytes: binary multiples, ``64m``, ``1.5GiB``, ``512 kb``
    match = re.fullmatch(r"(\d+(?:\.\d+)?) ?([kmgtp]?)i?b?", str(text).strip().lower())
    if match is None:
        raise ComposeError(f"invalid size {text!r}")
    return int(float(match.group(1)) * _SIZES[match.group(2) or "b"])


def container_name(project: str, service: str, number: int, *, oneoff: str = "") -> str:
    if oneoff:
        return f"{project}-{service}-run-{oneoff}"
    return f"{project}-{service}-{number}"


def network_name(project: Project, key: str) -> str:
    cfg = project.networks.get(key) or {}
    if cfg.get("name"):
        return str(cfg["name"])
    ext = cfg.get("external")
    if ext:
        return str(ext.get("name") if isinstance(ext, dict) and ext.get("name") else key)
    return f"{project.name}_{key}"


def volume_name(project: Project, key: str) -> str:
    cfg = project.volumes.get(key) or {}
    if cfg.get("name"):
        return str(cfg["name"])
    if cfg.get("external"):
        return key
    return f"{project.name}_{key}"


def image_of(project: Project, name: str, service: dict[str, Any]) -> str:
    return str(service.get("image") or f"{project.name}-{name}")


def environment_mapping(project: Project, service: dict[str, Any]) -> dict[str, str | None]:
    """The service's environment as compose-go resolves it: its ``env_file``s in order, then
    ``environment`` over them; a name without a value takes the project environment's value, or
    stays ``None`` (not set in the container) when that has none."""
    env: dict[str, Any] = {}
    files = service.get("env_file") or []
    for item in [files] if isinstance(files, str | dict) else files:
        spec = {"path": item} if isinstance(item, str) else item
        path = (project.working_dir / str(spec["path"])).resolve()
        if not path.is_file() and spec.get("required", True) is False:
            continue
        env.update(parse_env_file(path))
    env.update(service.get("environment") or {})
    return {key: (project.environment.get(key) if value is None else _scalar(value))
            for key, value in env.items()}


def environment(project: Project, service: dict[str, Any]) -> list[str]:
    return [f"{key}={value}" for key, value in environment_mapping(project, service).items()
            if value is not None]


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _command(value: Any) -> list[str] | None:
    if value is None:
        return None
    return shellwords.split(value) if isinstance(value, str) else [str(v) for v in value]


def parse_ports(items: list[Any]) -> list[dict[str, Any]]:
    """Short (``[ip:][host[-range]:]container[-range][/proto]``) and long ports, one entry a port."""
    out: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, dict):
            out.append({"target": int(item["target"]), "published": str(item.get("published") or ""),
                        "host_ip": str(item.get("host_ip") or ""),
                        "protocol": str(item.get("protocol") or "tcp")})
            continue
        text, _, proto = str(item).partition("/")
        parts = text.rsplit(":", 2)
        target = parts[-1]
        published = parts[-2] if len(parts) >= 2 else ""
        host_ip = parts[0].strip("[]") if len(parts) == 3 else ""
        targets = _range(target)
        published_range = _range(published) if published else []
        if published_range and len(published_range) not in (1, len(targets)):
            raise ComposeError(f"invalid port range {item!r}")
        for index, port in enumerate(targets):
            host = ""
            if len(published_range) == len(targets):
                host = str(published_range[index])
            elif published_range:
                host = str(published_range[0])
            out.append({"target": port, "published": host, "host_ip": host_ip, "protocol": proto or "tcp"})
    return out


def _range(text: str) -> list[int]:
    try:
        start, _, end = text.partition("-")
        return list(range(int(start), int(end or start) + 1))
    except ValueError as exc:
        raise ComposeError(f"invalid port {text!r}") from exc


def parse_volume(project: Project, item: Any) -> dict[str, Any]:
    """A ``volumes:`` entry in the long form (type, source, target, read_only, …)."""
    if isinstance(item, dict):
        return dict(item)
    parts = str(item).split(":")
    if len(parts) == 1:
        return {"type": "volume", "source": "", "target": parts[0]}
    source, target = parts[0], parts[1]
    mode = parts[2] if len(parts) > 2 else ""
    kind = "bind" if source.startswith((".", "/", "~")) else "volume"
    return {"type": kind, "source": source, "target": target, "read_only": "ro" in mode.split(",")}


def mounts(project: Project, service: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for item in service.get("volumes") or []:
        vol = parse_volume(project, item)
        mount: dict[str, Any] = {"Type": vol["type"], "Target": vol["target"],
                                 "ReadOnly": bool(vol.get("read_only"))}
        source = str(vol.get("source") or "")
        if vol["type"] == "bind":
            mount["Source"] = str((project.working_dir / Path(source).expanduser()).resolve())
            # Compose creates a missing bind source (``bind.create_host_path``, on by default).
            if (vol.get("bind") or {}).get("create_host_path", True) and not Path(mount["Source"]).exists():
                Path(mount["Source"]).mkdir(parents=True)
        elif vol["type"] == "volume" and source:
            if source not in project.volumes:
                raise ComposeError(f"service {service.get('_name', '')!r} refers to undefined volume "
                                   f"{source}: invalid compose project")
            mount["Source"] = volume_name(project, source)
            mount["VolumeOptions"] = {"NoCopy": bool((vol.get("volume") or {}).get("nocopy"))}
        elif vol["type"] == "tmpfs":
            size = (vol.get("tmpfs") or {}).get("size")
            mount["TmpfsOptions"] = {"SizeBytes": size_bytes(size)} if size else {}
        out.append(mount)
    return out


def healthcheck(service: dict[str, Any]) -> dict[str, Any] | None:
    check = service.get("healthcheck")
    if check is None:
        return None
    if check.get("disable"):
        return {"Test": ["NONE"]}
    test = check.get("test")
    if isinstance(test, str):
        test = ["CMD-SHELL", test]
    out: dict[str, Any] = {"Test": test} if test else {}
    for key, field_ in (("interval", "Interval"), ("timeout", "Timeout"), ("start_period", "StartPeriod"),
                        ("start_interval", "StartInterval")):
        if check.get(key) is not None:
            out[field_] = duration_ns(check[key])
    if check.get("retries") is not None:
        out["Retries"] = int(check["retries"])
    return out

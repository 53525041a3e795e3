"""``docker import``: the image config of a one-layer image, and the ``--change`` instructions.

A change is one Dockerfile line (``CMD ["sh"]``, ``ENV A=1 B=2``, ``EXPOSE 80/tcp``…) applied to
an empty container config, as Docker's ``BuildFromConfig`` does for ``docker import -c`` and
``docker commit -c``.
"""

from __future__ import annotations

import json
import posixpath
import shlex
from collections.abc import Callable
from typing import Any

from dockyard.core.system import go_arch
from dockyard.core.timestamps import now_rfc3339
from dockyard.errors import InvalidArgument

Config = dict[str, Any]



def _parse_json_or_shell(rest: str, *, shell: bool) -> list[str]:
    """JSON form (``["a", "b"]``) as given; shell form wrapped in ``/bin/sh -c`` when ``shell``."""
    stripped = rest.strip()
    if stripped.startswith("["):
        try:
            value = json.loads(stripped)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value)
    if not shell:
        return shlex.split(stripped)
    return ["/bin/sh", "-c", stripped]


def _key_values(instruction: str, rest: str) -> list[tuple[str, str]]:
    """``KEY=VALUE …`` pairs, or the legacy ``KEY VALUE`` form (one pair, value to end of line)."""
    words = shlex.split(rest)
    if not words:
        raise InvalidArgument(f"{instruction} requires at least one argument")
    if "=" not in words[0]:
        key, _, value = rest.strip().partition(" ")
        if not value.strip():
            raise InvalidArgument(f"{instruction} must have two arguments")
        return [(key, value.strip())]
    pairs: list[tuple[str, str]] = []
    for word in words:
        key, eq, value = word.partition("=")
        if not eq or not key:
            raise InvalidArgument(f"{instruction} names can not be blank")
        pairs.append((key, value))
    return pairs


def _env(cfg: Config, rest: str) -> None:
    env: list[str] = list(cfg.get("Env") or [])
    for key, value in _key_values("ENV", rest):
        env = [e for e in env if e.split("=", 1)[0] != key] + [f"{key}={value}"]
    cfg["Env"] = env


def _label(cfg: Config, rest: str) -> None:
    labels = dict(cfg.get("Labels") or {})
    labels.update(_key_values("LABEL", rest))
    cfg["Labels"] = labels


def _expose(cfg: Config, rest: str) -> None:
    ports = dict(cfg.get("ExposedPorts") or {})
    for word in rest.split():
        port = word if "/" in word else f"{word}/tcp"
        ports[port] = {}
    cfg["ExposedPorts"] = ports


def _volume(cfg: Config, rest: str) -> None:
    volumes = dict(cfg.get("Volumes") or {})
    for path in _parse_json_or_shell(rest, shell=False):
        volumes[path] = {}
    cfg["Volumes"] = volumes


def _workdir(cfg: Config, rest: str) -> None:
    path = rest.strip()
    cfg["WorkingDir"] = posixpath.join(cfg.get("WorkingDir") or "/", path)


def _cmd(cfg: Config, rest: str) -> None:
    cfg["Cmd"] = _parse_json_or_shell(rest, shell=True)


def _entrypoint(cfg: Config, rest: str) -> None:
    cfg["Entrypoint"] = _parse_json_or_shell(rest, shell=True)
    cfg.pop("Cmd", None)  # Docker: a new ENTRYPOINT resets the inherited CMD


def _user(cfg: Config, rest: str) -> None:
    cfg["User"] = rest.strip()


def _stopsignal(cfg: Config, rest: str) -> None:
    cfg["StopSignal"] = rest.strip()


def _onbuild(cfg: Config, rest: str) -> None:
    cfg["OnBuild"] = list(cfg.get("OnBuild") or []) + [rest.strip()]


_CHANGES: dict[str, Callable[[Config, str], None]] = {
    "cmd": _cmd, "entrypoint": _entrypoint, "env": _env, "expose": _expose, "label": _label,
    "onbuild": _onbuild, "stopsignal": _stopsignal, "user": _user, "volume": _volume,
    "workdir": _workdir,
}


def apply_changes(changes: list[str], base: Config | None = None) -> Config:
    """Apply ``docker import -c`` lines to a container config (Docker's field names)."""
    cfg: Config = dict(base or {})
    for change in changes:
        line = change.strip()
        if not line:
            continue
        instruction, _, rest = line.partition(" ")
        handler = _CHANGES.get(instruction.lower())
        if handler is None:
            raise InvalidArgument(f"{instruction.lower()} is not a valid change command")
        if not rest.strip():
            raise InvalidArgument(f"{instruction.upper()} requires at least one argument")
        handler(cfg, rest.strip())
    return cfg


def import_config(diff_id: str, *, changes: list[str], message: str,
                  platform_spec: str | None) -> bytes:
    """The image config JSON bytes of an imported rootfs (its digest is the image ID)."""
    os_name, arch, variant = _platform(platform_spec)
    created = now_rfc3339()
    comment = message or "Imported from -"
    config: dict[str, Any] = {
        "architecture": arch,
        "config": apply_changes(changes),
        "created": created,
        "history": [{"created": created, "comment": comment}],
        "os": os_name,
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }
    if message:
        config["comment"] = message
    if variant:
        config["variant"] = variant
    return json.dumps(config, separators=(",", ":")).encode()


def _platform(spec: str | None) -> tuple[str, str, str | None]:
    host_arch = go_arch()
    if not spec:
        return "linux", host_arch, None
    parts = spec.lower().split("/")
    if parts[0] != "linux":
        raise InvalidArgument(f"operating system is not supported: {parts[0]}")
    arch = parts[1] if len(parts) > 1 and parts[1] else host_arch
    return "linux", arch, parts[2] if len(parts) > 2 else None

"""``--mount`` and ``--volumes-from`` of ``run``/``create``: docker's CSV mount syntax as
``HostConfig.Mounts``, and the containers whose volumes are inherited."""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import click

from dockyard.cli.client import CliError
from dockyard.cli.resource_opts import parse_ram

_TRUE = ("", "1", "true")
_FALSE = ("0", "false")


def mount_options() -> list[Callable[[Any], Any]]:
    o = click.option
    return [
        o("--mount", multiple=True, help="Attach a filesystem mount to the container"),
        o("--volumes-from", multiple=True, help="Mount volumes from the specified container(s)"),
    ]


def _bool(key: str, value: str) -> bool:
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise CliError(f"invalid value for {key}: {value}", 125)


def parse_mount(spec: str) -> dict[str, Any]:
    """``type=bind,source=/a,target=/b,readonly`` → a Mount (docker's opts.MountOpt)."""
    fields = next(csv.reader([spec]))
    mount: dict[str, Any] = {"Type": "volume"}
    volume: dict[str, Any] = {}
    bind: dict[str, Any] = {}
    tmpfs: dict[str, Any] = {}
    for field in fields:
        key, sep, value = field.partition("=")
        key = key.strip().lower()
        if key == "type":
            mount["Type"] = value
        elif key in ("source", "src"):
            mount["Source"] = value
        elif key in ("target", "dst", "destination"):
            mount["Target"] = value
        elif key in ("readonly", "ro"):
            mount["ReadOnly"] = _bool(key, value if sep else "")
        elif key == "consistency":
            mount["Consistency"] = value
        elif key == "bind-propagation":
            bind["Propagation"] = value
        elif key == "bind-recursive":
            bind["NonRecursive"] = value == "disabled"
        elif key == "volume-nocopy":
            volume["NoCopy"] = _bool(key, value if sep else "")
        elif key == "volume-subpath":
            volume["Subpath"] = value
        elif key == "volume-label":
            name, _, label = value.partition("=")
            volume.setdefault("Labels", {})[name] = label
        elif key == "volume-driver":
            volume.setdefault("DriverConfig", {})["Name"] = value
        elif key == "volume-opt":
            name, _, opt = value.partition("=")
            volume.setdefault("DriverConfig", {}).setdefault("Options", {})[name] = opt
        elif key == "tmpfs-size":
            tmpfs["SizeBytes"] = parse_ram(value)
        elif key == "tmpfs-mode":
            try:
                tmpfs["Mode"] = int(value, 8)
            except ValueError as exc:
                raise CliError(f"invalid value for {key}: {value}", 125) from exc
        else:
            raise CliError(f"invalid argument \"{spec}\" for \"--mount\" flag: unexpected key '{key}' "
                           f"in '{field}'", 125)
    if "Target" not in mount:
        raise CliError(f"invalid argument \"{spec}\" for \"--mount\" flag: target is required", 125)
    for options, name in ((bind, "BindOptions"), (volume, "VolumeOptions"), (tmpfs, "TmpfsOptions")):
        if options:
            mount[name] = options
    return mount


def mount_host_config(opts: Mapping[str, Any]) -> dict[str, Any]:
    mounts: Sequence[str] = opts.get("mount") or ()
    host: dict[str, Any] = {"VolumesFrom": list(opts.get("volumes_from") or ()) or None}
    if mounts:
        host["Mounts"] = [parse_mount(spec) for spec in mounts]
    return host

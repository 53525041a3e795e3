"""The security and namespace flags of ``run``/``create`` (capabilities, ``--privileged``,
``--security-opt``, devices, sysctls, ``--ipc``/``--pid``/``--uts``/``--cgroupns``/``--userns``,
``--group-add``) and the HostConfig fields they fill, shaped and checked as the docker 28 CLI does
(captured from its requests): capabilities normalised to ``CAP_*``, sorted and deduplicated, a
seccomp profile file sent as its compacted JSON, ``systempaths=unconfined`` as empty masked and
read-only path lists.
"""

from __future__ import annotations

import csv
import json
import posixpath
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from dockyard.cli.client import CliError

# docker's opts.ValidateSysctl: the namespaced sysctls a container may set.
_SYSCTLS = frozenset({"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
                      "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"})
_SYSCTL_PREFIXES = ("net.", "fs.mqueue.")
# Valid values of each namespace flag (docker's container.*Mode.Valid), and the CLI's error word.
_MODES: dict[str, tuple[frozenset[str], bool, str]] = {
    "ipc": (frozenset({"", "none", "private", "shareable", "host"}), True, "IPC"),
    "pid": (frozenset({"", "host"}), True, "PID"),
    "uts": (frozenset({"", "host"}), False, "UTS"),
    "cgroupns": (frozenset({"", "host", "private"}), False, "CGROUP"),
    "userns": (frozenset({"", "host"}), False, "USER"),
}


def security_options() -> list[Callable[[Any], Any]]:
    o = click.option
    return [
        o("--privileged", is_flag=True, help="Give extended privileges to this container"),
        o("--cap-add", multiple=True, help="Add Linux capabilities"),
        o("--cap-drop", multiple=True, help="Drop Linux capabilities"),
        o("--security-opt", multiple=True, help="Security Options"),
        o("--device", multiple=True, help="Add a host device to the container"),
        o("--sysctl", multiple=True, help="Sysctl options"),
        o("--group-add", multiple=True, help="Add additional groups to join"),
        o("--ipc", help="IPC mode to use"),
        o("--pid", help="PID namespace to use"),
        o("--uts", help="UTS namespace to use"),
        o("--cgroupns", help="Cgroup namespace to use (host|private)"),
        o("--userns", help="User namespace to use"),
        o("--device-cgroup-rule", multiple=True, help="Add a rule to the cgroup allowed devices list"),
        o("--gpus", help="GPU devices to add to the container ('all' to pass all GPUs)"),
    ]


def normalize_caps(caps: Sequence[str]) -> list[str] | None:
    """``net_admin`` → ``CAP_NET_ADMIN`` (``ALL`` stays), sorted, each once; None when empty."""
    names = set()
    for cap in caps:
        upper = cap.strip().upper()
        names.add(upper if upper == "ALL" or upper.startswith("CAP_") else f"CAP_{upper}")
    return sorted(names) or None


def _valid_device_mode(mode: str) -> bool:
    return 0 < len(mode) <= 3 and all(c in "rwm" for c in mode) and len(set(mode)) == len(mode)


def parse_device(spec: str) -> dict[str, str]:
    """``/dev/src[:/dev/dst][:perms]`` → a DeviceMapping (docker's validateLinuxPath and
    parseLinuxDevice: a second part that is a mode is the permissions)."""
    parts = spec.split(":")
    if len(parts) > 3 or not parts[0]:
        raise CliError(f"bad format for path: {spec}", 125)
    source, target, permissions = parts[0], parts[0], "rwm"
    if len(parts) == 2:
        if _valid_device_mode(parts[1]):
            permissions = parts[1]
        else:
            target = parts[1]
    elif len(parts) == 3:
        target, permissions = parts[1], parts[2]
        if not _valid_device_mode(permissions):
            raise CliError(f"bad mode specified: {permissions}", 125)
    if not posixpath.isabs(target):
        raise CliError(f"{target} is not an absolute path", 125)
    return {"PathOnHost": source, "PathInContainer": posixpath.normpath(target),
            "CgroupPermissions": permissions}


def parse_gpus(value: str) -> dict[str, Any]:
    """``--gpus all|N|device=0,1|capabilities=…,driver=…`` → a DeviceRequest (docker's GpuOpts)."""
    request: dict[str, Any] = {"Driver": "", "Count": 0, "DeviceIDs": None,
                               "Capabilities": [["gpu"]], "Options": {}}
    for field in next(csv.reader([value])):
        key, sep, setting = field.partition("=")
        if not sep:
            if key == "all":
                request["Count"] = -1
            elif key.isdigit():
                request["Count"] = int(key)
            else:
                raise CliError(f'invalid argument "{value}" for "--gpus" flag: unexpected key '
                               f"'{key}' in '{value}'", 125)
        elif key == "count":
            request["Count"] = -1 if setting == "all" else int(setting)
        elif key == "device":
            request["DeviceIDs"] = setting.split(",")
        elif key == "driver":
            request["Driver"] = setting
        elif key == "capabilities":
            request["Capabilities"] = [setting.split(",")]
        elif key == "options":
            name, _, option = setting.partition("=")
            request["Options"][name] = option
        else:
            raise CliError(f'invalid argument "{value}" for "--gpus" flag: unexpected key '
                           f"'{key}' in '{value}'", 125)
    return request


def parse_sysctls(values: Sequence[str]) -> dict[str, str] | None:
    result: dict[str, str] = {}
    for value in values:
        key, sep, setting = value.partition("=")
        if not sep or not (key in _SYSCTLS or key.startswith(_SYSCTL_PREFIXES)):
            raise CliError(f'invalid argument "{value}" for "--sysctl" flag: sysctl \'{value}\' '
                           "is not allowed", 125)
        result[key] = setting
    return result or None


def parse_security_opts(values: Sequence[str]) -> tuple[list[str], bool]:
    """The options to send, and whether ``systempaths=unconfined`` was among them (docker sends
    that as empty MaskedPaths/ReadonlyPaths instead)."""
    result: list[str] = []
    unconfined_paths = False
    for opt in values:
        key, sep, value = opt.partition("=")
        if not sep and key != "no-new-privileges":
            key, sep, value = opt.partition(":")
        if (not sep or not value) and key != "no-new-privileges":
            raise CliError(f'Invalid --security-opt: "{opt}"', 125)
        if key == "systempaths" and value == "unconfined":
            unconfined_paths = True
            continue
        if key == "seccomp" and value not in ("builtin", "unconfined"):
            opt = f"seccomp={_compact_profile(value)}"
        result.append(opt)
    return result, unconfined_paths


def _compact_profile(path: str) -> str:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise CliError(f"opening seccomp profile ({path}) failed: {exc.strerror or exc}", 125) from exc
    try:
        return json.dumps(json.loads(text), separators=(",", ":"))
    except ValueError as exc:
        raise CliError(f"compacting json for seccomp profile ({path}) failed: {exc}", 125) from exc


def _check_mode(flag: str, value: str) -> str:
    valid, container_form, word = _MODES[flag]
    if value in valid or (container_form and value.startswith("container:") and len(value) > 10):
        return value
    raise CliError(f"--{flag}: invalid {word} mode", 125)


def security_host_config(opts: Mapping[str, Any]) -> dict[str, Any]:
    """The HostConfig fields these flags own, with the docker CLI's zero values when unset."""
    security_opt, unconfined_paths = parse_security_opts(opts.get("security_opt") or ())
    host: dict[str, Any] = {
        "Privileged": bool(opts.get("privileged")),
        "CapAdd": normalize_caps(opts.get("cap_add") or ()),
        "CapDrop": normalize_caps(opts.get("cap_drop") or ()),
        "SecurityOpt": security_opt if security_opt or unconfined_paths else None,
        "Devices": [parse_device(d) for d in opts.get("device") or ()],
        "GroupAdd": list(opts.get("group_add") or ()) or None,
        "IpcMode": _check_mode("ipc", opts.get("ipc") or ""),
        "PidMode": _check_mode("pid", opts.get("pid") or ""),
        "UTSMode": _check_mode("uts", opts.get("uts") or ""),
        "CgroupnsMode": _check_mode("cgroupns", opts.get("cgroupns") or ""),
        "UsernsMode": _check_mode("userns", opts.get("userns") or ""),
    }
    host["DeviceCgroupRules"] = list(opts.get("device_cgroup_rule") or ()) or None
    if opts.get("gpus"):
        host["DeviceRequests"] = [parse_gpus(str(opts["gpus"]))]
    sysctls = parse_sysctls(opts.get("sysctl") or ())
    if sysctls is not None:
        host["Sysctls"] = sysctls
    if unconfined_paths:
        host["MaskedPaths"], host["ReadonlyPaths"] = [], []
    return host

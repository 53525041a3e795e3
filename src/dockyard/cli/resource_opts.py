"""The resource flags of ``run``/``create`` (memory, CPU, pids, block I/O, ulimits, shm, restart) and
the HostConfig fields they fill, shaped as the docker 28 CLI sends them (captured from its
requests): every field present with its zero value when no flag sets it, units in bytes,
``--cpus`` as NanoCpus, ulimits sorted by name.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from typing import Any

import click

from dockyard.cli.client import CliError

_RAM_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5}
_RAM_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*([bkmgtp]?)(?:i?b)?$", re.IGNORECASE)
_THROTTLES = (("device_read_bps", "BlkioDeviceReadBps"), ("device_write_bps", "BlkioDeviceWriteBps"),
              ("device_read_iops", "BlkioDeviceReadIOps"), ("device_write_iops", "BlkioDeviceWriteIOps"))


def resource_options() -> list[Callable[[Any], Any]]:
    o = click.option
    return [
        o("-m", "--memory", help="Memory limit"),
        o("--memory-swap", help="Swap limit equal to memory plus swap: '-1' to enable unlimited swap"),
        o("--memory-reservation", help="Memory soft limit"),
        o("--oom-kill-disable", is_flag=True, help="Disable OOM Killer"),
        o("--cpus", help="Number of CPUs"),
        o("--cpu-shares", "-c", "cpu_shares", type=int, help="CPU shares (relative weight)"),
        o("--cpu-period", type=int, help="Limit CPU CFS (Completely Fair Scheduler) period"),
        o("--cpu-quota", type=int, help="Limit CPU CFS (Completely Fair Scheduler) quota"),
        o("--cpuset-cpus", help="CPUs in which to allow execution (0-3, 0,1)"),
        o("--cpuset-mems", help="MEMs in which to allow execution (0-3, 0,1)"),
        o("--pids-limit", type=int, help="Tune container pids limit (set -1 for unlimited)"),
        o("--blkio-weight", type=click.IntRange(0, 65535),
          help="Block IO (relative weight), between 10 and 1000, or 0 to disable"),
        o("--device-read-bps", multiple=True, help="Limit read rate (bytes per second) from a device"),
        o("--device-write-bps", multiple=True, help="Limit write rate (bytes per second) to a device"),
        o("--device-read-iops", multiple=True, help="Limit read rate (IO per second) from a device"),
        o("--device-write-iops", multiple=True, help="Limit write rate (IO per second) to a device"),
        o("--ulimit", multiple=True, help="Ulimit options"),
        o("--shm-size", help="Size of /dev/shm"),
        o("--memory-swappiness", type=int, default=-1, help="Tune container memory swappiness (0 to 100)"),
        o("--oom-score-adj", type=int, default=0, help="Tune host's OOM preferences (-1000 to 1000)"),
        o("--cgroup-parent", help="Optional parent cgroup for the container"),
        o("--restart", default="no", help="Restart policy to apply when a container exits"),
    ]


def _flag_error(value: str, flag: str, reason: str) -> CliError:
    return CliError(f'invalid argument "{value}" for "{flag}" flag: {reason}', 125)


def parse_ram(value: str) -> int:
    """``512m``, ``1g``, ``1024`` → bytes (docker's RAMInBytes: binary units)."""
    match = _RAM_RE.match(value.strip())
    if not match:
        raise CliError(f"invalid size: '{value}'", 125)
    return int(float(match.group(1)) * _RAM_UNITS[match.group(2).lower()])


def parse_restart(value: str) -> dict[str, Any]:
    """``no``, ``always``, ``unless-stopped``, ``on-failure[:N]`` → RestartPolicy (the CLI sends
    ``no`` by name)."""
    name, sep, count = value.partition(":")
    if name not in ("no", "always", "unless-stopped", "on-failure"):
        raise CliError(f"invalid restart policy: {value}", 125)
    if sep and name != "on-failure":
        raise CliError(f"invalid restart policy format: maximum retry count can only be used with "
                       f"'on-failure': {value}", 125)
    if sep and not count.lstrip("-").isdigit():
        raise CliError("invalid restart policy format: maximum retry count must be an integer", 125)
    return {"Name": name, "MaximumRetryCount": int(count or 0)}


def parse_cpus(value: str) -> int:
    """``--cpus 1.5`` → NanoCpus, refusing what nanoseconds cannot hold (docker's ParseCPUs)."""
    try:
        nano = Fraction(value) * 1_000_000_000
    except (ValueError, ZeroDivisionError) as exc:
        raise _flag_error(value, "--cpus", "failed to parse as a rational number") from exc
    if nano.denominator != 1:
        raise _flag_error(value, "--cpus", "value is too precise")
    return int(nano)


def _memory_swap(value: str | None) -> int:
    if not value:
        return 0
    return -1 if value == "-1" else parse_ram(value)


def parse_throttle(value: str, flag: str, *, iops: bool) -> dict[str, Any]:
    """``/dev/sda:1mb`` (bps) or ``/dev/sda:100`` (iops) → ``{"Path", "Rate"}``."""
    path, sep, rate = value.rpartition(":")
    if not sep or not path.startswith("/dev/"):
        raise _flag_error(value, flag, f"bad format for device path: {value}")
    if iops:
        if not rate.isdigit():
            raise _flag_error(value, flag, f"invalid rate for device: {value}. The correct format "
                                           "is <device-path>:<number>. Number must be a positive integer")
        return {"Path": path, "Rate": int(rate)}
    try:
        bytes_rate = parse_ram(rate)
    except CliError as exc:
        raise _flag_error(value, flag, f"invalid rate for device: {value}. The correct format is "
                                       "<device-path>:<number>[<unit>]. Number must be a positive "
                                       "integer. Unit is optional and can be kb, mb, or gb") from exc
    return {"Path": path, "Rate": bytes_rate}


def parse_ulimit(value: str) -> dict[str, Any]:
    """``nofile=1024:2048`` or ``nproc=100`` → ``{"Name", "Soft", "Hard"}``."""
    name, sep, limits = value.partition("=")
    soft_text, _, hard_text = limits.partition(":")
    try:
        soft = int(soft_text)
        hard = int(hard_text) if hard_text else soft
    except ValueError as exc:
        raise _flag_error(value, "--ulimit", f"invalid ulimit argument: {value}") from exc
    if not sep or not name:
        raise _flag_error(value, "--ulimit", f"invalid ulimit argument: {value}")
    if soft > hard:
        raise _flag_error(value, "--ulimit", f"ulimit soft limit must be less than or equal to "
                                             f"hard limit: {soft} > {hard}")
    return {"Name": name, "Soft": soft, "Hard": hard}


def _ulimits(values: Sequence[str]) -> list[dict[str, Any]]:
    by_name = {u["Name"]: u for u in (parse_ulimit(v) for v in values)}  # a later flag wins
    return [by_name[name] for name in sorted(by_name)]


def resource_host_config(opts: Mapping[str, Any]) -> dict[str, Any]:
    """The HostConfig fields these flags own, with the docker CLI's zero values when unset."""
    def ram(key: str) -> int:
        return parse_ram(opts[key]) if opts.get(key) else 0

    host: dict[str, Any] = {
        "Memory": ram("memory"), "MemorySwap": _memory_swap(opts.get("memory_swap")),
        "MemoryReservation": ram("memory_reservation"),
        "OomKillDisable": bool(opts.get("oom_kill_disable")),
        "NanoCpus": parse_cpus(opts["cpus"]) if opts.get("cpus") else 0,
        "CpuShares": opts.get("cpu_shares") or 0, "CpuPeriod": opts.get("cpu_period") or 0,
        "CpuQuota": opts.get("cpu_quota") or 0, "CpusetCpus": opts.get("cpuset_cpus") or "",
        "CpusetMems": opts.get("cpuset_mems") or "", "PidsLimit": opts.get("pids_limit") or 0,
        "BlkioWeight": opts.get("blkio_weight") or 0, "BlkioWeightDevice": [],
        "Ulimits": _ulimits(opts.get("ulimit") or ()),
        "RestartPolicy": parse_restart(opts.get("restart") or "no"),
    }
    for key, field in _THROTTLES:
        host[field] = [parse_throttle(v, "--" + key.replace("_", "-"), iops=key.endswith("iops"))
                       for v in opts.get(key) or ()]
    host["ShmSize"] = ram("shm_size")
    swappiness = opts.get("memory_swappiness")
    host["MemorySwappiness"] = -1 if swappiness is None else swappiness
    host["OomScoreAdj"] = opts.get("oom_score_adj") or 0
    host["CgroupParent"] = opts.get("cgroup_parent") or ""
    return host

"""HostConfig resources -> OCI ``linux.resources``, rlimits and the /dev/shm size, as Docker does.

The rules and messages follow moby's ``daemon/daemon_unix.go`` (``verifyPlatformContainerResources``,
``adaptContainerSettings``) and ``oci_linux.go`` (``getMemoryResources``, ``getCPUResources``,
``getBlkioWeightDevices``, ``getBlkioThrottleDevices``). The output is the same for cgroup v1 and v2:
runc translates v1 fields (shares, quota, swap, blkio weight) onto v2 files itself; we only drop what
v2 has no file for (swappiness, the OOM-killer switch), as Docker does with a warning.
"""

from __future__ import annotations

import logging
import os
import resource
import stat
from dataclasses import dataclass
from typing import Any

from dockyard.core.runtime.devices import check_device_requests, check_storage_opts, check_unsupported
from dockyard.errors import InvalidArgument

log = logging.getLogger(__name__)

MIN_MEMORY = 6 * 1024 * 1024  # moby's linuxMinMemory
DEFAULT_SHM_SIZE = 64 * 1024 * 1024
INT64_MAX = 2**63 - 1
CPU_PERIOD = 100_000  # microseconds; the CFS period Docker uses for --cpus

# HostConfig keys that make up Docker's ``Resources`` (the body of POST /containers/{id}/update).
RESOURCE_KEYS = (
    "CpuShares", "Memory", "NanoCpus", "CgroupParent", "BlkioWeight", "BlkioWeightDevice",
    "BlkioDeviceReadBps", "BlkioDeviceWriteBps", "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps",
    "CpuPeriod", "CpuQuota", "CpuRealtimePeriod", "CpuRealtimeRuntime", "CpusetCpus", "CpusetMems",
    "Devices", "DeviceCgroupRules", "DeviceRequests", "MemoryReservation", "MemorySwap",
    "MemorySwappiness", "OomKillDisable", "PidsLimit", "Ulimits", "CpuCount", "CpuPercent",
    "IOMaximumIOps", "IOMaximumBandwidth",
)


@dataclass(frozen=True, slots=True)
class HostLimits:
    """What the host offers, for validation: CPUs, swap accounting, cgroup version."""

    cpus: int
    cgroup_v2: bool
    swap_accounting: bool = True
    cpu_realtime: bool = False  # cgroup v1's cpu.rt_runtime_us (cgroup v2 has no RT group scheduling)

    @classmethod
    def detect(cls, *, cgroup_v2: bool) -> HostLimits:
        swap = True
        if not cgroup_v2:
            # Without swap accounting (swapaccount=0) there is no memsw file to write.
            swap = os.path.exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")
        realtime = not cgroup_v2 and os.path.exists("/sys/fs/cgroup/cpu/cpu.rt_runtime_us")
        return cls(cpus=os.cpu_count() or 1, cgroup_v2=cgroup_v2, swap_accounting=swap,
                   cpu_realtime=realtime)


def _int(raw: dict[str, Any], key: str) -> int:
    value = raw.get(key)
    if value is None or value == "":
        return 0
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"json: cannot unmarshal {value!r} into HostConfig.{key}") from exc


def adapt(raw: dict[str, Any]) -> dict[str, Any]:
    """Docker's create-time defaults: MemorySwap is twice Memory unless given (moby
    ``adaptContainerSettings``); a negative ShmSize is refused, zero means 64 MiB."""
    adapted = dict(raw)
    memory = _int(raw, "Memory")
    if memory > 0 and _int(raw, "MemorySwap") == 0:
        # Twice a limit past half of int64 is no number a client can read back: unlimited swap.
        adapted["MemorySwap"] = memory * 2 if memory * 2 <= INT64_MAX else -1
    shm = _int(raw, "ShmSize")
    if shm < 0:
        raise InvalidArgument("SHM size can not be less than 0")
    adapted["ShmSize"] = shm or DEFAULT_SHM_SIZE
    return adapted


def validate(raw: dict[str, Any], host: HostLimits) -> None:
    """Raise InvalidArgument with Docker's message for a resource request it would refuse."""
    _validate_memory(raw)
    _validate_cpu(raw, host)
    adj = _int(raw, "OomScoreAdj")
    if not -1000 <= adj <= 1000:
        raise InvalidArgument(f"Invalid value {adj}, range for oom score adj is [-1000, 1000]")
    weight = _int(raw, "BlkioWeight")
    if weight and not 10 <= weight <= 1000:
        raise InvalidArgument("Range of blkio weight is from 10 to 1000")
    ulimits(raw)


def _validate_memory(raw: dict[str, Any]) -> None:
    memory, swap = _int(raw, "Memory"), _int(raw, "MemorySwap")
    reservation = _int(raw, "MemoryReservation")
    # moby checks ``!= 0``: a negative limit is refused, not taken as "unlimited".
    if memory != 0 and memory < MIN_MEMORY:
        raise InvalidArgument("Minimum memory limit allowed is 6MB")
    if memory > 0 and 0 < swap < memory:
        raise InvalidArgument(
            "Minimum memoryswap limit should be larger than memory limit, see usage")
    if memory == 0 and swap > 0:
        raise InvalidArgument(
            "You should always set the Memory limit when using Memoryswap limit, see usage")
    if reservation != 0 and reservation < MIN_MEMORY:
        raise InvalidArgument("Minimum memory reservation allowed is 6MB")
    if memory > 0 and reservation > 0 and memory < reservation:
        raise InvalidArgument(
            "Minimum memory limit can not be less than memory reservation limit, see usage")
    swappiness = raw.get("MemorySwappiness")
    if swappiness is not None and swappiness != -1 and not 0 <= int(swappiness) <= 100:
        raise InvalidArgument(
            f"Invalid value: {swappiness}, valid memory swappiness range is 0-100")


def _validate_cpu(raw: dict[str, Any], host: HostLimits) -> None:
    nano, period, quota = _int(raw, "NanoCpus"), _int(raw, "CpuPeriod"), _int(raw, "CpuQuota")
    if nano and period:
        raise InvalidArgument("Conflicting options: Nano CPUs and CPU Period cannot both be set")
    if nano and quota:
        raise InvalidArgument("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
    if nano < 0 or nano > host.cpus * 1_000_000_000:
        raise InvalidArgument(f"Range of CPUs is from 0.01 to {host.cpus}.00, as there are only "
                              f"{host.cpus} CPUs available")
    if period and not 1000 <= period <= 1_000_000:
        raise InvalidArgument(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)")
    if quota and quota > 0 and quota < 1000:
        raise InvalidArgument("CPU cfs quota can not be less than 1ms (i.e. 1000)")
    for key, kind in (("CpusetCpus", "CPUs"), ("CpusetMems", "MEMs")):
        text = str(raw.get(key) or "")
        if text and not _valid_cpuset(text):
            raise InvalidArgument(f"Invalid value {text} for cpuset {kind.lower()}")
    rt_period, rt_runtime = _int(raw, "CpuRealtimePeriod"), _int(raw, "CpuRealtimeRuntime")
    if rt_period and not host.cpu_realtime:
        raise InvalidArgument("Your kernel does not support cgroup cpu real-time period")
    if rt_runtime and not host.cpu_realtime:
        raise InvalidArgument("Your kernel does not support cgroup cpu real-time runtime")
    if rt_period and rt_runtime > rt_period:
        raise InvalidArgument("cpu real-time runtime cannot be higher than cpu real-time period")
    cpus = str(raw.get("CpusetCpus") or "")
    if cpus and max(_cpuset_members(cpus)) >= host.cpus:
        raise InvalidArgument(f"Requested CPUs are not available - requested {cpus}, "
                              f"available: 0-{host.cpus - 1}")


def _valid_cpuset(text: str) -> bool:
    try:
        return bool(_cpuset_members(text))
    except ValueError:
        return False


def _cpuset_members(text: str) -> set[int]:
    members: set[int] = set()
    for part in text.split(","):
        low, _, high = part.strip().partition("-")
        first, last = int(low), int(high or low)
        if first < 0 or last < first:
            raise ValueError(part)
        members.update(range(first, last + 1))
    return members


def linux_resources(raw: dict[str, Any], host: HostLimits) -> dict[str, Any]:
    """The OCI ``linux.resources`` (without devices) for a HostConfig; empty parts left out.

    This dict is also what ``runc update --resources`` reads."""
    resources: dict[str, Any] = {}
    memory = _memory(raw, host)
    if memory:
        resources["memory"] = memory
    cpu = _cpu(raw)
    if cpu:
        resources["cpu"] = cpu
    pids = _int(raw, "PidsLimit")
    if pids > 0:
        resources["pids"] = {"limit": pids}
    block_io = _block_io(raw)
    if block_io:
        resources["blockIO"] = block_io
    return resources


def _memory(raw: dict[str, Any], host: HostLimits) -> dict[str, Any]:
    memory: dict[str, Any] = {}
    for key, field in (("Memory", "limit"), ("MemoryReservation", "reservation")):
        value = _int(raw, key)
        if value > 0:
            memory[field] = value
    swap = _int(raw, "MemorySwap")
    if swap and (swap > 0 or swap == -1) and host.swap_accounting:
        memory["swap"] = swap
    if host.cgroup_v2:
        return memory  # v2 has neither memory.swappiness nor memory.oom_control
    if raw.get("OomKillDisable"):
        memory["disableOOMKiller"] = True
    swappiness = raw.get("MemorySwappiness")
    if swappiness is not None and int(swappiness) >= 0:
        memory["swappiness"] = int(swappiness)
    return memory


def _cpu(raw: dict[str, Any]) -> dict[str, Any]:
    cpu: dict[str, Any] = {}
    shares = _int(raw, "CpuShares")
    if shares:
        cpu["shares"] = shares
    nano = _int(raw, "NanoCpus")
    if nano:
        # --cpus: a quota of that many periods' worth of CPU time per period (moby getCPUResources).
        cpu["period"] = CPU_PERIOD
        cpu["quota"] = nano * CPU_PERIOD // 1_000_000_000
    else:
        if _int(raw, "CpuPeriod"):
            cpu["period"] = _int(raw, "CpuPeriod")
        if _int(raw, "CpuQuota"):
            cpu["quota"] = _int(raw, "CpuQuota")
    for key, field in (("CpusetCpus", "cpus"), ("CpusetMems", "mems")):
        if raw.get(key):
            cpu[field] = str(raw[key])
    for key, field in (("CpuRealtimePeriod", "realtimePeriod"), ("CpuRealtimeRuntime", "realtimeRuntime")):
        if _int(raw, key):
            cpu[field] = _int(raw, key)
    return cpu


def _block_io(raw: dict[str, Any]) -> dict[str, Any]:
    block_io: dict[str, Any] = {}
    adj = _int(raw, "OomScoreAdj")
    if not -1000 <= adj <= 1000:
        raise InvalidArgument(f"Invalid value {adj}, range for oom score adj is [-1000, 1000]")
    weight = _int(raw, "BlkioWeight")
    if weight:
        block_io["weight"] = weight
    devices = [{**_device_numbers(str(d.get("Path") or "")), "weight": int(d.get("Weight") or 0)}
               for d in raw.get("BlkioWeightDevice") or []]
    if devices:
        block_io["weightDevice"] = devices
    for key, field in (("BlkioDeviceReadBps", "throttleReadBpsDevice"),
                       ("BlkioDeviceWriteBps", "throttleWriteBpsDevice"),
                       ("BlkioDeviceReadIOps", "throttleReadIOPSDevice"),
                       ("BlkioDeviceWriteIOps", "throttleWriteIOPSDevice")):
        rates = [{**_device_numbers(str(d.get("Path") or "")), "rate": int(d.get("Rate") or 0)}
                 for d in raw.get(key) or []]
        if rates:
            block_io[field] = rates
    return block_io


def _device_numbers(path: str) -> dict[str, int]:
    # The cgroup files take major:minor; Docker stats the host path the user named.
    try:
        info = os.stat(path)
    except OSError as exc:
        raise InvalidArgument(f"error gathering device information while adding custom device "
                              f'"{path}": {exc.strerror.lower() if exc.strerror else exc}') from exc
    if not stat.S_ISBLK(info.st_mode):
        raise InvalidArgument(f'"{path}" is not a block device')
    return {"major": os.major(info.st_rdev), "minor": os.minor(info.st_rdev)}


def _rlimit_number(name: str) -> tuple[str, int]:
    type_ = f"RLIMIT_{name.upper()}"
    number = getattr(resource, type_, None)
    if not isinstance(number, int):
        raise InvalidArgument(f"invalid ulimit type: {name}")
    return type_, number


def ulimits(raw: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """``--ulimit``: rlimit type -> (soft, hard). A hard limit above the daemon's own cannot be set
    (the runtime gets EPERM); refuse it with the error Docker's runtime reports."""
    result: dict[str, tuple[int, int]] = {}
    for item in raw.get("Ulimits") or []:
        name = str(item.get("Name") or "")
        soft, hard = int(item.get("Soft", 0)), int(item.get("Hard", 0))
        type_, number = _rlimit_number(name)
        if soft > hard:
            raise InvalidArgument(
                f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}")
        _, own_hard = resource.getrlimit(number)
        if own_hard != resource.RLIM_INFINITY and hard > own_hard:
            raise InvalidArgument(
                "failed to create task for container: OCI runtime create failed: "
                f"error setting rlimit type {number}: operation not permitted")
        result[type_] = (soft, hard)
    return result


def shm_size(raw: dict[str, Any]) -> int:
    return _int(raw, "ShmSize") or DEFAULT_SHM_SIZE


def merge_update(current: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """The HostConfig after ``docker update``: fields given (non-zero) replace the current ones,
    with moby's ``UpdateContainer`` checks on memory and swap."""
    merged = dict(current)
    memory, swap = _int(update, "Memory"), _int(update, "MemorySwap")
    current_swap = _int(current, "MemorySwap")
    if memory and current_swap > 0 and memory > current_swap and swap == 0:
        raise InvalidArgument("Memory limit should be smaller than already set memoryswap limit, "
                              "update the memoryswap at the same time")
    for key in RESOURCE_KEYS:
        value = update.get(key)
        if value in (None, 0, "", []) or key in ("Devices", "DeviceRequests", "CgroupParent"):
            continue
        merged[key] = value
    if update.get("RestartPolicy") and update["RestartPolicy"].get("Name"):
        merged["RestartPolicy"] = update["RestartPolicy"]
    return merged


def spec_fields(raw: dict[str, Any], host: HostLimits | None = None) -> dict[str, Any]:
    """The :class:`~dockyard.core.runtime.model.SpecInput` fields a container's HostConfig sets:
    ``resources``, ``rlimits``, ``shm_size`` and ``oom_score_adj``."""
    from dockyard.core.system import cgroup_version

    host = host or HostLimits.detect(cgroup_v2=cgroup_version() == "2")
    return {"resources": linux_resources(raw, host), "rlimits": ulimits(raw),
            "shm_size": shm_size(raw), "oom_score_adj": _int(raw, "OomScoreAdj"),
            "masked_paths": _paths(raw, "MaskedPaths"), "readonly_paths": _paths(raw, "ReadonlyPaths")}


def _paths(raw: dict[str, Any], key: str) -> tuple[str, ...] | None:
    value = raw.get(key)
    return None if value is None else tuple(str(p) for p in value)


def check_create(raw: dict[str, Any], host: HostLimits | None = None) -> dict[str, Any]:
    """A create request's HostConfig with Docker's defaults filled in, or Docker's 400."""
    from dockyard.core.system import cgroup_version

    adapted = adapt(raw)
    validate(adapted, host or HostLimits.detect(cgroup_v2=cgroup_version() == "2"))
    check_device_requests(adapted)
    check_storage_opts(adapted)
    check_unsupported(adapted)
    return adapted

"""Host cgroup set-up that the daemon performs on request (never by default), and reading a
container's cgroup counters for ``docker stats`` and OOM detection."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from dockyard.backends.overlay import SyscallMounter
from dockyard.core.containers.stats import BlkioEntry, CpuSample, MemorySample, StatsSample
from dockyard.core.layers.snapshots import Mount
from dockyard.core.timestamps import now_rfc3339
from dockyard.errors import DockyardError

log = logging.getLogger(__name__)


def set_rt_budget(parent: str, *, period: int, runtime: int, root: Path = Path("/sys/fs/cgroup")) -> None:
    """Give the containers' parent cgroup a real-time budget (moby's initCPURtController), so a
    container's ``--cpu-rt-runtime`` can draw on it. cgroup v1 only; the root keeps its own."""
    cpu = root / "cpu"
    if not (cpu / "cpu.rt_runtime_us").exists():
        raise OSError("this host has no cgroup v1 cpu real-time scheduling (cpu.rt_runtime_us)")
    target = cpu / parent
    target.mkdir(exist_ok=True)
    (target / "cpu.rt_period_us").write_text(str(period))
    (target / "cpu.rt_runtime_us").write_text(str(runtime))
    log.info("cpu real-time budget of %s: %d/%d µs", target, runtime, period)


def bind_v1_controllers(controllers: list[str], root: Path = Path("/sys/fs/cgroup")) -> list[str]:
    """Bind each controller to its own cgroup v1 hierarchy under ``root``.

    On a hybrid host a controller that no v1 hierarchy holds shows up on the cgroup2 mount, and
    crun then refuses to run. Binding it to v1 moves it off cgroup2. The mount stays after the
    daemon exits (it is a host change, hence opt-in). Returns the controllers bound."""
    mounter = SyscallMounter()
    bound: list[str] = []
    for controller in controllers:
        target = root / controller
        created = not target.exists()
        try:
            target.mkdir(exist_ok=True)
            mounter.mount([Mount("cgroup", "cgroup", (controller,))], target)
        except (OSError, DockyardError) as exc:
            # An empty directory named like a controller confuses runtimes: never leave one.
            if created:
                target.rmdir()
            log.warning("could not bind cgroup controller %s to v1: %s", controller, exc)
            continue
        log.info("bound cgroup controller %s to a v1 hierarchy at %s (for crun)", controller, target)
        bound.append(controller)
    return bound


# ---- reading a container's cgroup (core/containers/stats.py CgroupReader) ----

_USER_HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_NS_PER_TICK = 1_000_000_000 // _USER_HZ
_NET_FIELDS = ("rx_bytes", "rx_packets", "rx_errors", "rx_dropped", "", "", "", "",
               "tx_bytes", "tx_packets", "tx_errors", "tx_dropped")


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _number(path: Path) -> int:
    """An integer file; "max" (v2's unlimited) and a missing file read as 0."""
    text = _read(path).strip()
    return int(text) if text.lstrip("-").isdigit() else 0


def _keyed(path: Path) -> dict[str, int]:
    """``key value`` lines (memory.stat, cpu.stat, memory.events, memory.oom_control)."""
    values: dict[str, int] = {}
    for line in _read(path).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            values[parts[0]] = int(parts[1])
    return values


class FsCgroupReader:
    """Implements :class:`dockyard.core.containers.stats.CgroupReader` over /sys/fs/cgroup and /proc, for
    cgroup v1 (one hierarchy per controller; hybrid hosts too) and v2 (one unified tree)."""

    def __init__(self, root: Path = Path("/sys/fs/cgroup"), proc: Path = Path("/proc")) -> None:
        self._root = root
        self._proc = proc
        self._v2 = (root / "cgroup.controllers").exists()

    @property
    def cgroup_v2(self) -> bool:
        return self._v2

    def _dir(self, controller: str, cgroups_path: str) -> Path:
        relative = cgroups_path.lstrip("/")
        return self._root / relative if self._v2 else self._root / controller / relative

    def oom_kills(self, cgroups_path: str) -> int:
        if self._v2:
            return _keyed(self._dir("", cgroups_path) / "memory.events").get("oom_kill", 0)
        # memory.oom_control carries an oom_kill counter since Linux 4.13.
        return _keyed(self._dir("memory", cgroups_path) / "memory.oom_control").get("oom_kill", 0)

    def sample(self, cgroups_path: str, pid: int) -> StatsSample:
        memory = self._memory_v2(cgroups_path) if self._v2 else self._memory_v1(cgroups_path)
        pids_dir = self._dir("pids", cgroups_path)
        io_bytes, io_ops = self._io_v2(cgroups_path) if self._v2 else self._io_v1(cgroups_path)
        return StatsSample(
            read=now_rfc3339(),
            cpu=self._cpu_v2(cgroups_path) if self._v2 else self._cpu_v1(cgroups_path),
            memory=memory,
            pids_current=_number(pids_dir / "pids.current"),
            pids_limit=_number(pids_dir / "pids.max"),
            io_bytes=io_bytes, io_ops=io_ops,
            networks=self._networks(pid) if pid else {},
            cgroup_v2=self._v2)

    def _system_cpu(self) -> tuple[int, int]:
        """(host CPU time in ns, online CPUs) from /proc/stat, as moby's getSystemCPUUsage."""
        total, cpus = 0, 0
        for line in _read(self._proc / "stat").splitlines():
            if line.startswith("cpu "):
                total = sum(int(v) for v in line.split()[1:8]) * _NS_PER_TICK
            elif line.startswith("cpu"):
                cpus += 1
        return total, cpus

    def _cpu_v1(self, path: str) -> CpuSample:
        acct = self._dir("cpuacct", path)
        ticks = _keyed(acct / "cpuacct.stat")
        throttling = _keyed(self._dir("cpu", path) / "cpu.stat")
        system, cpus = self._system_cpu()
        return CpuSample(
            total_ns=_number(acct / "cpuacct.usage"),
            percpu_ns=tuple(int(v) for v in _read(acct / "cpuacct.usage_percpu").split()),
            kernel_ns=ticks.get("system", 0) * _NS_PER_TICK,
            user_ns=ticks.get("user", 0) * _NS_PER_TICK,
            system_ns=system, online_cpus=cpus,
            periods=throttling.get("nr_periods", 0),
            throttled_periods=throttling.get("nr_throttled", 0),
            throttled_ns=throttling.get("throttled_time", 0))

    def _cpu_v2(self, path: str) -> CpuSample:
        stat = _keyed(self._dir("", path) / "cpu.stat")
        system, cpus = self._system_cpu()
        return CpuSample(
            total_ns=stat.get("usage_usec", 0) * 1000,
            kernel_ns=stat.get("system_usec", 0) * 1000,
            user_ns=stat.get("user_usec", 0) * 1000,
            system_ns=system, online_cpus=cpus,
            periods=stat.get("nr_periods", 0),
            throttled_periods=stat.get("nr_throttled", 0),
            throttled_ns=stat.get("throttled_usec", 0) * 1000)

    def _host_memory(self) -> int:
        for line in _read(self._proc / "meminfo").splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
        return 0

    def _limit(self, limit: int) -> int:
        # An unlimited cgroup reports a huge number (v1) or "max" (v2): Docker shows host memory.
        host = self._host_memory()
        return host if limit <= 0 or (host and limit > host) else limit

    def _memory_v1(self, path: str) -> MemorySample:
        mem = self._dir("memory", path)
        return MemorySample(
            usage=_number(mem / "memory.usage_in_bytes"),
            max_usage=_number(mem / "memory.max_usage_in_bytes"),
            limit=self._limit(_number(mem / "memory.limit_in_bytes")),
            failcnt=_number(mem / "memory.failcnt"),
            stats=_keyed(mem / "memory.stat"))

    def _memory_v2(self, path: str) -> MemorySample:
        mem = self._dir("", path)
        return MemorySample(
            usage=_number(mem / "memory.current"),
            max_usage=_number(mem / "memory.peak"),
            limit=self._limit(_number(mem / "memory.max")),
            stats=_keyed(mem / "memory.stat"))

    def _io_v1(self, path: str) -> tuple[tuple[BlkioEntry, ...], tuple[BlkioEntry, ...]]:
        blkio = self._dir("blkio", path)

        def entries(name: str) -> tuple[BlkioEntry, ...]:
            found = []
            for line in _read(blkio / name).splitlines():
                parts = line.split()
                if len(parts) == 3 and ":" in parts[0]:
                    major, minor = parts[0].split(":")
                    found.append(BlkioEntry(int(major), int(minor), parts[1], int(parts[2])))
            return tuple(found)

        return entries("blkio.throttle.io_service_bytes"), entries("blkio.throttle.io_serviced")

    def _io_v2(self, path: str) -> tuple[tuple[BlkioEntry, ...], tuple[BlkioEntry, ...]]:
        io_bytes: list[BlkioEntry] = []
        io_ops: list[BlkioEntry] = []
        for line in _read(self._dir("", path) / "io.stat").splitlines():
            device, *fields = line.split()
            major, minor = (int(n) for n in device.split(":"))
            values = dict(f.split("=", 1) for f in fields if "=" in f)
            for key, op, target in (("rbytes", "read", io_bytes), ("wbytes", "write", io_bytes),
                                    ("rios", "read", io_ops), ("wios", "write", io_ops)):
                if key in values:
                    target.append(BlkioEntry(major, minor, op, int(values[key])))
        return tuple(io_bytes), tuple(io_ops)

    def _networks(self, pid: int) -> dict[str, dict[str, int]]:
        """Counters of the container's interfaces, seen through its init's netns."""
        networks: dict[str, dict[str, int]] = {}
        for line in _read(self._proc / str(pid) / "net" / "dev").splitlines()[2:]:
            name, _, counters = line.partition(":")
            name = name.strip()
            if not name or name == "lo":
                continue
            values = counters.split()
            networks[name] = {key: int(values[i]) for i, key in enumerate(_NET_FIELDS)
                              if key and i < len(values)}
        return networks

"""Resources: HostConfig -> linux.resources, Docker's refusals, cgroup v1/v2 reading over fake trees,
``update`` over the fake runtime, OOM at exit."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from test_containers_fakes import Harness

from dockyard.backends.cgroups import FsCgroupReader
from dockyard.core.containers.model import ContainerConfig, CreateRequest, HostOptions
from dockyard.core.runtime.resources import HostLimits, check_create, linux_resources, merge_update, ulimits
from dockyard.errors import InvalidArgument

V1 = HostLimits(cpus=2, cgroup_v2=False)
V2 = HostLimits(cpus=2, cgroup_v2=True)


def test_memory_cpu_pids_map_to_oci() -> None:
    raw = check_create({"Memory": 64 << 20, "NanoCpus": 500_000_000, "PidsLimit": 10,
                        "CpuShares": 512, "CpusetCpus": "0", "OomKillDisable": True}, V1)
    assert raw["MemorySwap"] == 128 << 20 and raw["ShmSize"] == 64 << 20
    res = linux_resources(raw, V1)
    assert res["memory"] == {"limit": 64 << 20, "swap": 128 << 20, "disableOOMKiller": True}
    assert res["cpu"] == {"shares": 512, "period": 100_000, "quota": 50_000, "cpus": "0"}
    assert res["pids"] == {"limit": 10}
    # cgroup v2 has no OOM-killer switch: dropped, as Docker does.
    assert "disableOOMKiller" not in linux_resources(raw, V2)["memory"]


def test_unlimited_values_are_left_out() -> None:
    assert linux_resources(check_create({"PidsLimit": -1, "MemorySwap": 0}, V1), V1) == {}


@pytest.mark.parametrize(("raw", "message"), [
    ({"Memory": 1 << 20}, "Minimum memory limit allowed is 6MB"),
    ({"Memory": 64 << 20, "MemorySwap": 32 << 20}, "Minimum memoryswap limit should be larger"),
    ({"MemorySwap": 64 << 20}, "You should always set the Memory limit when using Memoryswap"),
    ({"NanoCpus": 3_000_000_000}, "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs"),
    ({"NanoCpus": 1, "CpuPeriod": 1000}, "Nano CPUs and CPU Period cannot both be set"),
    ({"CpuPeriod": 10}, "CPU cfs period can not be less than 1ms"),
    ({"BlkioWeight": 5}, "Range of blkio weight is from 10 to 1000"),
    ({"CpusetCpus": "7"}, "Requested CPUs are not available - requested 7, available: 0-1"),
    ({"ShmSize": -1}, "SHM size can not be less than 0"),
    ({"Ulimits": [{"Name": "nofile", "Soft": 10, "Hard": 5}]}, "ulimit soft limit must be less"),
    ({"Ulimits": [{"Name": "bogus", "Soft": 1, "Hard": 1}]}, "invalid ulimit type: bogus"),
])
def test_docker_refusals(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message.replace("(", r"\(")):
        check_create(raw, V1)


def test_ulimit_above_the_daemons_hard_limit_is_refused() -> None:
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        pytest.skip("no hard nofile limit here")
    assert ulimits({"Ulimits": [{"Name": "nofile", "Soft": 5, "Hard": hard}]}) == {
        "RLIMIT_NOFILE": (5, hard)}
    with pytest.raises(InvalidArgument, match="error setting rlimit type 7: operation not permitted"):
        ulimits({"Ulimits": [{"Name": "nofile", "Soft": hard + 1, "Hard": hard + 1}]})


def test_update_needs_swap_when_memory_passes_it() -> None:
    current = check_create({"Memory": 32 << 20}, V1)
    with pytest.raises(InvalidArgument, match="update the memoryswap at the same time"):
        merge_update(current, {"Memory": 128 << 20})
    merged = merge_update(current, {"Memory": 128 << 20, "MemorySwap": 256 << 20, "CpuShares": 0})
    assert (merged["Memory"], merged["MemorySwap"]) == (128 << 20, 256 << 20)


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _proc(root: Path) -> Path:
    _write(root, {
        "stat": "cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 50 0 50 400 0 0 0\ncpu1 50 0 50 400 0 0 0\n",
        "meminfo": "MemTotal:        1000000 kB\n",
        "42/net/dev": "Inter-| head\n face | head\n    lo: 9 9 0 0 0 0 0 0 9 9 0 0 0 0 0 0\n"
                      "  eth0: 1000 10 1 2 0 0 0 0 2000 20 3 4 0 0 0 0\n"})
    return root


def test_v1_reader(tmp_path: Path) -> None:
    cg, path = tmp_path / "cgroup", "dockyard/c1"
    _write(cg, {
        f"cpuacct/{path}/cpuacct.usage": "3000\n",
        f"cpuacct/{path}/cpuacct.usage_percpu": "1000 2000 \n",
        f"cpuacct/{path}/cpuacct.stat": "user 2\nsystem 1\n",
        f"cpu/{path}/cpu.stat": "nr_periods 5\nnr_throttled 2\nthrottled_time 77\n",
        f"memory/{path}/memory.usage_in_bytes": "4096\n",
        f"memory/{path}/memory.max_usage_in_bytes": "8192\n",
        f"memory/{path}/memory.limit_in_bytes": "9223372036854771712\n",
        f"memory/{path}/memory.stat": "cache 0\ntotal_inactive_file 100\n",
        f"memory/{path}/memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n",
        f"pids/{path}/pids.current": "3\n", f"pids/{path}/pids.max": "max\n",
        f"blkio/{path}/blkio.throttle.io_service_bytes": "8:0 Read 512\n8:0 Write 0\nTotal 512\n",
    })
    reader = FsCgroupReader(cg, _proc(tmp_path / "proc"))
    assert not reader.cgroup_v2
    s = reader.sample("/dockyard/c1", 42)
    assert (s.cpu.total_ns, s.cpu.percpu_ns, s.cpu.online_cpus) == (3000, (1000, 2000), 2)
    assert s.cpu.system_ns > 0 and s.cpu.throttled_periods == 2
    assert (s.memory.usage, s.memory.limit) == (4096, 1000000 * 1024)  # unlimited -> host memory
    assert s.memory.stats["total_inactive_file"] == 100
    assert (s.pids_current, s.pids_limit) == (3, 0)
    assert [(e.op, e.value) for e in s.io_bytes] == [("Read", 512), ("Write", 0)]
    assert s.networks == {"eth0": {"rx_bytes": 1000, "rx_packets": 10, "rx_errors": 1,
                                   "rx_dropped": 2, "tx_bytes": 2000, "tx_packets": 20,
                                   "tx_errors": 3, "tx_dropped": 4}}
    assert reader.oom_kills("/dockyard/c1") == 1
    assert reader.oom_kills("/dockyard/gone") == 0


def test_v2_reader(tmp_path: Path) -> None:
    cg, path = tmp_path / "cgroup", "dockyard/c2"
    _write(cg, {
        "cgroup.controllers": "cpu memory pids io\n",
        f"{path}/cpu.stat": "usage_usec 5\nuser_usec 3\nsystem_usec 2\nnr_periods 1\n",
        f"{path}/memory.current": "2048\n", f"{path}/memory.max": "65536\n",
        f"{path}/memory.stat": "anon 1\ninactive_file 7\n",
        f"{path}/memory.events": "low 0\nhigh 0\nmax 4\noom 1\noom_kill 2\n",
        f"{path}/pids.current": "1\n", f"{path}/pids.max": "10\n",
        f"{path}/io.stat": "8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n",
    })
    reader = FsCgroupReader(cg, _proc(tmp_path / "proc"))
    assert reader.cgroup_v2
    s = reader.sample("/dockyard/c2", 0)
    assert (s.cpu.total_ns, s.cpu.user_ns, s.cpu.kernel_ns, s.cpu.percpu_ns) == (5000, 3000, 2000, ())
    assert (s.memory.usage, s.memory.limit, s.memory.stats["inactive_file"]) == (2048, 65536, 7)
    assert (s.pids_current, s.pids_limit) == (1, 10)
    assert [(e.op, e.value) for e in s.io_bytes] == [("read", 10), ("write", 20)]
    assert [(e.op, e.value) for e in s.io_ops] == [("read", 1), ("write", 2)]
    assert s.networks == {}
    assert reader.oom_kills("/dockyard/c2") == 2


class FakeReader(FsCgroupReader):
    def __init__(self, kills: int) -> None:
        super().__init__(Path("/nonexistent"), Path("/nonexistent"))
        self.kills = kills

    def oom_kills(self, cgroups_path: str) -> int:
        return self.kills


@pytest.mark.asyncio
async def test_update_and_oom_through_the_service(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    reader = FakeReader(kills=1)
    h.service = type(h.service)(config=h.config, db=h.db, images=h.images,
                                snapshotter=h.snapshotter, mounter=h.mounter,
                                runtimes={"runc": h.runtime}, monitor=h.monitor, cgroups=reader)
    await h.service.open()
    created = await h.service.create(CreateRequest(
        image="busybox", config=ContainerConfig(image="busybox", cmd=["sleep", "9"]),
        host=HostOptions(raw={"Memory": 32 << 20})))
    await h.service.start(created.id)
    await h.service.resources.update(created.id, {"Memory": 64 << 20, "MemorySwap": -1})
    assert h.runtime.updates[-1][1]["memory"] == {"limit": 64 << 20, "swap": -1}
    assert (await h.service.inspect(created.id)).host.raw["Memory"] == 64 << 20
    h.monitor.exit(created.id, 137)
    for _ in range(100):
        if not (await h.service.inspect(created.id)).state.is_active:
            break
        await asyncio.sleep(0.01)
    assert (await h.service.inspect(created.id)).oom_killed is True
    await h.service.close()

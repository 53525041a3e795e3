"""``update``, ``stats`` and ``system df``: container resources through the API."""

from __future__ import annotations

from typing import Any

import click

from dockyard.cli.create_opts import parse_ram
from dockyard.cli.formatter import tabwrite
from dockyard.cli.lifecycle import for_each
from dockyard.cli.session import Session, session
from dockyard.cli.units import bytes_size, human_size


@click.command("update")
@click.option("-m", "--memory", help="Memory limit")
@click.option("--memory-swap", help="Swap limit equal to memory plus swap: -1 to enable unlimited swap")
@click.option("--memory-reservation", help="Memory soft limit")
@click.option("--cpus", type=float, help="Number of CPUs")
@click.option("-c", "--cpu-shares", type=int, help="CPU shares (relative weight)")
@click.option("--cpu-period", type=int, help="Limit CPU CFS period")
@click.option("--cpu-quota", type=int, help="Limit CPU CFS quota")
@click.option("--cpuset-cpus", help="CPUs in which to allow execution (0-3, 0,1)")
@click.option("--cpuset-mems", help="MEMs in which to allow execution (0-3, 0,1)")
@click.option("--pids-limit", type=int, help="Tune container pids limit (set -1 for unlimited)")
@click.option("--blkio-weight", type=int, help="Block IO (relative weight), between 10 and 1000")
@click.option("--restart", help="Restart policy to apply when a container exits")
@click.argument("containers", nargs=-1, required=True)
def update_command(containers: tuple[str, ...], **opts: Any) -> None:
    """Update configuration of one or more containers."""
    body = update_body(opts)
    for_each(containers, lambda s, c: (s.client.post_json(f"/containers/{c}/update", body=body), c)[1])


def update_body(opts: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for key, field in (("memory", "Memory"), ("memory_reservation", "MemoryReservation")):
        if opts.get(key):
            body[field] = parse_ram(opts[key])
    if opts.get("memory_swap"):
        body["MemorySwap"] = -1 if opts["memory_swap"] == "-1" else parse_ram(opts["memory_swap"])
    if opts.get("cpus"):
        body["NanoCpus"] = round(opts["cpus"] * 1e9)
    for key, field in (("cpu_shares", "CpuShares"), ("cpu_period", "CpuPeriod"),
                       ("cpu_quota", "CpuQuota"), ("cpuset_cpus", "CpusetCpus"),
                       ("cpuset_mems", "CpusetMems"), ("pids_limit", "PidsLimit"),
                       ("blkio_weight", "BlkioWeight")):
        if opts.get(key) is not None:
            body[field] = opts[key]
    if opts.get("restart"):
        name, _, count = opts["restart"].partition(":")
        body["RestartPolicy"] = {"Name": name, "MaximumRetryCount": int(count or 0)}
    return body


def cpu_percent(stats: dict[str, Any]) -> float:
    """docker's calculateCPUPercentUnix: the container's share of the host's CPU time delta."""
    cpu, pre = stats.get("cpu_stats") or {}, stats.get("precpu_stats") or {}
    used = (cpu.get("cpu_usage") or {}).get("total_usage", 0) - (pre.get("cpu_usage") or {}).get(
        "total_usage", 0)
    system = cpu.get("system_cpu_usage", 0) - pre.get("system_cpu_usage", 0)
    cpus = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or []) or 1
    return used / system * cpus * 100.0 if used > 0 and system > 0 else 0.0


def stats_row(stats: dict[str, Any]) -> str:
    memory = stats.get("memory_stats") or {}
    mem_stats = memory.get("stats") or {}
    usage = memory.get("usage", 0) - mem_stats.get("total_inactive_file", mem_stats.get("inactive_file", 0))
    limit = memory.get("limit", 0)
    nets = (stats.get("networks") or {}).values()
    rx, tx = sum(n.get("rx_bytes", 0) for n in nets), sum(n.get("tx_bytes", 0) for n in nets)
    blk = (stats.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []
    read = sum(e["value"] for e in blk if e["op"].lower() == "read")
    write = sum(e["value"] for e in blk if e["op"].lower() == "write")
    mem_pct = usage / limit * 100 if limit else 0.0
    return (f"{stats['id'][:12]}\t{stats['name'].lstrip('/')}\t{cpu_percent(stats):.2f}%\t"
            f"{bytes_size(max(usage, 0))} / {bytes_size(limit)}\t{mem_pct:.2f}%\t"
            f"{human_size(rx, 3)} / {human_size(tx, 3)}\t{human_size(read, 3)} / {human_size(write, 3)}\t"
            f"{(stats.get('pids_stats') or {}).get('current', 0)}")


_STATS_HEADER = "CONTAINER ID\tNAME\tCPU %\tMEM USAGE / LIMIT\tMEM %\tNET I/O\tBLOCK I/O\tPIDS"


@click.command("stats")
@click.option("-a", "--all", "all_", is_flag=True, help="Show all containers (default shows just running)")
@click.option("--no-stream", is_flag=True, help="Disable streaming stats and only pull the first result")
@click.argument("containers", nargs=-1)
def stats_command(all_: bool, no_stream: bool, containers: tuple[str, ...]) -> None:
    """Display a live stream of container(s) resource usage statistics."""
    s = session()
    while True:
        names = list(containers) or [c["Id"] for c in s.client.get_json(
            "/containers/json", {"all": "1" if all_ else "0"})]
        rows = [stats_row(s.client.get_json(f"/containers/{n}/stats", {"stream": "0"}))
                for n in names]
        if not no_stream:
            s.out("\x1b[2J\x1b[H")
        s.out(tabwrite([_STATS_HEADER, *rows]))
        if no_stream:
            return


def _df_rows(s: Session) -> list[str]:
    df = s.client.get_json("/system/df")
    images = df.get("Images") or []
    containers = df.get("Containers") or []
    volumes = df.get("Volumes") or []
    unused = sum(i["Size"] - i.get("SharedSize", 0) for i in images if not i.get("Containers"))
    idle_rw = sum(c.get("SizeRw", 0) for c in containers if c.get("State") != "running")
    idle_vol = sum(v["UsageData"]["Size"] for v in volumes if not v["UsageData"]["RefCount"])

    def row(kind: str, total: int, active: int, size: int, reclaim: int) -> str:
        pct = f" ({reclaim * 100 // size}%)" if size else ""
        return f"{kind}\t{total}\t{active}\t{human_size(size, 3)}\t{human_size(reclaim, 3)}{pct}"

    return [
        "TYPE\tTOTAL\tACTIVE\tSIZE\tRECLAIMABLE",
        row("Images", len(images), sum(1 for i in images if i.get("Containers")),
            df.get("LayersSize", 0), max(unused, 0)),
        row("Containers", len(containers), sum(1 for c in containers if c.get("State") == "running"),
            sum(c.get("SizeRw", 0) for c in containers), idle_rw),
        row("Local Volumes", len(volumes), sum(1 for v in volumes if v["UsageData"]["RefCount"]),
            sum(v["UsageData"]["Size"] for v in volumes), idle_vol),
        row("Build Cache", 0, 0, 0, 0),
    ]


@click.command("df")
def df_command() -> None:
    """Show docker disk usage."""
    s = session()
    s.out(tabwrite(_df_rows(s)))

"""Daemon CPU use with idle containers: dockyardd beside dockerd.

``python bench/stats.py`` starts N idle busybox containers (``sleep``) in each engine, half of them
with a healthcheck every 5 s (``--health-cmd true --health-interval 5s``), lets them settle, then
measures the CPU time (user + system, from /proc/<pid>/stat) the engine's daemon processes use over
a window: dockyardd alone for Dockyard (conmon is per container, like containerd's shims, and not
counted); dockerd + containerd for Docker. Podman has no daemon to measure and is left out.

Defaults match the issue (50 containers, 60 s); ``--containers 4 --seconds 5`` checks the script.
If the daemon does not accept ``--health-cmd`` the run goes on without healthchecks and says so.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run_latency import Engine, _run, dockerd_engine, dockyard_engine  # noqa: E402

from tests.conformance.images import busybox_rootfs_tar  # noqa: E402

_TICK = os.sysconf("SC_CLK_TCK")
HEALTH = ["--health-cmd", "true", "--health-interval", "5s"]


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / _TICK


def start_containers(engine: Engine, count: int) -> tuple[list[str], bool]:
    """Start ``count`` idle containers; half with a healthcheck. Returns (ids, healthchecks on)."""
    ids: list[str] = []
    health = True
    for i in range(count):
        flags = HEALTH if health and i % 2 == 0 else []
        cmd = [*engine.cli, "run", "-d", *engine.run_flags, *flags, "busybox", "sleep", "86400"]
        try:
            ids.append(_run(cmd, engine.env).strip().splitlines()[-1])
        except RuntimeError as exc:
            if not flags:
                raise
            print(f"{engine.name}: healthchecks refused ({exc}); continuing without", file=sys.stderr)
            health = False
            ids.append(_run([*engine.cli, "run", "-d", "busybox", "sleep", "86400"], engine.env).strip())
    return ids, health


def measure(engine: Engine, containers: int, seconds: float, settle: float) -> dict[str, object]:
    ids, health = start_containers(engine, containers)
    try:
        time.sleep(settle)
        pids = engine.daemon_pids()
        before, started = cpu_seconds(pids), time.monotonic()
        time.sleep(seconds)
        used = cpu_seconds(pids) - before
        elapsed = time.monotonic() - started
        return {"engine": engine.name, "containers": len(ids), "healthchecks": health,
                "seconds": round(elapsed, 1), "cpu_seconds": round(used, 2),
                "cpu_percent": round(100 * used / elapsed, 2)}
    finally:
        for start in range(0, len(ids), 20):
            _run([*engine.cli, "rm", "-f", *ids[start:start + 20]], engine.env, timeout=300, check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--containers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--settle", type=float, default=10.0, help="wait after starting (s)")
    parser.add_argument("--no-dockerd", action="store_true")
    args = parser.parse_args()
    results: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        rootfs = Path(tmp) / "busybox.tar"
        rootfs.write_bytes(busybox_rootfs_tar())
        with dockyard_engine(rootfs) as engine:
            results.append(measure(engine, args.containers, args.seconds, args.settle))
        if not args.no_dockerd:
            with dockerd_engine(rootfs, Path(tmp)) as docker_engine:
                if docker_engine is not None:
                    results.append(measure(docker_engine, args.containers, args.seconds, args.settle))
    print(json.dumps(results, indent=1))
    base = results[0]["cpu_seconds"]
    for other in results[1:]:
        if isinstance(base, float) and isinstance(other["cpu_seconds"], float) and other["cpu_seconds"]:
            print(f"dockyardd / {other['engine']} CPU: {base / other['cpu_seconds']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

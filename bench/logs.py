"""Log throughput: a container writing to stdout as fast as it can, dockyardd beside dockerd.

``python bench/logs.py`` runs, for each engine and each driver (json-file, local, syslog to a UDP
sink on 127.0.0.1 that this script reads and discards), ``docker run -d busybox sh -c 'yes <99
x's> | head -c BYTES'`` then ``docker wait``, and reports MB/s (bytes over the time from run to
wait, less the engine's own ``run true`` time), the daemon's CPU seconds over that time (dockyardd;
dockerd + containerd) and its peak RSS (sampled every 0.1 s). Both engines return from ``wait`` only
once the container's output is in the driver, so "delivered" includes the daemon's share;
"container" is the time until the container's process ends (how much the engine slows it).

``--mb 20`` checks the script quickly; the default is 200 MB per run.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run_latency import Engine, _rss_kb, _run, dockerd_engine, dockyard_engine  # noqa: E402
from stats import cpu_seconds  # noqa: E402

from tests.conformance.images import busybox_rootfs_tar  # noqa: E402

LINE = "x" * 99  # 100 bytes a line with its newline


class UdpSink:
    """A syslog receiver that reads and drops what arrives, so the sender never sees refusals."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]
        self.received = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        while not self._stop.is_set():
            try:
                self.received += len(self.sock.recv(65536))
            except TimeoutError:
                continue

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


def _driver_flags(driver: str, sink: UdpSink) -> list[str]:
    if driver == "syslog":
        return ["--log-driver", "syslog", "--log-opt", f"syslog-address=udp://127.0.0.1:{sink.port}"]
    return ["--log-driver", driver]


def _alive(pid: int) -> bool:
    """The container's process still runs (a zombie waiting for its monitor counts as done)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _baseline(engine: Engine) -> float:
    started = time.monotonic()
    _run([*engine.cli, "run", "--rm", "busybox", "true"], engine.env)
    return time.monotonic() - started


def one(engine: Engine, driver: str, megabytes: int, sink: UdpSink, baseline: float) -> dict[str, object]:
    size = megabytes * 1_000_000
    pids = engine.daemon_pids()
    peak = [sum(_rss_kb(p) for p in pids)]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.1):
            peak[0] = max(peak[0], sum(_rss_kb(p) for p in pids))

    sampler = threading.Thread(target=sample, daemon=True)
    cpu_before, started = cpu_seconds(pids), time.monotonic()
    sampler.start()
    cid = _run([*engine.cli, "run", "-d", *_driver_flags(driver, sink), "busybox", "sh", "-c",
                f"yes {LINE} | head -c {size}"], engine.env).strip().splitlines()[-1]
    try:
        pid = json.loads(_run([*engine.cli, "inspect", cid], engine.env))[0]["State"]["Pid"]
        while pid and _alive(pid):
            time.sleep(0.01)
        container_done = time.monotonic() - started
        _run([*engine.cli, "wait", cid], engine.env, timeout=900)
        elapsed = time.monotonic() - started
        cpu = cpu_seconds(pids) - cpu_before
    finally:
        done.set()
        sampler.join()
        _run([*engine.cli, "rm", "-f", cid], engine.env, check=False)
    seconds = max(elapsed - baseline, 1e-3)
    return {"engine": engine.name, "driver": driver, "mb": megabytes, "seconds": round(elapsed, 2),
            "mb_per_s": round(megabytes / seconds, 1),
            "container_mb_per_s": round(megabytes / max(container_done - baseline, 1e-3), 1),
            "daemon_cpu_s": round(cpu, 2),
            "daemon_peak_rss_mb": round(peak[0] / 1024, 1)}


def measure(engine: Engine, drivers: list[str], megabytes: int) -> list[dict[str, object]]:
    sink = UdpSink()
    try:
        baseline = min(_baseline(engine) for _ in range(2))
        return [one(engine, driver, megabytes, sink, baseline) for driver in drivers]
    finally:
        sink.close()


def table(results: list[dict[str, object]]) -> str:
    rows = ["| engine | driver | delivered MB/s | vs dockerd | container MB/s | vs dockerd | daemon CPU s |"
            " daemon peak RSS MB |", "|---|---|---|---|---|---|---|---|"]
    docker = {r["driver"]: r for r in results if r["engine"] == "dockerd"}
    for r in results:
        ref = docker.get(r["driver"])
        ratios = [f"{float(r[k]) / float(ref[k]):.2f}x" if ref else "-"  # type: ignore[arg-type]
                  for k in ("mb_per_s", "container_mb_per_s")]
        rows.append(f"| {r['engine']} | {r['driver']} | {r['mb_per_s']} | {ratios[0]} | "
                    f"{r['container_mb_per_s']} | {ratios[1]} | {r['daemon_cpu_s']} | "
                    f"{r['daemon_peak_rss_mb']} |")
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200, help="megabytes each container writes")
    parser.add_argument("--drivers", default="json-file,local,syslog")
    parser.add_argument("--no-dockerd", action="store_true")
    args = parser.parse_args()
    drivers = args.drivers.split(",")
    results: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        rootfs = Path(tmp) / "busybox.tar"
        rootfs.write_bytes(busybox_rootfs_tar())
        with dockyard_engine(rootfs) as engine:
            results.extend(measure(engine, drivers, args.mb))
        if not args.no_dockerd:
            with dockerd_engine(rootfs, Path(tmp)) as docker_engine:
                if docker_engine is not None:
                    results.extend(measure(docker_engine, drivers, args.mb))
    print(json.dumps(results, indent=1))
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())

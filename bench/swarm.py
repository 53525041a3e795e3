"""Swarm mode on one node: 20 replicas converging, a rolling update of 20 tasks, ``stack rm``.

One command: ``.venv/bin/python bench/swarm.py`` (as root). For dockyardd and for dockerd 20.10
(Debian's docker.io, when installed) — each on its own temporary roots, dockerd with
``--iptables=false`` as the conformance oracle runs it — it times, with the stock docker CLI:

- *converge*: ``service create -d --replicas 20`` until 20 tasks run;
- *update*: ``service update -d --update-parallelism 4 --update-order start-first`` of those 20
  tasks until UpdateStatus says completed and 20 tasks of the new spec run;
- *stack rm*: ``stack rm`` of a 2-service stack of 5 replicas each until no task container is left.

Then ratios dockyard/dockerd (below 1: dockyard is faster). ``--replicas`` scales the figures down
for a quick check. Nothing leaves loopback: no image is resolved on a registry.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "src"))

from conformance.daemon import Daemon  # noqa: E402
from conformance.images import busybox_rootfs_tar  # noqa: E402

STACK = """
version: "3.8"
services:
  a: {image: busybox, command: [sleep, "3600"], stop_grace_period: 1s, deploy: {replicas: %(n)d}}
  b: {image: busybox, command: [sleep, "3600"], stop_grace_period: 1s, deploy: {replicas: %(n)d}}
"""


class SwarmDockerd(Daemon):
    """dockerd on this daemon's temporary roots, as the conformance oracle runs it, but without
    ``--live-restore``: dockerd refuses swarm mode with it."""

    def start(self) -> None:
        argv = ["dockerd", "-H", f"unix://{self.sock}", "--data-root", str(self.data_root),
                "--exec-root", str(self.exec_root), "--pidfile", str(self.root / "dockerd.pid"),
                "--iptables=false", "--ip-masq=false"]
        with open(self.log_path, "ab") as log_file:
            self.proc = subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        _until(lambda: self.proc is not None and (self.proc.poll() is not None or self._ping_ok()), 60)
        if self.proc.poll() is not None:
            raise RuntimeError(f"dockerd exited:\n{self.log_tail()}")


@contextlib.contextmanager
def engine(name: str, rootfs: Path) -> Iterator[Daemon | None]:
    if name == "dockerd" and not Path("/usr/sbin/dockerd").exists():
        yield None
        return
    daemon = SwarmDockerd() if name == "dockerd" else Daemon()
    links_before = set(os.listdir("/sys/class/net"))
    try:
        daemon.start()
        daemon.docker_ok("import", "-c", 'CMD ["sh"]', str(rootfs), "busybox:latest", timeout=120)
        daemon.docker_ok("swarm", "init", "--advertise-addr", "127.0.0.1")
        yield daemon
    finally:
        if daemon.running:
            daemon.docker("swarm", "leave", "--force", timeout=300)
        daemon.cleanup()
        # dockerd's docker0 and docker_gwbridge outlive it: remove the ones this run made.
        for link in set(os.listdir("/sys/class/net")) - links_before:
            if link.startswith("docker"):
                subprocess.run(["ip", "link", "del", link], capture_output=True, timeout=30)


def _until(check: Callable[[], bool], timeout: float = 600.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise RuntimeError("timed out")


def _running(daemon: Daemon, service: str, env: str | None = None) -> int:
    out = daemon.docker_ok("service", "ps", "--filter", "desired-state=running", "--format",
                           "{{.CurrentState}}", service)
    states = [line for line in out.splitlines() if line.startswith("Running")]
    if env is None:
        return len(states)
    tasks = json.loads(daemon.docker_ok("service", "inspect", "--format", "{{json .UpdateStatus}}", service))
    return len(states) if (tasks or {}).get("State") == "completed" else 0


def measure(daemon: Daemon, replicas: int) -> dict[str, float]:
    figures: dict[str, float] = {}
    started = time.perf_counter()
    daemon.docker_ok("service", "create", "-d", "--no-resolve-image", "--name", "bench", "--replicas",
                     str(replicas), "--stop-grace-period", "1s", "busybox", "sleep", "3600")
    _until(lambda: _running(daemon, "bench") == replicas)
    figures["converge_s"] = time.perf_counter() - started
    started = time.perf_counter()
    daemon.docker_ok("service", "update", "-d", "--update-parallelism", "4", "--update-order",
                     "start-first", "--update-monitor", "1s", "--env-add", "V=2", "bench")
    _until(lambda: _running(daemon, "bench", env="V=2") == replicas)
    figures["update_s"] = time.perf_counter() - started
    daemon.docker_ok("service", "rm", "bench")
    compose = daemon.root / "stack.yml"
    compose.write_text(STACK % {"n": max(replicas // 4, 1)})
    daemon.docker_ok("stack", "deploy", "--resolve-image", "never", "-c", str(compose), "st")
    _until(lambda: _running(daemon, "st_a") + _running(daemon, "st_b") == 2 * max(replicas // 4, 1))
    started = time.perf_counter()
    daemon.docker_ok("stack", "rm", "st")
    _until(lambda: not daemon.docker_ok("ps", "-aq", "--filter", "label=com.docker.stack.namespace=st"))
    figures["stack_rm_s"] = time.perf_counter() - started
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=20)
    parser.add_argument("--engines", default="dockyard,dockerd")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("swarm.py needs root (it starts daemons and containers)", file=sys.stderr)
        return 2
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="dybench-") as tmp:
        rootfs = Path(tmp) / "busybox-rootfs.tar"
        rootfs.write_bytes(busybox_rootfs_tar())
        for name in args.engines.split(","):
            with engine(name, rootfs) as daemon:
                if daemon is None:
                    print(f"[{name}] not installed; skipped", file=sys.stderr)
                    continue
                try:
                    results[name] = measure(daemon, args.replicas)
                except (RuntimeError, AssertionError, subprocess.TimeoutExpired) as exc:
                    print(f"[{name}] failed: {exc}", file=sys.stderr)
    print(f"{'engine':10} {'converge s':>11} {'update s':>9} {'stack rm s':>11}")
    for name, fig in results.items():
        print(f"{name:10} {fig['converge_s']:11.2f} {fig['update_s']:9.2f} {fig['stack_rm_s']:11.2f}")
    if {"dockyard", "dockerd"} <= results.keys():
        ours, theirs = results["dockyard"], results["dockerd"]
        print("ratio dockyard/dockerd: " + ", ".join(
            f"{key[:-2]} {ours[key] / theirs[key]:.2f}" for key in ("converge_s", "update_s", "stack_rm_s")))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`docker run --rm busybox true` latency and daemon memory: dockyardd beside dockerd and Podman.

One command: ``.venv/bin/python bench/run_latency.py`` (as root). It starts dockyardd on a temporary
root with busybox imported from /bin/busybox, and dockerd and Podman when they are installed (importing
the same rootfs tar, no network), times the stock docker CLI against each in turn (one run of each
engine, then the next round: the host's speed drifts, and the engines meet the same drift), then
measures each daemon's RSS idle and with ``--containers`` running ``sleep 3600`` containers. Everything
it starts it stops and removes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TypeVar

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.conformance.daemon import DOCKER, Daemon  # noqa: E402
from tests.conformance.images import busybox_rootfs_tar  # noqa: E402

sys.path.insert(0, str(REPO / "bench"))
from start_breakdown import breakdown  # noqa: E402
from start_breakdown import table as breakdown_table  # noqa: E402

DOCKERD_SOCK = Path("/var/run/docker.sock")
T = TypeVar("T")
MONITORS = ("conmon", "containerd-shim-runc-v2", "containerd-shim")


@dataclass
class Engine:
    """One engine under test: how to run its CLI, and which processes make up its daemon."""

    name: str
    cli: list[str]
    env: dict[str, str]
    daemon_pids: Callable[[], list[int]] = field(default=lambda: [])
    run_flags: list[str] = field(default_factory=list)  # extra `run` flags this engine needs here
    trace: Path | None = None  # dockyardd's spans (bench/start_breakdown.py)


@dataclass
class Result:
    engine: str
    runs: int
    median_s: float
    p90_s: float
    rss_idle_mb: float | None = None
    rss_loaded_mb: float | None = None
    monitors_mb: float | None = None
    containers: int = 0
    breakdown: list[tuple[str, float, int]] = field(default_factory=list)


# ---- processes and memory ----
def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _pids_named(*names: str) -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _comm(int(p.name)) in names]


def _mb(pids: list[int]) -> float:
    return round(sum(_rss_kb(p) for p in pids) / 1024, 1)


def _run(cmd: list[str], env: dict[str, str], timeout: float = 120, check: bool = True) -> str:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout


# ---- engines ----
@contextmanager
def dockyard_engine(rootfs: Path) -> Iterator[Engine]:
    daemon = Daemon()
    # The daemon writes its start path's spans there (src/dockyard/core/trace.py) for the breakdown.
    os.environ["DOCKYARD_TRACE"] = str(daemon.root / "trace.jsonl")
    try:
        daemon.start()
        os.environ.pop("DOCKYARD_TRACE")
        daemon.docker_ok("import", "-c", 'CMD ["sh"]', str(rootfs), "busybox:latest", timeout=120)
        assert daemon.proc is not None
        pid = daemon.proc.pid
        yield Engine("dockyard", [DOCKER], daemon.env(), lambda: [pid], trace=daemon.root / "trace.jsonl")
    finally:
        daemon.cleanup()


def _dockerd_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env["DOCKER_HOST"] = f"unix://{DOCKERD_SOCK}"
    return env


def _dockerd_answers(env: dict[str, str]) -> bool:
    try:
        return subprocess.run([DOCKER, "version"], env=env, capture_output=True, timeout=10).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def _iptables_save() -> str | None:
    if shutil.which("iptables-save") is None:
        return None
    proc = subprocess.run(["iptables-save"], capture_output=True, text=True, timeout=30)
    return proc.stdout if proc.returncode == 0 else None


def _restore_host(firewall: str | None) -> None:
    if firewall is not None:
        subprocess.run(["iptables-restore"], input=firewall, text=True, capture_output=True, timeout=30)
    if not Path("/sys/class/net/docker0").exists():
        return
    subprocess.run(["ip", "link", "del", "docker0"], capture_output=True, timeout=30)


@contextmanager
def dockerd_engine(rootfs: Path, workdir: Path, extra_args: Sequence[str] = ()) -> Iterator[Engine | None]:
    """dockerd if installed: reuse a running one, else start it (with ``extra_args``) and stop it
    (and its containerd) after."""
    env = _dockerd_env()
    started: subprocess.Popen[bytes] | None = None
    firewall: str | None = None
    if not _dockerd_answers(env):
        dockerd = shutil.which("dockerd")
        if dockerd is None:
            yield None
            return
        # dockerd sets the FORWARD policy to DROP and adds its chains; put the host back after.
        firewall = _iptables_save()
        # Its own socket and roots in the work directory (unless the caller chose them), so the
        # host's /var/lib/docker and /var/run/docker.sock are never touched.
        own = [] if any(a.startswith(("-H", "--host")) for a in extra_args) else [
            "-H", f"unix://{workdir}/dockerd.sock", "--data-root", str(workdir / "dockerd-root"),
            "--exec-root", str(workdir / "dockerd-exec"), "--pidfile", str(workdir / "dockerd.pid")]
        if own:
            env["DOCKER_HOST"] = f"unix://{workdir}/dockerd.sock"
        with open(workdir / "dockerd.log", "wb") as log:
            started = subprocess.Popen([dockerd, *own, *extra_args], stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        deadline = time.monotonic() + 60
        while not _dockerd_answers(env) and time.monotonic() < deadline and started.poll() is None:
            time.sleep(0.2)
    try:
        if not _dockerd_answers(env):
            print("dockerd did not start; skipping it", file=sys.stderr)
            yield None
            return
        if subprocess.run([DOCKER, "image", "inspect", "busybox:latest"], env=env, capture_output=True,
                          timeout=30).returncode != 0:
            _run([DOCKER, "import", "-c", 'CMD ["sh"]', str(rootfs), "busybox:latest"], env)
        yield Engine("dockerd", [DOCKER], env, lambda: _pids_named("dockerd", "containerd"))
    finally:
        if started is not None:
            started.terminate()
            try:
                started.wait(30)
            except subprocess.TimeoutExpired:
                started.kill()
            _restore_host(firewall)


@contextmanager
def podman_engine(rootfs: Path) -> Iterator[Engine | None]:
    podman = shutil.which("podman")
    if podman is None:
        yield None
        return
    # crun refuses this hybrid-cgroup host; runc works (ARCHITECTURE.md, "Facts").
    cli = [podman, "--runtime", "runc"]
    env = dict(os.environ)
    exists = subprocess.run([*cli, "image", "exists", "busybox:latest"], capture_output=True, timeout=30)
    if exists.returncode != 0:
        _run([*cli, "import", "-c", 'CMD ["sh"]', str(rootfs), "busybox:latest"], env)
    # Podman's default rlimits (nofile 1048576, nproc) exceed what runc may set on this host (EPERM).
    flags = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"]
    yield Engine("podman", cli, env, run_flags=flags)


# ---- measurements ----
def time_runs(engine: Engine, runs: int, warmup: int = 2) -> list[float]:
    argv = [*engine.cli, "run", *engine.run_flags, "--rm", "busybox", "true"]
    for _ in range(warmup):
        _run(argv, engine.env)
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        _run(argv, engine.env)
        samples.append(time.perf_counter() - started)
    return samples


def measure_memory(engine: Engine, result: Result, containers: int) -> None:
    """Daemon RSS idle and with ``containers`` sleeping containers, plus their monitors' RSS."""
    result.rss_idle_mb = _mb(engine.daemon_pids()) if engine.daemon_pids() else None
    monitors_before = set(_pids_named(*MONITORS))
    ids: list[str] = []
    try:
        for _ in range(containers):
            out = _run([*engine.cli, "run", *engine.run_flags, "-d", "busybox", "sleep", "3600"], engine.env)
            ids.append(out.strip().splitlines()[-1])
        time.sleep(2)  # let the daemon settle after the burst before reading RSS
        result.containers = len(ids)
        result.rss_loaded_mb = _mb(engine.daemon_pids()) if engine.daemon_pids() else None
        result.monitors_mb = _mb([p for p in _pids_named(*MONITORS) if p not in monitors_before])
    finally:
        for start in range(0, len(ids), 25):
            _run([*engine.cli, "rm", "-f", *ids[start:start + 25]], engine.env, timeout=300, check=False)


def time_runs_interleaved(engines: Sequence[Engine], runs: int, warmup: int = 2) -> dict[str, list[float]]:
    """``time_runs`` of every engine at once, one run of each in turn: the host's speed drifts by
    tens of percent over minutes here (a shared VM), and a ratio of runs made minutes apart
    measures the drift as much as the engines."""
    argvs = {e.name: [*e.cli, "run", *e.run_flags, "--rm", "busybox", "true"] for e in engines}
    for engine in engines:
        for _ in range(warmup):
            _run(argvs[engine.name], engine.env)
    samples: dict[str, list[float]] = {e.name: [] for e in engines}
    for _ in range(runs):
        for engine in engines:
            started = time.perf_counter()
            _run(argvs[engine.name], engine.env)
            samples[engine.name].append(time.perf_counter() - started)
    return samples


def bench(engine: Engine, runs: int, containers: int, samples: list[float] | None = None) -> Result:
    """Time ``runs`` runs (unless ``samples`` are given: timed already) and measure memory."""
    if samples is None:
        print(f"[{engine.name}] {runs} x run --rm busybox true", file=sys.stderr)
        samples = time_runs(engine, runs)
    result = Result(engine.name, len(samples), round(statistics.median(samples), 3),
                    round(statistics.quantiles(samples, n=10)[-1], 3))
    if engine.trace is not None and engine.trace.exists():
        result.breakdown = breakdown(engine.trace, skip=2)  # the warm-up runs left out
    if containers:
        measure_memory(engine, result, containers)
    return result


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def table(results: list[Result]) -> str:
    base = next((r.median_s for r in results if r.engine == "dockerd"), None)
    head = ("engine", "median s", "p90 s", "vs dockerd", "daemon RSS idle MB",
            "daemon RSS loaded MB", "monitors MB", "containers")
    rows = [head]
    for r in results:
        ratio = f"{r.median_s / base:.2f}x" if base else "-"
        rows.append((r.engine, _fmt(r.median_s), _fmt(r.p90_s), ratio, _fmt(r.rss_idle_mb, 1),
                     _fmt(r.rss_loaded_mb, 1), _fmt(r.monitors_mb, 1), str(r.containers)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |"
             for row in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def each_engine(wanted: set[str], workdir: Path) -> Iterator[Engine]:
    """Every wanted engine that is installed, one at a time, each with busybox imported from the
    same rootfs tar; each is stopped and cleaned before the next starts."""
    rootfs = workdir / "busybox-rootfs.tar"
    rootfs.write_bytes(busybox_rootfs_tar())
    factories = {"dockyard": lambda: dockyard_engine(rootfs),
                 "dockerd": lambda: dockerd_engine(rootfs, workdir),
                 "podman": lambda: podman_engine(rootfs)}
    for name, factory in factories.items():
        if name not in wanted:
            continue
        with factory() as engine:
            if engine is None:
                print(f"[{name}] not installed; skipped", file=sys.stderr)
                continue
            yield engine


@contextmanager
def every_engine(wanted: set[str], workdir: Path) -> Iterator[list[Engine]]:
    """Every wanted engine that is installed, all running at once (see each_engine)."""
    rootfs = workdir / "busybox-rootfs.tar"
    rootfs.write_bytes(busybox_rootfs_tar())
    factories = {"dockyard": lambda: dockyard_engine(rootfs),
                 "dockerd": lambda: dockerd_engine(rootfs, workdir),
                 "podman": lambda: podman_engine(rootfs)}
    with ExitStack() as stack:
        engines = []
        for name, factory in factories.items():
            if name not in wanted:
                continue
            engine = stack.enter_context(factory())
            if engine is None:
                print(f"[{name}] not installed; skipped", file=sys.stderr)
                continue
            engines.append(engine)
        yield engines


def as_root(script: str) -> bool:
    """Whether the bench runs as root (every one starts daemons and containers); says so if not."""
    if os.geteuid() == 0:
        return True
    print(f"{script} needs root (it starts daemons and containers)", file=sys.stderr)
    return False


def measure_each(engines: str, workdir: Path, measure: Callable[[Engine], T]) -> list[T]:
    """``measure`` on each wanted engine (``engines``: comma-separated) that is installed, one at a
    time (see each_engine); an engine whose measure fails is reported and left out."""
    results: list[T] = []
    for engine in each_engine(set(engines.split(",")), workdir):
        try:
            results.append(measure(engine))
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            print(f"[{engine.name}] failed: {exc}", file=sys.stderr)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="timed runs per engine (default 20)")
    parser.add_argument("--containers", type=int, default=50, help="running containers for RSS (0: skip)")
    parser.add_argument("--engines", default="dockyard,dockerd,podman", help="comma-separated subset")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument("--network", help="pass --network to every run (e.g. none: no bridge setup)")
    args = parser.parse_args()
    if not as_root("run_latency.py"):
        return 2

    with tempfile.TemporaryDirectory(prefix="dybench-") as tmp, \
            every_engine(set(args.engines.split(",")), Path(tmp)) as engines:
        for engine in engines:
            if args.network:
                engine.run_flags += ["--network", args.network]
        names = ", ".join(e.name for e in engines)
        print(f"[{names}] {args.runs} x run --rm busybox true each, in turn", file=sys.stderr)
        samples = time_runs_interleaved(engines, args.runs)
        results = []
        for engine in engines:
            if args.containers:
                print(f"[{engine.name}] RSS with {args.containers} running containers", file=sys.stderr)
            results.append(bench(engine, args.runs, args.containers, samples[engine.name]))
    print(table(results))
    for result in results:
        if result.breakdown:
            print(f"\n{result.engine}: per-step breakdown of its `run --rm` (median ms per container)\n")
            print(breakdown_table(result.breakdown))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

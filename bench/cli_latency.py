"""Start-up cost of our ``dockyard`` CLI beside the stock docker CLI, against the same dockyardd.

One command: ``.venv/bin/python bench/cli_latency.py [--runs 20]`` (as root). It starts dockyardd on
a temporary root with busybox, then times ``--version``, ``ps``, ``images``, ``inspect`` and ``run --rm``
for each CLI and prints
the medians, p90s and the ratio dockyard/docker. Everything it starts it stops and removes.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.conformance.daemon import DOCKER, Daemon  # noqa: E402
from tests.conformance.fixtures import put_busybox  # noqa: E402
from tests.conformance.images import busybox_rootfs_tar  # noqa: E402

DOCKYARD = [str(REPO / ".venv" / "bin" / "dockyard")]
COMMANDS = (["--version"], ["ps"], ["images"], ["inspect", "busybox"], ["run", "--rm", "busybox", "true"])


def _time(argv: list[str], env: dict[str, str], runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, env=env, capture_output=True, check=True, timeout=60)
        samples.append(time.perf_counter() - started)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.9) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    daemon = Daemon()
    daemon.start()
    try:
        rootfs = daemon.root / "rootfs.tar"
        rootfs.write_bytes(busybox_rootfs_tar())
        put_busybox(daemon, rootfs)
        env = daemon.env()
        print(f"{'command':<26} {'dockyard med':>13} {'p90':>7} {'docker med':>11} {'p90':>7} {'ratio':>6}")
        for command in COMMANDS:
            ours = _time([*DOCKYARD, *command], env, args.runs)
            theirs = _time([DOCKER, *command], env, args.runs)
            print(f"{' '.join(command):<26} {ours[0]:>12.3f}s {ours[1]:>6.3f}s {theirs[0]:>10.3f}s "
                  f"{theirs[1]:>6.3f}s {ours[0] / theirs[0]:>5.2f}x")
    finally:
        daemon.cleanup()


if __name__ == "__main__":
    main()

"""Network cost of a container: start on a user network with one published port, reach it, remove.

One command: ``.venv/bin/python bench/network.py`` (as root). For dockyardd, dockerd and Podman
(those installed; engines are started and stopped as in ``run_latency.py``) it times, per run:

- *start+reach*: ``run -d --network benchnet -p 127.0.0.1:PORT:8080 busybox httpd`` until an HTTP
  GET on 127.0.0.1:PORT answers;
- *remove*: ``rm -f`` of that container;
- the same start (until running) and remove with ``--network none``, so that the difference is what
  the network adds to a container's start and removal together (Dockyard's target: under 60 ms).

It also times Dockyard's own endpoint setup and teardown in process (sandbox, veth, address, route,
nft elements, port reservation, resolver), without the CLI, the API or the runtime.
Every request goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "src"))

from run_latency import Engine, _run, each_engine  # noqa: E402

NETWORK = "benchnet"


@dataclass
class Figures:
    engine: str
    start_reach_ms: float
    remove_ms: float
    start_none_ms: float
    remove_none_ms: float

    @property
    def network_ms(self) -> float:
        return (self.start_reach_ms + self.remove_ms) - (self.start_none_ms + self.remove_none_ms)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _reach(port: int, deadline: float = 10.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/hostname", timeout=1) as reply:
                reply.read()
                return
        except OSError:
            time.sleep(0.002)
    raise RuntimeError(f"127.0.0.1:{port} did not answer")


def _one(engine: Engine, network: str) -> tuple[float, float]:
    port = _free_port()
    publish = ["-p", f"127.0.0.1:{port}:8080"] if network != "none" else []
    argv = [*engine.cli, "run", *engine.run_flags, "-d", "--network", network, *publish,
            "busybox", "httpd", "-f", "-p", "8080", "-h", "/etc"]
    started = time.perf_counter()
    cid = _run(argv, engine.env).strip().splitlines()[-1]
    if publish:
        _reach(port)
    up = time.perf_counter() - started
    started = time.perf_counter()
    _run([*engine.cli, "rm", "-f", cid], engine.env)
    return up, time.perf_counter() - started


def bench(engine: Engine, runs: int) -> Figures:
    _run([*engine.cli, "network", "create", NETWORK], engine.env, check=False)
    try:
        samples: dict[str, list[tuple[float, float]]] = {NETWORK: [], "none": []}
        for network in (NETWORK, "none"):
            _one(engine, network)  # warm-up
            for _ in range(runs):
                samples[network].append(_one(engine, network))
    finally:
        _run([*engine.cli, "network", "rm", NETWORK], engine.env, check=False)

    def median(network: str, index: int) -> float:
        return statistics.median(s[index] for s in samples[network]) * 1000

    return Figures(engine.name, median(NETWORK, 0), median(NETWORK, 1), median("none", 0),
                   median("none", 1))


async def _endpoint_times(runs: int, root: Path) -> tuple[float, float]:
    """Median ms of NetworkService.join / leave for one endpoint with one published port."""
    from dockyard.config import DaemonConfig
    from dockyard.core.metadata import Metadata
    from dockyard.core.networks.model import EndpointRequest, PortBinding
    from dockyard.core.networks.service import NetworkCreate
    from dockyard.daemon import build_networks

    config = DaemonConfig(data_root=root / "data", exec_root=root / "exec")
    service = build_networks(config, Metadata(config.db_path))
    await service.open()
    setup, teardown = [], []
    try:
        await service.create(NetworkCreate(name=NETWORK))
        for index in range(runs + 1):
            key = f"{index:064x}"
            started = time.perf_counter()
            await service.join(key, f"bench{index}", [EndpointRequest(NETWORK)],
                               [PortBinding(container_port=8080, host_ip="127.0.0.1")])
            joined = time.perf_counter()
            await service.leave(key)
            if index:  # the first one warms up
                setup.append(joined - started)
                teardown.append(time.perf_counter() - joined)
        await service.remove(NETWORK)
    finally:
        await service.close()
    return statistics.median(setup) * 1000, statistics.median(teardown) * 1000


def table(results: list[Figures], reference: Figures | None) -> str:
    lines = [f"{'engine':<10} {'start+reach ms':>15} {'remove ms':>10} {'none start ms':>14} "
             f"{'none rm ms':>11} {'network adds ms':>16} {'ratio vs dockyard':>18}"]
    for r in results:
        total = r.start_reach_ms + r.remove_ms
        ratio = total / (reference.start_reach_ms + reference.remove_ms) if reference else float("nan")
        lines.append(f"{r.engine:<10} {r.start_reach_ms:>15.1f} {r.remove_ms:>10.1f} "
                     f"{r.start_none_ms:>14.1f} {r.remove_none_ms:>11.1f} {r.network_ms:>16.1f} "
                     f"{ratio:>18.2f}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="timed runs per engine and mode")
    parser.add_argument("--engines", default="dockyard,dockerd,podman", help="comma-separated subset")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("network.py needs root (it starts daemons, bridges and containers)", file=sys.stderr)
        return 2
    wanted = set(args.engines.split(","))
    results: list[Figures] = []
    with tempfile.TemporaryDirectory(prefix="dynetbench-") as tmp:
        workdir = Path(tmp)
        for engine in each_engine(wanted, workdir):
            try:
                results.append(bench(engine, args.runs))
            except RuntimeError as exc:
                print(f"[{engine.name}] failed: {exc}", file=sys.stderr)
        setup_ms, teardown_ms = asyncio.run(_endpoint_times(args.runs, workdir / "endpoints"))
    reference = next((r for r in results if r.engine == "dockyard"), None)
    print(table(results, reference))
    print(f"\ndockyard endpoint in process: setup {setup_ms:.1f} ms, teardown {teardown_ms:.1f} ms "
          f"(median of {args.runs})")
    if reference is not None:
        verdict = "met" if reference.network_ms < 60 else "NOT met"
        print(f"target (network adds < 60 ms to start + removal): {verdict} "
              f"({reference.network_ms:.1f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

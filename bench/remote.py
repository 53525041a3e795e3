"""Remote transports and the cost of a ``/metrics`` scrape: dockyardd beside dockerd.

One command: ``.venv/bin/python bench/remote.py`` (as root). For each engine it times the stock
docker CLI's ``docker ps`` and ``docker run --rm busybox true`` over the UNIX socket, over tcp with
mutual TLS (certificates made with openssl on the spot) and over ``ssh://`` (a private sshd on
127.0.0.1 whose far-side ``docker system dial-stdio`` reaches the engine's socket), then, for
dockyardd, the time and size of one ``/metrics`` scrape with ``--containers`` containers running.
dockerd is started by the script with the same TLS flags when it is installed and not already
running (a running one is measured over unix and ssh only). Everything started is stopped.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(REPO / "bench")]

from run_latency import _dockerd_answers, _dockerd_env, dockerd_engine  # noqa: E402

from tests.conformance.daemon import DOCKER, Daemon  # noqa: E402
from tests.conformance.images import busybox_rootfs_tar  # noqa: E402
from tests.remote.certs import Certs, make_certs  # noqa: E402
from tests.remote.sshd import Sshd, free_port  # noqa: E402


@dataclass
class Target:
    engine: str
    socket: str  # unix://…
    tcp: str | None  # tcp://127.0.0.1:PORT with mutual TLS, when available


@dataclass
class Row:
    engine: str
    transport: str
    command: str
    median_s: float
    runs: int


def _tls_flags(certs: Certs, tcp: str) -> list[str]:
    client = certs.client_dir
    return ["--tlsverify", "--tlscacert", str(client / "ca.pem"), "--tlscert", str(client / "cert.pem"),
            "--tlskey", str(client / "key.pem"), "-H", tcp]


def _server_tls(certs: Certs) -> list[str]:
    return ["--tlsverify", "--tlscacert", str(certs.ca), "--tlscert", str(certs.server_cert),
            "--tlskey", str(certs.server_key)]


def _time(argv: list[str], env: dict[str, str], runs: int) -> float:
    subprocess.run(argv, env=env, capture_output=True, timeout=120, check=True)  # warm-up
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, env=env, capture_output=True, timeout=120, check=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


@contextmanager
def dockyard_target(rootfs: Path, certs: Certs, metrics_port: int) -> Iterator[tuple[Target, Daemon]]:
    tcp = f"tcp://127.0.0.1:{free_port()}"
    daemon = Daemon()
    daemon.extra_args = ["-H", tcp, *_server_tls(certs), "--metrics-addr", f"127.0.0.1:{metrics_port}"]
    try:
        daemon.start()
        daemon.docker_ok("import", "-c", 'CMD ["sh"]', str(rootfs), "busybox:latest", timeout=120)
        yield Target("dockyard", daemon.host, tcp), daemon
    finally:
        daemon.cleanup()


@contextmanager
def dockerd_target(rootfs: Path, certs: Certs, workdir: Path) -> Iterator[Target | None]:
    """dockerd through run_latency's helper; TLS only when this script starts it."""
    already = _dockerd_answers(_dockerd_env())
    tcp = f"tcp://127.0.0.1:{free_port()}"
    flags = ["-H", "unix:///var/run/docker.sock", "-H", tcp, *_server_tls(certs)]
    with dockerd_engine(rootfs, workdir, flags) as engine:
        yield None if engine is None else Target("dockerd", engine.env["DOCKER_HOST"],
                                                 None if already else tcp)


def bench_target(target: Target, certs: Certs, workdir: Path, runs: int) -> list[Row]:
    base = {k: v for k, v in _dockerd_env().items() if k != "DOCKER_HOST"}
    base["DOCKER_CONFIG"] = str(workdir / "cli")
    sshd = Sshd(workdir / f"sshd-{target.engine}", target.socket)
    sshd.start()
    try:
        transports: dict[str, tuple[list[str], dict[str, str]]] = {
            "unix": (["-H", target.socket], base), "ssh": (["-H", "ssh://dyhost"], sshd.env(base))}
        if target.tcp:
            transports["tcp+tls"] = (_tls_flags(certs, target.tcp), base)
        rows = []
        for transport, (flags, env) in transports.items():
            for command in (["ps"], ["run", "--rm", "busybox", "true"]):
                median = _time([DOCKER, *flags, *command], env, runs)
                rows.append(Row(target.engine, transport, " ".join(command), median, runs))
        return rows
    finally:
        sshd.stop()


def scrape_cost(daemon: Daemon, metrics_port: int, containers: int, runs: int) -> dict[str, float]:
    names = [f"bench-metrics-{i}" for i in range(containers)]
    for name in names:
        daemon.docker_ok("run", "-d", "--name", name, "busybox", "sleep", "3600")
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    samples, size = [], 0
    for _ in range(runs + 1):
        start = time.perf_counter()
        with urllib.request.urlopen(url, timeout=60) as response:
            size = len(response.read())
        samples.append(time.perf_counter() - start)
    for name in names:
        daemon.docker("rm", "-f", name)
    return {"containers": containers, "median_s": statistics.median(samples[1:]), "bytes": size}


def table(rows: list[Row]) -> str:
    docker = {(r.transport, r.command): r.median_s for r in rows if r.engine == "dockerd"}
    lines = [f"{'engine':<9} {'transport':<9} {'command':<28} {'median s':>9} {'vs dockerd':>10}"]
    for r in rows:
        ratio = docker.get((r.transport, r.command))
        shown = f"{r.median_s / ratio:.2f}x" if ratio else "-"
        lines.append(f"{r.engine:<9} {r.transport:<9} {r.command:<28} {r.median_s:>9.3f} {shown:>10}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--containers", type=int, default=50)
    parser.add_argument("--engines", default="dockyard,dockerd")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    wanted = set(args.engines.split(","))
    with tempfile.TemporaryDirectory(prefix="bench-remote-") as tmp:
        workdir = Path(tmp)
        rootfs = workdir / "rootfs.tar"
        rootfs.write_bytes(busybox_rootfs_tar())
        certs = make_certs(workdir / "certs")
        rows: list[Row] = []
        scrape: dict[str, float] = {}
        if "dockyard" in wanted:
            port = free_port()
            with dockyard_target(rootfs, certs, port) as (target, daemon):
                rows += bench_target(target, certs, workdir, args.runs)
                scrape = scrape_cost(daemon, port, args.containers, args.runs)
        if "dockerd" in wanted:
            with dockerd_target(rootfs, certs, workdir) as found:
                if found is None:
                    print("dockerd not available; skipped", file=sys.stderr)
                else:
                    rows += bench_target(found, certs, workdir, args.runs)
    print(table(rows))
    if scrape:
        print(f"/metrics scrape with {scrape['containers']:.0f} running containers: "
              f"{scrape['median_s'] * 1000:.1f} ms median, {scrape['bytes']:.0f} bytes")
    if args.json:
        args.json.write_text(json.dumps({"rows": [asdict(r) for r in rows], "scrape": scrape}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

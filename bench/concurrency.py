"""100 concurrent API clients against dockyardd and dockerd: throughput, latency, errors, leaks.

One command: ``.venv/bin/python bench/concurrency.py`` (as root). For each engine, on its own
temporary roots (dockerd as the conformance oracle runs it: ``--iptables=false``), with busybox
imported from the same rootfs tar: ``--clients`` API clients each create, start, wait for and
remove ``--per-client`` containers (every fourth one publishing a port on 127.0.0.1), while
``--events`` clients stream ``/events``, ``--stats`` stream stats of running containers and one
client polls ``GET /containers/json``. Reported: lifecycles per second, p50/p99 of create and of
the list under load, errors, and what is left afterwards (containers, mounts, network namespaces,
veths on the engine's bridge), with dockyard/dockerd ratios. Everything it starts it removes.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.conformance.daemon import Daemon  # noqa: E402
from tests.conformance.images import busybox_rootfs_tar  # noqa: E402

API = "/v1.41"  # dockerd 20.10's newest; ours serves it too


@dataclass
class Result:
    engine: str
    lifecycles: int = 0
    seconds: float = 0.0
    create_ms: list[float] = field(default_factory=list)
    list_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    leaks: dict[str, int] = field(default_factory=dict)

    @property
    def per_second(self) -> float:
        return self.lifecycles / self.seconds if self.seconds else 0.0

    def summary(self) -> dict[str, Any]:
        return {"engine": self.engine, "lifecycles": self.lifecycles, "seconds": round(self.seconds, 2),
                "lifecycles_per_s": round(self.per_second, 2), "errors": len(self.errors),
                "create_p50_ms": _pct(self.create_ms, .5), "create_p99_ms": _pct(self.create_ms, .99),
                "list_p50_ms": _pct(self.list_ms, .5), "list_p99_ms": _pct(self.list_ms, .99),
                "leaks": self.leaks}


def _pct(samples: list[float], q: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# ---- engines ----
@contextmanager
def engine(name: str, rootfs: Path) -> Iterator[Daemon]:
    """A daemon on temporary roots; DYC_ORACLE makes the conformance Daemon run dockerd instead."""
    previous = os.environ.pop("DYC_ORACLE", None)
    if name == "dockerd":
        os.environ["DYC_ORACLE"] = "dockerd"
    try:
        daemon = Daemon()
        daemon.start()
    finally:
        os.environ.pop("DYC_ORACLE", None)
        if previous is not None:
            os.environ["DYC_ORACLE"] = previous
    try:
        daemon.docker_ok("import", "-c", 'CMD ["sh"]', str(rootfs), "busybox:latest", timeout=120)
        yield daemon
    finally:
        daemon.cleanup()
        if name == "dockerd":
            subprocess.run(["ip", "link", "del", "docker0"], capture_output=True, timeout=30)


def _bridge(daemon: Daemon, name: str) -> str:
    if name == "dockerd":
        return "docker0"
    # daemon.py names the default bridge of a non-default data root after a hash of it.
    return "dy0-" + hashlib.sha256(str(daemon.data_root).encode()).hexdigest()[:8]


def holdings(daemon: Daemon, name: str) -> dict[str, set[str]]:
    roots = (str(daemon.data_root), str(daemon.exec_root))
    mounts = {line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()
              if line.split()[4].startswith(roots)}
    netns_dir = daemon.exec_root / "netns"
    links = subprocess.run(["ip", "-o", "link", "show", "master", _bridge(daemon, name)],
                           capture_output=True, text=True, timeout=30).stdout
    return {"containers": set(daemon.docker_ok("ps", "-a", "-q", "--no-trunc").split()),
            "mounts": mounts,
            "netns": {p.name for p in netns_dir.iterdir()} if netns_dir.is_dir() else set(),
            "veths": {line.split(":")[1].strip().split("@")[0] for line in links.splitlines()}}


# ---- the load ----
async def _call(session: aiohttp.ClientSession, method: str, path: str, want: int,
                body: Any = None) -> tuple[float, str]:
    started = time.perf_counter()
    async with session.request(method, f"http://engine{API}{path}", json=body) as resp:
        text = await resp.text()
        if resp.status != want:
            raise RuntimeError(f"{method} {path}: {resp.status} {text.strip()[:200]}")
    return (time.perf_counter() - started) * 1000, text


async def _client(session: aiohttp.ClientSession, index: int, per_client: int, result: Result) -> None:
    for n in range(per_client):
        body: dict[str, Any] = {"Image": "busybox", "Cmd": ["true"]}
        if (index + n) % 4 == 0:
            body["ExposedPorts"] = {"80/tcp": {}}
            body["HostConfig"] = {"PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}}
        try:
            elapsed, text = await _call(session, "POST", "/containers/create", 201, body)
            result.create_ms.append(elapsed)
            cid = json.loads(text)["Id"]
            await _call(session, "POST", f"/containers/{cid}/start", 204)
            await _call(session, "POST", f"/containers/{cid}/wait", 200)
            await _call(session, "DELETE", f"/containers/{cid}", 204)
            result.lifecycles += 1
        except (RuntimeError, aiohttp.ClientError, TimeoutError) as exc:
            result.errors.append(str(exc))


async def _stream(session: aiohttp.ClientSession, path: str, stop: asyncio.Event) -> None:
    async with session.get(f"http://engine{API}{path}", timeout=aiohttp.ClientTimeout(total=None)) as resp:
        while not stop.is_set():
            try:
                if not await asyncio.wait_for(resp.content.readline(), 0.5):
                    return
            except TimeoutError:
                continue


async def _lister(session: aiohttp.ClientSession, stop: asyncio.Event, result: Result) -> None:
    while not stop.is_set():
        elapsed, _ = await _call(session, "GET", "/containers/json?all=1", 200)
        result.list_ms.append(elapsed)


async def load(daemon: Daemon, name: str, args: argparse.Namespace, sleepers: list[str]) -> Result:
    result = Result(name)
    connector = aiohttp.UnixConnector(path=str(daemon.sock), limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        stop = asyncio.Event()
        background = [asyncio.create_task(_stream(session, "/events", stop)) for _ in range(args.events)]
        background += [asyncio.create_task(_stream(session, f"/containers/{cid}/stats", stop))
                       for cid in sleepers]
        background.append(asyncio.create_task(_lister(session, stop, result)))
        await asyncio.sleep(0.5)
        started = time.monotonic()
        await asyncio.gather(*(_client(session, i, args.per_client, result) for i in range(args.clients)))
        result.seconds = time.monotonic() - started
        stop.set()
        await asyncio.gather(*background, return_exceptions=True)
    return result


def run_engine(name: str, rootfs: Path, args: argparse.Namespace) -> Result:
    with engine(name, rootfs) as daemon:
        sleepers = [daemon.docker_ok("run", "-d", "busybox", "sleep", "3600").strip()
                    for _ in range(args.stats)]
        daemon.docker_ok("run", "--rm", "-p", "127.0.0.1::80", "busybox", "true")  # warm: bridge, caches
        before = holdings(daemon, name)
        result = asyncio.run(load(daemon, name, args, sleepers))
        deadline = time.monotonic() + 20
        while True:
            after = holdings(daemon, name)
            result.leaks = {k: len(after[k] - before[k]) for k in after if after[k] - before[k]}
            if not result.leaks or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        return result


def table(results: list[Result]) -> str:
    base = next((r for r in results if r.engine == "dockerd"), None)
    head = ("| engine | lifecycles/s | create p50 / p99 ms | list under load p50 / p99 ms | errors | leaked |"
            " vs dockerd (lifecycles/s, create p50, list p50) |")
    lines = [head, "|" + "---|" * 7]
    for r in results:
        ratio = "-"
        if base is not None and base.per_second:
            create = _pct(r.create_ms, .5) / _pct(base.create_ms, .5)
            listing = _pct(r.list_ms, .5) / _pct(base.list_ms, .5)
            ratio = f"{r.per_second / base.per_second:.2f}x / {create:.2f}x / {listing:.2f}x"
        leaked = ", ".join(f"{k} {v}" for k, v in r.leaks.items()) or "none"
        lines.append(f"| {r.engine} | {r.per_second:.1f}"
                     f" | {_pct(r.create_ms, .5):.0f} / {_pct(r.create_ms, .99):.0f}"
                     f" | {_pct(r.list_ms, .5):.1f} / {_pct(r.list_ms, .99):.1f} | {len(r.errors)} | {leaked}"
                     f" | {ratio} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100, help="concurrent API clients (default 100)")
    parser.add_argument("--per-client", type=int, default=1, help="lifecycles per client (default 1)")
    parser.add_argument("--events", type=int, default=20, help="clients streaming /events (default 20)")
    parser.add_argument("--stats", type=int, default=10, help="clients streaming stats (default 10)")
    parser.add_argument("--engines", default="dockyard,dockerd", help="comma-separated subset")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("concurrency.py needs root (it starts daemons and containers)", file=sys.stderr)
        return 2
    rootfs = Path(tempfile.mkdtemp(prefix="dybench-")) / "busybox-rootfs.tar"
    rootfs.write_bytes(busybox_rootfs_tar())
    results: list[Result] = []
    try:
        for name in args.engines.split(","):
            if name == "dockerd" and shutil.which("dockerd") is None:
                print("[dockerd] not installed (scripts/deps/reliability.apt); skipped", file=sys.stderr)
                continue
            results.append(run_engine(name, rootfs, args))
            for error in results[-1].errors[:3]:
                print(f"[{name}] {error}", file=sys.stderr)
    finally:
        shutil.rmtree(rootfs.parent, ignore_errors=True)
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps([r.summary() for r in results], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

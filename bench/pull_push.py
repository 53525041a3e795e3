"""Push and pull of a multi-layer image through the stock docker CLI: dockyardd beside dockerd.

One command: ``.venv/bin/python bench/pull_push.py`` (as root). It builds a ~``--size-mb`` image of
busybox plus ``--layers`` layers of random data as a docker-archive, loads it into each daemon
(dockyardd on a temporary root; dockerd, when installed, on a temporary root too), and against a
fresh Debian ``docker-registry`` on 127.0.0.1 per daemon times ``docker push``, then ``docker rmi``
+ ``docker pull``, then the pull of a second image that shares every layer but its top one: the
shared layers must say ``Already exists`` and only the new one be fetched. Ratios are
dockyardd / dockerd (below 1: dockyardd is faster). Everything it starts it stops and removes.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.conformance.daemon import DOCKER, Daemon  # noqa: E402
from tests.conformance.images import busybox_rootfs_tar  # noqa: E402
from tests.conformance.registries import Registry  # noqa: E402


@dataclass
class Result:
    engine: str
    push_s: float
    pull_s: float
    shared_pull_s: float
    shared_reused: int
    shared_fetched: int


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _layer(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def build_archive(path: Path, size_mb: int, layers: int) -> None:
    """A docker-archive with two images: ``bench/big`` and ``bench/shared`` (same base, new top)."""
    base = busybox_rootfs_tar()
    chunk = max(1, size_mb * 1_000_000 // max(layers, 1))
    data_layers = [_layer(f"data{i}.bin", os.urandom(chunk)) for i in range(layers)]
    tops = {"big": _layer("top", b"big"), "shared": _layer("top", b"shared")}
    manifest = []
    with tarfile.open(path, "w") as tar:
        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        for blob in [base, *data_layers, *tops.values()]:
            add(f"{_digest(blob)[7:]}.tar", blob)
        for name, top in tops.items():
            stack = [base, *data_layers, top]
            config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                                 "rootfs": {"type": "layers", "diff_ids": [_digest(b) for b in stack]},
                                 "history": [{"created_by": f"layer {i}"} for i in range(len(stack))]})
            add(f"{_digest(config.encode())[7:]}.json", config.encode())
            manifest.append({"Config": f"{_digest(config.encode())[7:]}.json",
                             "RepoTags": [f"bench/{name}:latest"],
                             "Layers": [f"{_digest(b)[7:]}.tar" for b in stack]})
        add("manifest.json", json.dumps(manifest).encode())


def _docker(env: dict[str, str], *args: str, timeout: float = 900) -> str:
    proc = subprocess.run([DOCKER, *args], env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


def _timed(env: dict[str, str], *args: str) -> tuple[float, str]:
    start = time.perf_counter()
    out = _docker(env, *args)
    return time.perf_counter() - start, out


def run(name: str, env: dict[str, str], archive: Path, workdir: Path) -> Result:
    registry = Registry(workdir / f"registry-{name}")
    try:
        _docker(env, "load", "-i", str(archive))
        big, shared = f"{registry.host}/bench/big:latest", f"{registry.host}/bench/shared:latest"
        _docker(env, "tag", "bench/big:latest", big)
        _docker(env, "tag", "bench/shared:latest", shared)
        push_s, _ = _timed(env, "push", big)
        _docker(env, "push", shared)
        _docker(env, "rmi", big, shared, "bench/big:latest", "bench/shared:latest")
        pull_s, _ = _timed(env, "pull", big)
        shared_s, out = _timed(env, "pull", shared)
        _docker(env, "rmi", big, shared)
        return Result(name, push_s, pull_s, shared_s, out.count("Already exists"), out.count("Pull complete"))
    finally:
        registry.stop()


@contextmanager
def dockyard_env() -> Iterator[dict[str, str]]:
    daemon = Daemon()
    try:
        daemon.start()
        yield daemon.env()
    finally:
        daemon.cleanup()


@contextmanager
def dockerd_env(workdir: Path) -> Iterator[dict[str, str] | None]:
    """dockerd on temporary roots and its own socket, without touching the host's firewall."""
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        yield None
        return
    root = workdir / "dockerd"
    root.mkdir()
    sock = root / "docker.sock"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env.update(DOCKER_HOST=f"unix://{sock}", DOCKER_CONFIG=str(root / "cli"))
    with open(root / "dockerd.log", "wb") as log:
        proc = subprocess.Popen([dockerd, "-H", f"unix://{sock}", "--data-root", str(root / "data"),
                                 "--exec-root", str(root / "exec"), "--pidfile", str(root / "pid"),
                                 "--iptables=false", "--ip6tables=false", "--bridge=none"],
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if subprocess.run([DOCKER, "version"], env=env, capture_output=True, timeout=10).returncode == 0:
                break
            time.sleep(0.2)
        else:
            print("dockerd did not start; skipping it", file=sys.stderr)
            yield None
            return
        yield env
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        subprocess.run(["umount", "-R", str(root / "exec")], capture_output=True, timeout=30)


def table(results: list[Result]) -> str:
    base = next((r for r in results if r.engine == "dockerd"), None)
    lines = ["| engine | push s | pull s | shared-base pull s | shared layers reused / fetched |"
             " push vs dockerd | pull vs dockerd |", "|---|---|---|---|---|---|---|"]
    for r in results:
        ratios = (f"{r.push_s / base.push_s:.2f}", f"{r.pull_s / base.pull_s:.2f}") if base else ("-", "-")
        lines.append(f"| {r.engine} | {r.push_s:.2f} | {r.pull_s:.2f} | {r.shared_pull_s:.2f} |"
                     f" {r.shared_reused} / {r.shared_fetched} | {ratios[0]} | {ratios[1]} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=100, help="image size in MB (default 100)")
    parser.add_argument("--layers", type=int, default=5, help="data layers above busybox (default 5)")
    parser.add_argument("--engines", default="dockyard,dockerd", help="comma-separated subset")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("pull_push.py needs root (it starts daemons)", file=sys.stderr)
        return 2
    wanted = set(args.engines.split(","))
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="dybench-pp-") as tmp:
        workdir = Path(tmp)
        archive = workdir / "images.tar"
        build_archive(archive, args.size_mb, args.layers)
        engines = {"dockyard": dockyard_env, "dockerd": lambda: dockerd_env(workdir)}
        for name, factory in engines.items():
            if name not in wanted:
                continue
            with factory() as env:
                if env is None:
                    print(f"[{name}] not installed; skipped", file=sys.stderr)
                    continue
                try:
                    results.append(run(name, env, archive, workdir))
                except (RuntimeError, subprocess.TimeoutExpired) as exc:
                    print(f"[{name}] failed: {exc}", file=sys.stderr)
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())

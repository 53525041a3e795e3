"""kill -9 of the daemon at random points of load, pull, push, build, create, commit and rm.

After each kill the daemon restarts on the same roots and must: start, list images, containers and
disk usage, hold only blobs that match their digests and a sound SQLite file, show no half-made
image or container (no build RUN container, no container left paused by the commit), leave nothing
under ``tmp``, and redo the interrupted operation. The kills are spread over the operations: 7 (one
each) by default, ``--crash-kills 56`` (or ``DYC_CRASH_KILLS=56``) for the full run (slow).
"""

from __future__ import annotations

import os
import random
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conformance.daemon import DOCKER, Daemon
from conformance.registries import Registry

from .consistency import check_store
from .daemons import own_daemon

OPERATIONS = ("load", "pull", "push", "build", "create", "commit", "rm")
DEFAULT_KILLS = len(OPERATIONS)


def _total_kills(config: pytest.Config) -> int:
    option = config.getoption("--crash-kills")
    return int(option if option is not None else os.environ.get("DYC_CRASH_KILLS", DEFAULT_KILLS))


@dataclass
class Lab:
    daemon: Daemon
    registry: Registry
    work: Path
    archive: Path  # `docker save` of loadme:1
    context: Path  # a build context whose RUN takes a while
    seed: int

    def cli(self, *args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen([DOCKER, *args], env=self.daemon.env(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)

    def ok(self, *args: str, timeout: float = 120.0) -> str:
        return self.daemon.docker_ok(*args, timeout=timeout)

    def all_ok(self, *commands: tuple[str, ...]) -> Callable[[], None]:
        """A redo step: each command must succeed, in order."""
        def run() -> None:
            for command in commands:
                self.ok(*command)
        return run


@pytest.fixture(scope="module")
def lab(rootfs_tar: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    work = tmp_path_factory.mktemp("crash")
    registry = Registry(work / "registry")
    try:
        with own_daemon(rootfs_tar) as d:
            yield _lab(d, registry, work)
    finally:
        registry.stop()


def _lab(d: Daemon, registry: Registry, work: Path) -> Lab:
    # A 24 MB layer, so that load, pull, push and commit take long enough to be cut.
    big = work / "big"
    big.mkdir()
    (big / "data").write_bytes(os.urandom(24 << 20))
    subprocess.run(["tar", "-C", str(big), "-cf", str(work / "big.tar"), "."], check=True)
    d.docker_ok("import", str(work / "big.tar"), "loadme:1", timeout=120)
    archive = work / "loadme.tar"
    d.docker_ok("save", "-o", str(archive), "loadme:1", timeout=120)
    d.docker_ok("tag", "loadme:1", f"{registry.host}/crash/pullme:1")
    d.docker_ok("push", f"{registry.host}/crash/pullme:1", timeout=120)
    context = work / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(
        "FROM busybox\nRUN dd if=/dev/urandom of=/blob bs=1M count=12 2>/dev/null && sleep 0.5\n"
        "COPY . /ctx\nENV STEP=done\n")
    seed = int(os.environ.get("DYC_CRASH_SEED", str(random.randrange(1 << 30))))
    print(f"crash seed {seed} (DYC_CRASH_SEED to repeat)")
    return Lab(d, registry, work, archive, context, seed)


def _kill_during(lab: Lab, proc: subprocess.Popen[bytes], delay: float) -> None:
    time.sleep(delay)
    assert lab.daemon.proc is not None
    lab.daemon.proc.kill()
    lab.daemon.proc.wait(10)
    proc.kill()
    proc.wait(10)


def _restart_and_check(lab: Lab) -> dict[str, str]:
    lab.daemon.start()
    return check_store(lab.daemon)


# ---- one operation each: (prepare, start it in the background, redo and verify) ----
def _load(lab: Lab, i: int) -> tuple[Callable[[], subprocess.Popen[bytes]], Callable[[], None]]:
    lab.daemon.docker("rmi", "-f", "loadme:1")
    return (lambda: lab.cli("load", "-i", str(lab.archive)),
            lab.all_ok(("load", "-i", str(lab.archive)), ("image", "inspect", "loadme:1")))


def _pull(lab: Lab, i: int) -> tuple[Callable[[], subprocess.Popen[bytes]], Callable[[], None]]:
    ref = f"{lab.registry.host}/crash/pullme:1"
    lab.daemon.docker("rmi", "-f", ref)
    return lambda: lab.cli("pull", ref), lab.all_ok(("pull", ref), ("image", "inspect", ref))


def _push(lab: Lab, i: int) -> tuple[Callable[[], subprocess.Popen[bytes]], Callable[[], None]]:
    ref = f"{lab.registry.host}/crash/push{i}:1"
    lab.ok("tag", "loadme:1", ref)
    return lambda: lab.cli("push", ref), lab.all_ok(("push", ref))


def _build(lab: Lab, i: int) -> tuple[Callable[[], subprocess.Popen[bytes]], Callable[[], None]]:
    args = ("build", "--no-cache", "-t", f"built:{i}", str(lab.context))
    return lambda: lab.cli(*args), lab.all_ok(args, ("image", "inspect", f"built:{i}"))


def _create(lab: Lab, i: int) -> tuple[Callable[[], subprocess.Popen[bytes]], Callable[[], None]]:
    name = f"created{i}"

    def redo() -> None:
        lab.daemon.docker("rm", "-f", name)
        lab.ok("create", "--name", name, "-p", "127.0.0.1::80", "busybox", "true")
        lab.ok("start", "-a", name)
        lab.ok("rm", name)
    return lambda: lab.cli("create", "--name", name, "-p", "127.0.0.1::80", "busybox", "true"), redo


def _commit(lab: Lab, i: int) -> tuple[Callable[[], subprocess.Popen[bytes]], Callable[[], None]]:
    name = f"committed{i}"
    lab.ok("run", "-d", "--name", name, "busybox", "sh", "-c",
           "dd if=/dev/urandom of=/fill bs=1M count=16 2>/dev/null; exec sleep 3600")
    lab.ok("exec", name, "sh", "-c",
           "while [ ! -s /fill ] || [ $(wc -c < /fill) -lt 16777216 ]; do sleep 0.05; done")

    def redo() -> None:
        state = lab.ok("inspect", "-f", "{{.State.Status}}", name).strip()
        assert state == "running", f"commit's container is {state} after the crash"
        lab.ok("commit", name, f"commit{i}:1")
        lab.ok("exec", name, "true")
        lab.ok("rm", "-f", name)
    return lambda: lab.cli("commit", name, f"commit{i}:1"), redo


def _rm(lab: Lab, i: int) -> tuple[Callable[[], subprocess.Popen[bytes]], Callable[[], None]]:
    name = f"removed{i}"
    lab.ok("run", "-d", "--name", name, "busybox", "sleep", "3600")

    def redo() -> None:
        lab.daemon.docker("rm", "-f", name)
        code, _, _ = lab.daemon.docker("inspect", name)
        assert code != 0
    return lambda: lab.cli("rm", "-f", name), redo


STEPS = {"load": _load, "pull": _pull, "push": _push, "build": _build, "create": _create,
         "commit": _commit, "rm": _rm}
# How long each takes here, roughly: kills land anywhere from its start to a little after its end.
WINDOW = {"load": 1.5, "pull": 1.5, "push": 1.5, "build": 2.0, "create": 0.3, "commit": 1.5, "rm": 0.6}


@pytest.mark.parametrize("operation", OPERATIONS)
def test_kill_9_during(lab: Lab, operation: str, request: pytest.FixtureRequest) -> None:
    """The full run (``--crash-kills 56``, about 8 per operation) takes a few minutes: opt-in."""
    total = _total_kills(request.config)
    share = total // len(OPERATIONS) + (OPERATIONS.index(operation) < total % len(OPERATIONS))
    rng = random.Random(f"{lab.seed}-{operation}")
    for i in range(share):
        start, redo = STEPS[operation](lab, i)
        proc = start()
        _kill_during(lab, proc, rng.uniform(0.02, WINDOW[operation]))
        _restart_and_check(lab)
        redo()
        check_store(lab.daemon, restarted=False)


def _kill_when(lab: Lab, proc: subprocess.Popen[bytes], ready: Callable[[], bool], what: str) -> None:
    """kill -9 of the daemon at the moment ``ready()`` first holds, not at a random point."""
    deadline = time.monotonic() + 60
    while not ready():
        assert proc.poll() is None, f"the operation ended before {what}"
        assert time.monotonic() < deadline, f"never saw {what}"
        time.sleep(0.02)
    _kill_during(lab, proc, 0)


def test_kill_9_while_a_commit_holds_the_container_paused(lab: Lab) -> None:
    start, redo = _commit(lab, 100)
    name = "committed100"
    _kill_when(lab, start(), lambda: lab.daemon.docker("inspect", "-f", "{{.State.Status}}", name)[1].strip()
               == "paused", "the container paused")
    states = _restart_and_check(lab)
    assert "paused" not in states.values()
    redo()  # asserts it runs, commits again, execs


def test_kill_9_while_a_build_step_runs_its_container(lab: Lab) -> None:
    start, redo = _build(lab, 100)

    def step_running() -> bool:
        return bool(lab.daemon.docker("ps", "-q", "--filter", "label=io.dockyard.build.step")[1].strip())
    _kill_when(lab, start(), step_running, "the RUN container")
    _restart_and_check(lab)  # no build container, nothing mounted under tmp, no scratch
    redo()

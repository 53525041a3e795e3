"""Image archives move both ways between a real dockerd (Debian's docker.io) and dockyardd.

The dockerd is private to this module and leaves the host as it found it:

* its own containerd, started here with a config whose root, state, sockets and opt directory all
  live under the module's temp directory. Without ``--containerd``, dockerd would start one of its
  own only when /run/containerd/containerd.sock is absent, and otherwise share the system's;
* its own data root, exec root (so runc's state and libnetwork's netns files are ours), pidfile,
  socket, ``--config-file`` (not /etc/docker/daemon.json) and, before Docker 25, trust key (not
  /etc/docker/key.json);
* no networking of its own: ``--bridge=none`` (no docker0) and no iptables, ip6tables,
  forwarding or masquerading, so the firewall and sysctls stay untouched. The fixture checks this
  after teardown.

Containers run with ``--network none`` on both daemons so that neither changes the firewall while
it is being watched.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .daemon import Daemon
from .images import read_tar

DOCKERD = Path("/usr/sbin/dockerd")
_NEEDED = ("containerd", "containerd-shim-runc-v2", "runc")  # dockerd 20.10 runs containers through these


def _missing() -> list[str]:
    missing = [str(DOCKERD)] if not DOCKERD.is_file() else []
    return missing + [name for name in _NEEDED if shutil.which(name) is None]


pytestmark = [
    pytest.mark.root,
    pytest.mark.slow,
    pytest.mark.skipif(bool(_missing()), reason=f"a real dockerd needs Debian's docker.io and containerd "
                                                f"packages; missing: {', '.join(_missing())}"),
]


def _dockerd_major() -> int:
    out = subprocess.run([str(DOCKERD), "--version"], capture_output=True, text=True, timeout=10).stdout
    found = re.search(r"version (\d+)\.", out)
    assert found, f"cannot read dockerd's version from {out!r}"
    return int(found.group(1))


class Dockerd(Daemon):
    """A dockerd and the containerd it uses, both under one temp directory, torn down together."""

    def __init__(self) -> None:
        # Short: containerd's and dockerd's sockets live here too (AF_UNIX paths < 108 bytes).
        super().__init__(Path(tempfile.mkdtemp(prefix="dyd-", dir="/tmp")))
        self.log_path = self.root / "dockerd.log"
        self.containerd_dir = self.root / "containerd"
        self.containerd_sock = self.containerd_dir / "c.sock"
        self.containerd: subprocess.Popen[bytes] | None = None
        self.major = _dockerd_major()

    def start(self) -> None:
        self._start_containerd()
        config: dict[str, str] = {}
        if self.major < 25:  # Docker 25 dropped the trust key (and the option that places it)
            config["deprecated-key-path"] = str(self.root / "key.json")
        config_file = self.root / "daemon.json"
        config_file.write_text(json.dumps(config))
        argv = [str(DOCKERD), "-H", self.host, "--containerd", str(self.containerd_sock),
                "--data-root", str(self.data_root), "--exec-root", str(self.exec_root),
                "--pidfile", str(self.root / "dockerd.pid"), "--config-file", str(config_file),
                "--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-forward=false",
                "--ip-masq=false"]
        self.proc = self._spawn(argv, self.log_path)
        _poll(self.proc, self._ping_ok, "dockerd", self.log_path)

    def _start_containerd(self) -> None:
        self.containerd_dir.mkdir()
        config = self.containerd_dir / "config.toml"
        config.write_text(
            "version = 2\n"
            f'root = "{self.containerd_dir / "root"}"\n'
            f'state = "{self.containerd_dir / "state"}"\n'
            'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
            f'[grpc]\n  address = "{self.containerd_sock}"\n'
            '[debug]\n  address = ""\n'
            '[metrics]\n  address = ""\n'
            # The opt plugin would otherwise create /opt/containerd.
            f'[plugins."io.containerd.internal.v1.opt"]\n  path = "{self.containerd_dir / "opt"}"\n')
        log_path = self.root / "containerd.log"
        self.containerd = self._spawn(["containerd", "--config", str(config)], log_path)
        _poll(self.containerd, self.containerd_sock.is_socket, "containerd", log_path)

    @staticmethod
    def _spawn(argv: list[str], log_path: Path) -> subprocess.Popen[bytes]:
        with open(log_path, "ab") as log_file:
            return subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        """Stop dockerd (which stops its containers), then its containerd."""
        code = super().stop(sig, timeout)
        if self.containerd is not None and self.containerd.poll() is None:
            self.containerd.terminate()
            try:
                self.containerd.wait(timeout)
            except subprocess.TimeoutExpired:
                self.containerd.kill()
                self.containerd.wait(10)
        return code

    def _kill_leftover_processes(self) -> None:
        # containerd 1.6 puts shim sockets in /run/containerd/s whatever its state dir, and a killed
        # shim cannot remove its own; the task's bundle (ours) names the socket in an "address" file.
        bundles = self.containerd_dir / "state" / "io.containerd.runtime.v2.task"
        sockets = [Path(p.read_text().strip().removeprefix("unix://")) for p in bundles.glob("*/*/address")]
        super()._kill_leftover_processes()
        for sock in sockets:
            if sock.parent == Path("/run/containerd/s"):
                sock.unlink(missing_ok=True)

    def _runtime_cleanup(self) -> None:
        # dockerd keeps runc's state in <exec-root>/runtime-runc/<containerd namespace>.
        state = self.exec_root / "runtime-runc" / "moby"
        runc = shutil.which("runc")
        if runc is None or not state.is_dir():
            return
        listing = subprocess.run([runc, "--root", str(state), "list", "-q"], capture_output=True,
                                 text=True, timeout=10)
        for cid in listing.stdout.split():
            subprocess.run([runc, "--root", str(state), "delete", "-f", cid], capture_output=True, timeout=10)


def _poll(proc: subprocess.Popen[bytes], ready: Callable[[], bool], what: str, log_path: Path,
          deadline_s: float = 30.0) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{_tail(log_path)}")
        if ready():
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} was not ready within {deadline_s}s:\n{_tail(log_path)}")


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _host_network() -> dict[str, str | bool | None]:
    """What a dockerd with its own networking would change: docker0, the firewall, forwarding."""
    state: dict[str, str | bool | None] = {"docker0": Path("/sys/class/net/docker0").exists()}
    for tool in ("iptables", "ip6tables"):
        binary = shutil.which(tool)
        state[tool] = None if binary is None else subprocess.run(
            [binary, "-S"], capture_output=True, text=True, timeout=30).stdout
    state["ip_forward"] = Path("/proc/sys/net/ipv4/ip_forward").read_text()
    return state


@pytest.fixture(scope="module")
def dockerd(daemon: Daemon) -> Iterator[Dockerd]:
    # ``daemon`` first: dockyardd's own start-up must not count as a change to the host.
    before = _host_network()
    d = Dockerd()
    try:
        d.start()
        yield d
    finally:
        d.cleanup()
    assert not d.root.exists(), f"{d.root} survived teardown"
    after = _host_network()
    if not before["docker0"]:
        assert not after["docker0"], "dockerd created docker0"
    assert after == before, "dockerd changed the host's firewall or forwarding"


def _image_id(daemon: Daemon, ref: str) -> str:
    return daemon.docker_ok("image", "inspect", "-f", "{{.Id}}", ref).strip()


def test_dockerd_archive_loads_and_runs_on_dockyardd(dockerd: Dockerd, daemon: Daemon,
                                                      rootfs_tar: Path, tmp_path: Path) -> None:
    ref = "interop/from-dockerd:1"
    dockerd.docker_ok("import", "-c", 'CMD ["sh"]', str(rootfs_tar), ref, timeout=120)
    image_id = _image_id(dockerd, ref)
    archive = tmp_path / "from-dockerd.tar"
    dockerd.docker_ok("save", "-o", str(archive), ref, timeout=120)
    files = read_tar(archive.read_bytes())
    if dockerd.major < 25:  # the legacy docker-archive: <id>.json, <v1 id>/layer.tar, no OCI layout
        assert "index.json" not in files and f"{image_id.removeprefix('sha256:')}.json" in files
        assert any(name.endswith("/layer.tar") for name in files), sorted(files)
    try:
        code, out, err = daemon.docker("load", "-i", str(archive), timeout=120)
        assert code == 0, err
        assert f"Loaded image: {ref}" in out
        assert _image_id(daemon, ref) == image_id
        run = daemon.docker("run", "--rm", "--network", "none", ref, "echo", "made-by-dockerd")
        assert run[:2] == (0, "made-by-dockerd\n"), run[2]
    finally:
        daemon.docker("rmi", "-f", ref)


def test_dockyardd_archive_loads_and_runs_on_dockerd(dockerd: Dockerd, daemon: Daemon,
                                                      tmp_path: Path) -> None:
    ref = "interop/from-dockyardd:1"
    archive = tmp_path / "from-dockyardd.tar"
    daemon.docker_ok("tag", "busybox:latest", ref)
    try:
        image_id = _image_id(daemon, ref)
        daemon.docker_ok("save", "-o", str(archive), ref, timeout=120)
    finally:
        daemon.docker("rmi", ref)  # only the tag: busybox:latest keeps the image
    code, out, err = dockerd.docker("load", "-i", str(archive), timeout=120)
    assert code == 0, err
    assert f"Loaded image: {ref}" in out
    assert _image_id(dockerd, ref) == image_id
    run = dockerd.docker("run", "--rm", "--network", "none", ref, "echo", "made-by-dockyardd")
    assert run[:2] == (0, "made-by-dockyardd\n"), run[2]

"""A dockyardd started for the conformance suite on its own temporary roots, and its teardown.

Everything a daemon leaves lives under one short directory in /tmp (AF_UNIX paths must stay under
108 bytes): the socket, the data root, the exec root (so runc's state and conmon's files are ours
alone) and the daemon's log. Teardown removes containers through the API, then whatever survived
through runc and by PID, unmounts, and deletes the directory, so a second run starts clean even
while another dockyardd (``make run``'s, on /run/dockyard) is serving.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DOCKER = shutil.which("docker") or "/usr/local/bin/docker"
START_DEADLINE = 30.0


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over the daemon's UNIX socket, for requests docker-py or the CLI would refuse."""

    def __init__(self, path: Path, timeout: float = 30.0) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = str(path)

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


class Daemon:
    """One dockyardd process on its own roots; ``start``/``stop`` may be called repeatedly."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or Path(tempfile.mkdtemp(prefix="dyc-", dir="/tmp"))
        self.sock = self.root / "d.sock"
        self.data_root = self.root / "data"
        self.exec_root = self.root / "exec"
        self.log_path = self.root / "dockyardd.log"
        # Legacy plugin discovery looks here only, never in the host's /run/docker/plugins.
        self.plugin_dir = self.root / "plugins"
        self.docker_config = self.root / "cli"
        self.docker_config.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen[bytes] | None = None
        # Extra dockyardd arguments, e.g. ["--config-file", path] for a test's own daemon.json.
        self.extra_args: list[str] = []
        # The API version the daemon must serve (Docker 20.10's when the oracle mode runs dockerd).
        self.api_version = "1.41" if os.environ.get("DYC_ORACLE") == "dockerd" else "1.50"

    @property
    def api(self) -> str:
        """The versioned path prefix of raw API requests, e.g. ``/v1.50``."""
        return f"/v{self.api_version}"

    # ---- process ----
    def start(self) -> None:
        argv = [sys.executable, "-m", "dockyard.daemon", "-H", f"unix://{self.sock}",
                "--data-root", str(self.data_root), "--exec-root", str(self.exec_root),
                "--plugin-dir", str(self.plugin_dir), *self.extra_args]
        if os.environ.get("DYC_ORACLE") == "dockerd":
            # Run the suite against Docker's own daemon, to check the tests encode Docker's behaviour.
            argv = ["dockerd", "-H", f"unix://{self.sock}", "--data-root", str(self.data_root),
                    "--exec-root", str(self.exec_root), "--pidfile", str(self.root / "dockerd.pid"),
                    "--iptables=false", "--ip-masq=false", "--live-restore"]
        with open(self.log_path, "ab") as log_file:
            self.proc = subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + START_DEADLINE
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dockyardd exited with {self.proc.returncode}:\n{self.log_tail()}")
            if self._ping_ok():
                return
            time.sleep(0.05)
        raise RuntimeError(f"dockyardd did not answer /_ping within {START_DEADLINE}s:\n{self.log_tail()}")

    def _ping_ok(self) -> bool:
        try:
            status, _, _ = self.request("GET", "/_ping", timeout=2.0)
        except OSError:
            return False
        return status == 200

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        """Signal the daemon and wait for it; SIGKILL if it outlives ``timeout``."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # ---- clients ----
    @property
    def host(self) -> str:
        return f"unix://{self.sock}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        env.update(DOCKER_HOST=self.host, DOCKER_CONFIG=str(self.docker_config), DOCKER_CLI_HINTS="false")
        return env

    def docker(self, *args: str, input: bytes | str | None = None,
               timeout: float = 60.0) -> tuple[int, str, str]:
        """Run the stock docker CLI against this daemon: (exit code, stdout, stderr)."""
        data = input.encode() if isinstance(input, str) else input
        proc = subprocess.run([DOCKER, *args], input=data, capture_output=True, env=self.env(),
                              timeout=timeout, stdin=None if data is not None else subprocess.DEVNULL)
        return proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")

    def docker_ok(self, *args: str, input: bytes | str | None = None, timeout: float = 60.0) -> str:
        """Like :meth:`docker`, but the command must succeed; returns stdout."""
        code, out, err = self.docker(*args, input=input, timeout=timeout)
        assert code == 0, f"docker {' '.join(args)} exited {code}: {err.strip() or out.strip()}"
        return out

    def attach_and_send(self, ref: str, line: str, timeout: float = 30.0) -> tuple[int, str]:
        """``docker attach`` with ``line`` typed on stdin, stdin kept open until the container ends.

        Docker ends an attach as soon as its stdin reaches EOF (for containers not created with
        StdinOnce), dropping later output; a user typing keeps stdin open, and so does this.
        """
        proc = subprocess.Popen([DOCKER, "attach", ref], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, env=self.env())
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(line.encode())
            proc.stdin.flush()
            out = proc.stdout.read()
            proc.stdin.close()
            return proc.wait(), out.decode(errors="replace")
        finally:
            timer.cancel()

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None,
                timeout: float = 30.0) -> tuple[int, dict[str, str], bytes]:
        conn = UnixHTTPConnection(self.sock, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read()
        finally:
            conn.close()

    def request_json(self, method: str, path: str, payload: Any = None) -> tuple[int, Any]:
        body = None if payload is None else json.dumps(payload).encode()
        status, _, raw = self.request(method, path, body=body, headers={"Content-Type": "application/json"})
        return status, (json.loads(raw) if raw.strip() else None)

    def store_state(self) -> tuple[list[str], list[str], list[str]]:
        """What a failed command must leave unchanged: containers, images, content blobs."""
        containers = sorted(self.docker_ok("ps", "-a", "-q", "--no-trunc").split())
        images = sorted(self.docker_ok("images", "-a", "-q", "--no-trunc").split())
        blobs_dir = self.data_root / "content" / "blobs"
        blobs = sorted(str(p.relative_to(blobs_dir)) for p in blobs_dir.rglob("*"))
        return containers, images, blobs

    # ---- teardown ----
    def cleanup(self) -> None:
        """Leave nothing behind: containers, runtime state, conmon processes, mounts, files."""
        if self.running:
            self._remove_containers_via_api()
        self.stop()
        self._runtime_cleanup()
        self._kill_leftover_processes()
        self._remove_host_network()
        self._unmount_all()
        shutil.rmtree(self.root, ignore_errors=True)
        if self.root.exists():
            log.warning("could not remove %s completely", self.root)

    @property
    def host_network_names(self) -> tuple[str, str]:
        """The default bridge and nftables table dockyardd names after its data root (daemon.py)."""
        tag = hashlib.sha256(str(self.data_root).encode()).hexdigest()[:8]
        return f"dy0-{tag}", f"dockyard_{tag}"

    def _remove_host_network(self) -> None:
        """What a daemon that could not end cleanly (killed, or stopped with containers running)
        leaves on the host: the bridges whose alias names it (its own and its networks') and its
        nftables tables. A daemon that stopped with nothing running has removed them itself."""
        _, table = self.host_network_names
        links = subprocess.run(["ip", "-j", "-d", "link", "show"], capture_output=True, text=True,
                               timeout=10)
        for link in json.loads(links.stdout or "[]"):
            if link.get("ifalias") == f"dockyard:{table}":
                subprocess.run(["ip", "link", "del", link["ifname"]], capture_output=True, timeout=10)
        tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, timeout=10)
        for line in tables.stdout.splitlines():  # "table <family> <name>"; <name>_vip too
            _, family, name = (line.split() + ["", "", ""])[:3]
            if name == table or name.startswith(f"{table}_"):
                subprocess.run(["nft", "delete", "table", family, name], capture_output=True, timeout=10)

    def _remove_containers_via_api(self) -> None:
        try:
            code, out, _ = self.docker("ps", "-a", "-q", "--no-trunc", timeout=20)
            ids = out.split() if code == 0 else []
            if ids:
                self.docker("rm", "-f", *ids, timeout=60)
        except subprocess.TimeoutExpired:
            log.warning("removing containers through the API timed out")

    def _runtime_cleanup(self) -> None:
        runtime_dir = self.exec_root / "runtime"
        if not runtime_dir.is_dir():
            return
        for state_root in runtime_dir.iterdir():
            binary = shutil.which(state_root.name)
            if binary is None or not state_root.is_dir():
                continue
            try:
                listing = subprocess.run([binary, "--root", str(state_root), "list", "-q"],
                                         capture_output=True, timeout=10, text=True)
                for cid in listing.stdout.split():
                    subprocess.run([binary, "--root", str(state_root), "kill", cid, "KILL"],
                                   capture_output=True, timeout=10)
                    subprocess.run([binary, "--root", str(state_root), "delete", "-f", cid],
                                   capture_output=True, timeout=10)
            except (OSError, subprocess.TimeoutExpired) as exc:
                log.warning("runtime cleanup in %s failed: %s", state_root, exc)

    def _kill_leftover_processes(self) -> None:
        # conmon and friends name our root in their argv; kill exactly those PIDs.
        marker = str(self.root).encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if marker in cmdline:
                try:
                    os.kill(int(entry.name), signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def _unmount_all(self) -> None:
        prefix = str(self.root) + "/"
        for _ in range(3):
            points = sorted((m for m in _mount_points() if m.startswith(prefix)), key=len, reverse=True)
            if not points:
                return
            for point in points:
                subprocess.run(["umount", "-l", point], capture_output=True, timeout=10)


def _mount_points() -> list[str]:
    points = []
    with open("/proc/self/mountinfo") as info:
        for line in info:
            # Field 5 is the mount point, with spaces escaped as \040.
            points.append(line.split()[4].replace("\\040", " "))
    return points

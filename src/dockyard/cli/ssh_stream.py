"""The ssh endpoint: the system ``ssh`` client running ``docker system dial-stdio`` on the far side,
as the docker CLI does, so ``~/.ssh/config`` and agents apply."""

from __future__ import annotations

import shutil
import socket
import subprocess
from urllib.parse import urlsplit

from dockyard.cli.errors import CliError, ConnectFailed

SSH_CONNECT_TIMEOUT = 30  # seconds, the docker CLI's ``-o ConnectTimeout=30``


def ssh_argv(host: str, command: list[str] | None = None) -> list[str]:
    """The docker CLI's command line: ``ssh -o ConnectTimeout=30 -T [-l user] [-p port] -- host
    docker [--host unix://path] system dial-stdio``."""
    parts = urlsplit(host)
    if not parts.hostname:
        raise CliError(f"invalid ssh URL {host!r}: no host", 125)
    argv = [shutil.which("ssh") or "ssh", "-o", f"ConnectTimeout={SSH_CONNECT_TIMEOUT}", "-T"]
    if parts.username:
        argv += ["-l", parts.username]
    if parts.port:
        argv += ["-p", str(parts.port)]
    remote = ["docker", *(["--host", f"unix://{parts.path}"] if parts.path else []),
              "system", "dial-stdio"]
    return [*argv, "--", parts.hostname, *(command or remote)]


class SshStream:
    """One end of a socket pair whose other end is the stdin/stdout of an ``ssh`` process."""

    def __init__(self, host: str) -> None:
        self.host = host
        ours, theirs = socket.socketpair()
        self._sock = ours
        self._argv = ssh_argv(host)
        self._proc = subprocess.Popen(self._argv, stdin=theirs.fileno(), stdout=theirs.fileno(),
                                      stderr=subprocess.PIPE, start_new_session=True)
        theirs.close()

    def sendall(self, data: bytes) -> None:
        try:
            self._sock.sendall(data)
        except OSError as exc:
            raise self._failure() from exc

    def recv(self, size: int) -> bytes:
        try:
            data = self._sock.recv(size)
        except ConnectionResetError as exc:
            raise self._failure() from exc
        if not data and self._exited_badly():
            raise self._failure()
        return data

    def _exited_badly(self) -> bool:
        try:
            return self._proc.wait(1) != 0
        except subprocess.TimeoutExpired:
            return False

    def _failure(self) -> CliError:
        try:
            self._proc.wait(5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
        stderr = (self._proc.stderr.read() if self._proc.stderr else b"").decode(errors="replace").strip()
        command = " ".join(["ssh", *self._argv[1:]])
        return ConnectFailed(self.host, f"command [{command}] has exited with exit status "
                             f"{self._proc.returncode}, make sure the URL is valid, and Docker 18.09 "
                             f"or later is installed on the remote host: stderr={stderr}")

    def shutdown(self, how: int) -> None:
        self._sock.shutdown(how)

    def settimeout(self, timeout: float | None) -> None:
        self._sock.settimeout(timeout)

    def close(self) -> None:
        self._sock.close()
        if self._proc.poll() is None:
            try:
                self._proc.wait(2)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._proc.stderr:
            self._proc.stderr.close()

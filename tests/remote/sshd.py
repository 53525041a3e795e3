"""A real OpenSSH server on 127.0.0.1 with its own host key, authorized key and config.

The system sshd and its config are never touched. Two ports: on ``port`` the far side's ``docker``
is the stock docker CLI (reaching the engine through ``DOCKER_HOST``); on ``shim_port`` it is our
``dockyard`` CLI, so ``docker system dial-stdio`` there is ``dockyard system dial-stdio``. Clients
find the server as ``ssh://dyhost`` / ``ssh://dyshim`` through an ``ssh`` wrapper first on PATH
that adds ``-F`` (ssh reads ``~/.ssh/config`` from the passwd entry, not ``$HOME``).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

SSHD = "/usr/sbin/sshd"
SSH = "/usr/bin/ssh"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True,
                   capture_output=True, timeout=30)
    return path.with_suffix(".pub").read_text().strip()


class Sshd:
    def __init__(self, root: Path, engine_host: str) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.port, self.shim_port = free_port(), free_port()
        host_pub = _keygen(root / "host_ed25519")
        (root / "authorized_keys").write_text(_keygen(root / "client_ed25519") + "\n")
        shim = root / "shim"
        shim.mkdir()
        (shim / "docker").write_text(f'#!/bin/sh\nexec {sys.executable} -m dockyard.cli.main "$@"\n')
        (shim / "docker").chmod(0o755)
        base_path = "/usr/local/bin:/usr/bin:/bin"
        (root / "sshd_config").write_text(f"""\
Port {self.port}
Port {self.shim_port}
ListenAddress 127.0.0.1
HostKey {root}/host_ed25519
PidFile {root}/sshd.pid
AuthorizedKeysFile {root}/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
SetEnv DOCKER_HOST={engine_host} PATH={base_path}
Match LocalPort {self.shim_port}
    SetEnv DOCKER_HOST={engine_host} PATH={shim}:{base_path}
""")
        (root / "known_hosts").write_text(
            f"[127.0.0.1]:{self.port} {host_pub}\n[127.0.0.1]:{self.shim_port} {host_pub}\n")
        (root / "ssh_config").write_text("".join(f"""\
Host {alias}
    HostName 127.0.0.1
    Port {port}
    User root
    IdentityFile {root}/client_ed25519
    IdentitiesOnly yes
    UserKnownHostsFile {root}/known_hosts
    StrictHostKeyChecking yes
    BatchMode yes
""" for alias, port in (("dyhost", self.port), ("dyshim", self.shim_port))))
        self.bin = root / "bin"
        self.bin.mkdir()
        (self.bin / "ssh").write_text(f'#!/bin/sh\nexec {SSH} -F {root}/ssh_config "$@"\n')
        (self.bin / "ssh").chmod(0o755)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        # sshd's privilege separation directory; Debian's package makes it at boot, not at install.
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        log = open(self.root / "sshd.log", "ab")
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.root / "sshd_config")],
                                     stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.shim_port), timeout=1).close()
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError((self.root / "sshd.log").read_text()) from None
                time.sleep(0.05)
        raise RuntimeError("sshd did not listen")

    def env(self, base: dict[str, str]) -> dict[str, str]:
        env = dict(base)
        env["PATH"] = f"{self.bin}:{os.environ.get('PATH', '/usr/bin:/bin')}"
        return env

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

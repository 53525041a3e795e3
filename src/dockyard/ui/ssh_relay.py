"""``ssh://`` environments: the engine is reached as the docker CLI reaches it, by running
``ssh HOST docker system dial-stdio`` (the CLI's own command line, cli/endpoint.py), so
``~/.ssh/config``, agents and known hosts apply.

aiohttp speaks to UNIX sockets, not to a subprocess's stdio, so each ssh environment gets a private
UNIX socket (mode 0600, in a directory of its own) whose every connection is handed to a fresh
``ssh`` as its stdin and stdout: the bytes go straight between the socket and ssh, with nothing
copied in this process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from dockyard.cli.endpoint import ssh_argv

log = logging.getLogger(__name__)


class _Relay:
    def __init__(self, endpoint: str) -> None:
        self.argv = ssh_argv(endpoint)
        self.directory = Path(tempfile.mkdtemp(prefix="dockyard-ui-ssh-"))
        self.path = self.directory / "engine.sock"
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(str(self.path))
        os.chmod(self.path, 0o600)
        self._server.listen(16)
        threading.Thread(target=self._serve, name=f"ssh-relay {endpoint}", daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return  # closed
            with conn:
                proc = subprocess.Popen(self.argv, stdin=conn.fileno(), stdout=conn.fileno(),
                                        stderr=subprocess.PIPE, start_new_session=True)
            threading.Thread(target=self._reap, args=(proc,), daemon=True).start()

    @staticmethod
    def _reap(proc: subprocess.Popen[bytes]) -> None:
        _, err = proc.communicate()
        if proc.returncode not in (0, None) and err:
            log.warning("ssh: %s", err.decode(errors="replace").strip().splitlines()[-1])


@dataclass
class SshTransport:
    """A :class:`~dockyard.ui.environments.Transport` for ``ssh://[user@]host[:port][/socket]``."""

    endpoint: str
    _relay: _Relay | None = field(default=None, init=False, repr=False)

    def _path(self) -> str:
        if self._relay is None:
            self._relay = _Relay(self.endpoint)
        return str(self._relay.path)

    def connector(self) -> aiohttp.BaseConnector:
        # One connection per request: each is one ssh session, closed with the request.
        return aiohttp.UnixConnector(path=self._path(), force_close=True)

    async def open_stream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_unix_connection(self._path())

    def close(self) -> None:
        if self._relay is not None:
            with contextlib.suppress(OSError):
                self._relay.path.unlink()
                self._relay.directory.rmdir()

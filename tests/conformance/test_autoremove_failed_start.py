"""``docker run --rm`` whose start fails while joining its network (a host port already taken):
the CLI reports the error and exits, and the container is gone (the CLI waits for its removal)."""

from __future__ import annotations

import socket

from .daemon import Daemon


def test_run_rm_with_a_taken_port_fails_and_removes_the_container(daemon: Daemon) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        code, _, err = daemon.docker("run", "--rm", "--name", "rm-taken-port", "-p", f"127.0.0.1:{port}:80",
                                     "busybox", "true", timeout=60)
    finally:
        taken.close()
    assert code != 0 and "port is already allocated" in err, err
    code, _, _ = daemon.docker("inspect", "rm-taken-port")
    assert code != 0, "the --rm container outlived its failed start"

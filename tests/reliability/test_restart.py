"""kill -9 of the daemon with containers running: they keep running, and the next daemon picks up
their ports, DNS, logs and exec; a host port something else took meanwhile is reported, not kept.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conformance.daemon import Daemon
from conformance.registries import free_port

from .daemons import own_daemon


@pytest.fixture(scope="module")
def d(rootfs_tar: Path) -> Iterator[Daemon]:
    with own_daemon(rootfs_tar) as daemon:
        yield daemon


def _kill_9_and_restart(d: Daemon) -> None:
    assert d.proc is not None
    d.proc.kill()
    d.proc.wait(10)
    d.start()


def _answer(port: int, timeout: float = 10.0) -> bytes:
    """What a client on 127.0.0.1:port reads (the container's httpd answers a GET)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                sock.sendall(b"GET /index.html HTTP/1.0\r\n\r\n")
                data = b""
                while chunk := sock.recv(4096):
                    data += chunk
                return data
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_running_containers_keep_ports_dns_logs_and_exec(d: Daemon) -> None:
    port = free_port()
    d.docker_ok("network", "create", "crashnet")
    web = d.docker_ok("run", "-d", "--name", "web", "--network", "crashnet", "-p", f"127.0.0.1:{port}:80",
                      "busybox", "sh", "-c",
                      "echo served > /index.html; echo started; exec httpd -f -p 80").strip()
    assert b"served" in _answer(port)
    _kill_9_and_restart(d)
    assert d.docker_ok("inspect", "-f", "{{.State.Running}} {{.State.Pid}}", web).split()[0] == "true"
    assert b"served" in _answer(port)
    assert "started" in d.docker_ok("logs", web)
    assert d.docker_ok("exec", web, "cat", "/index.html").strip() == "served"
    code, out, err = d.docker("run", "--rm", "--network", "crashnet", "busybox", "nslookup", "web")
    assert code == 0 and "Address" in out, out + err
    d.docker_ok("rm", "-f", web)
    d.docker_ok("network", "rm", "crashnet")


def test_a_port_taken_while_the_daemon_was_down_is_reported(d: Daemon) -> None:
    port = free_port()
    cid = d.docker_ok("run", "-d", "-p", f"127.0.0.1:{port}:80", "busybox", "sh", "-c",
                      "echo served > /index.html; exec httpd -f -p 80").strip()
    assert b"served" in _answer(port)
    since = str(int(time.time()))
    assert d.proc is not None
    d.proc.kill()
    d.proc.wait(10)
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        squatter.bind(("127.0.0.1", port))
        squatter.listen(4)
        d.start()
        info = json.loads(d.docker_ok("inspect", cid))[0]
        assert info["State"]["Running"] is True  # the container itself is fine
        assert "port is already allocated" in info["State"]["Error"]
        assert f"127.0.0.1:{port}" in info["State"]["Error"]
        assert info["NetworkSettings"]["Ports"].get("80/tcp") in (None, [])
        assert f":{port}->" not in d.docker_ok("ps", "--filter", f"id={cid}", "--format", "{{.Ports}}")
        # No longer forwarded: a client reaches the process that owns the port now.
        client = socket.create_connection(("127.0.0.1", port), timeout=5)
        squatter.settimeout(5)
        accepted, _ = squatter.accept()
        accepted.close()
        client.close()
        events = d.docker_ok("events", "--since", since, "--until", str(int(time.time()) + 1),
                             "--filter", f"container={cid}", "--format", "{{.Action}}")
        assert "port_conflict" in events.split()
    finally:
        squatter.close()
        d.docker("rm", "-f", cid)


def test_scratch_left_by_a_killed_daemon_is_cleaned_at_start(d: Daemon) -> None:
    assert d.proc is not None
    d.proc.kill()
    d.proc.wait(10)
    tmp, active = d.data_root / "tmp", d.data_root / "snapshots" / "active"
    (tmp / "upload-spool").write_bytes(b"x" * (1 << 20))  # a spooled upload
    mounted = tmp / "build-deadbeef"  # a build step's root filesystem, still mounted
    mounted.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(mounted)], check=True)
    (mounted / "file").write_text("inside")
    (active / "build-0123456789abcdef" / "fs").mkdir(parents=True)  # a build's snapshot
    try:
        d.start()
        assert list(tmp.iterdir()) == []
        assert not os.path.ismount(mounted)
        assert not (active / "build-0123456789abcdef").exists()
    finally:
        if os.path.ismount(mounted):
            subprocess.run(["umount", str(mounted)], check=False)

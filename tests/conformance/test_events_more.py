"""Events dockerd emits beyond a container's lifecycle: networks, volume mounts, kill signals,
exec sessions, and ``docker info``'s count of live readers — through the stock docker CLI."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import docker

from .daemon import Daemon


def _events(d: Daemon, since: float, *filters: str) -> list[dict[str, Any]]:
    args = ["events", "--since", f"{since:.6f}", "--until", f"{time.time():.6f}",
            "--format", "{{json .}}"]
    for item in filters:
        args += ["--filter", item]
    return [json.loads(line) for line in d.docker_ok(*args, timeout=30).splitlines()]


def test_network_events(daemon: Daemon, name: Callable[[str], str]) -> None:
    since = time.time()
    net, ctr = name("evnet"), name("evnetc")
    net_id = daemon.docker_ok("network", "create", net).strip()
    try:
        cid = daemon.docker_ok("run", "-d", "--name", ctr, "busybox", "sleep", "300").strip()
        daemon.docker_ok("network", "connect", net, ctr)
        daemon.docker_ok("network", "disconnect", net, ctr)
        daemon.docker_ok("run", "--rm", "--network", net, "busybox", "true")
    finally:
        daemon.docker("rm", "-f", ctr)
        daemon.docker_ok("network", "rm", net)
    events = _events(daemon, since, f"network={net}")
    assert [e["Action"] for e in events] == [
        "create", "connect", "disconnect", "connect", "disconnect", "destroy"], events
    assert all(e["Type"] == "network" and e["Actor"]["ID"] == net_id for e in events)
    assert events[0]["Actor"]["Attributes"] == {"name": net, "type": "bridge"}
    assert events[1]["Actor"]["Attributes"]["container"] == cid
    # The default bridge's endpoint of a started container is an event too.
    bridge = _events(daemon, since, "type=network", "network=bridge", "event=connect")
    assert any(e["Actor"]["Attributes"].get("container") == cid for e in bridge)


def test_volume_mount_and_unmount_events(daemon: Daemon, name: Callable[[str], str]) -> None:
    since = time.time()
    vol = name("evvol")
    cid = daemon.docker_ok("run", "-d", "-v", f"{vol}:/data:ro", "busybox", "true").strip()
    try:
        daemon.docker_ok("wait", cid)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(_events(daemon, since, f"volume={vol}")) < 3:
            time.sleep(0.1)
        events = _events(daemon, since, f"volume={vol}")
        assert [e["Action"] for e in events] == ["create", "mount", "unmount"], events
        assert events[1]["Actor"]["Attributes"] == {
            "container": cid, "destination": "/data", "driver": "local", "propagation": "",
            "read/write": "false"}
        assert events[2]["Actor"]["Attributes"] == {"container": cid, "driver": "local"}
    finally:
        daemon.docker("rm", "-f", cid)
        daemon.docker("volume", "rm", vol)


def test_stop_and_kill_emit_kill_with_the_signal(daemon: Daemon, container: Callable[..., str]) -> None:
    since = time.time()
    stubborn = container("busybox", "sleep", "300")  # PID 1 ignores SIGTERM: stop escalates
    daemon.docker_ok("stop", "-t", "1", stubborn)
    events = [e for e in _events(daemon, since, f"container={stubborn}")
              if e["Action"] in ("kill", "die", "stop")]
    assert [e["Action"] for e in events] == ["kill", "kill", "die", "stop"], events
    assert [e["Actor"]["Attributes"]["signal"] for e in events[:2]] == ["15", "9"]
    since = time.time()
    killed = container("busybox", "sleep", "300")
    daemon.docker_ok("kill", "-s", "USR1", killed)
    daemon.docker_ok("kill", killed)
    events = [e for e in _events(daemon, since, f"container={killed}")
              if e["Action"] in ("kill", "die")]
    assert [(e["Action"], e["Actor"]["Attributes"].get("signal")) for e in events] == [
        ("kill", "10"), ("kill", "9"), ("die", None)], events


def test_exec_events(daemon: Daemon, container: Callable[..., str]) -> None:
    cid = container("busybox", "sleep", "300")
    since = time.time()
    code, _, _ = daemon.docker("exec", cid, "sh", "-c", "exit 3")
    assert code == 3
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(_events(daemon, since, f"container={cid}")) < 3:
        time.sleep(0.1)
    events = _events(daemon, since, f"container={cid}")
    assert [e["Action"] for e in events] == [
        "exec_create: sh -c exit 3", "exec_start: sh -c exit 3", "exec_die"], events
    exec_ids = {e["Actor"]["Attributes"]["execID"] for e in events}
    assert len(exec_ids) == 1
    assert events[2]["Actor"]["Attributes"]["exitCode"] == "3"
    assert [e["Action"] for e in _events(daemon, since, f"container={cid}", "event=exec_die")] == [
        "exec_die"]


def test_info_counts_events_listeners(daemon: Daemon, client: docker.DockerClient) -> None:
    def listeners() -> int:
        return int(daemon.docker_ok("info", "--format", "{{.NEventsListener}}").strip())

    before = listeners()
    stream = client.events(decode=True)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and listeners() != before + 1:
            time.sleep(0.1)
        assert listeners() == before + 1
    finally:
        stream.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and listeners() != before:
        time.sleep(0.2)
    assert listeners() == before

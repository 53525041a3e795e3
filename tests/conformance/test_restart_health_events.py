"""Restart policies, healthchecks and events through the stock docker CLI and docker-py."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import docker
import pytest

from .daemon import Daemon
from .polling import wait_for


def _inspect(d: Daemon, ref: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(d.docker_ok("container", "inspect", ref))[0]
    return data


def _actions(d: Daemon, since: float, until: float, *filters: str) -> list[str]:
    args = ["events", "--since", f"{since:.6f}", "--until", f"{until:.6f}", "--format", "{{.Action}}"]
    for item in filters:
        args += ["--filter", item]
    return d.docker_ok(*args, timeout=30).splitlines()


# ---- restart policies ----
def test_on_failure_2_restarts_exactly_twice(daemon: Daemon, container: Callable[..., str]) -> None:
    since = time.time()
    cid = container("--restart", "on-failure:2", "busybox", "sh", "-c", "exit 3")

    def settled() -> dict[str, Any] | None:
        data = _inspect(daemon, cid)
        return data if data["State"]["Status"] == "exited" and data["RestartCount"] == 2 else None

    data = wait_for(settled, what="two restarts then exited")
    time.sleep(1.5)  # a third restart would come within 400 ms
    data = _inspect(daemon, cid)
    assert data["RestartCount"] == 2
    assert (data["State"]["Status"], data["State"]["ExitCode"]) == ("exited", 3)
    assert data["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
    actions = _actions(daemon, since, time.time(), f"container={cid}")
    assert actions.count("start") == 3 and actions.count("die") == 3, actions


def test_always_restarts_until_stopped(daemon: Daemon, container: Callable[..., str]) -> None:
    # Each run lasts 2 s: after the user's start below, a second restart is seconds away, so the
    # count read at once is the reset one even on a loaded machine (the backoff starts at 0.1 s).
    cid = container("--restart", "always", "busybox", "sh", "-c", "sleep 2; exit 0")
    wait_for(lambda: _inspect(daemon, cid)["RestartCount"] >= 2, what="restarts of a clean exit")
    daemon.docker_ok("stop", "-t", "1", cid)
    count = _inspect(daemon, cid)["RestartCount"]
    time.sleep(1.0)
    data = _inspect(daemon, cid)
    assert data["State"]["Status"] == "exited" and data["RestartCount"] == count
    # A user's start clears the count, as dockerd's does.
    daemon.docker_ok("start", cid)
    assert _inspect(daemon, cid)["RestartCount"] <= 1


def test_restart_with_rm_is_refused(daemon: Daemon) -> None:
    code, _, err = daemon.docker("run", "--rm", "--restart", "always", "busybox", "true")
    assert code != 0 and "--restart" in err and "--rm" in err
    status, body = daemon.request_json("POST", f"{daemon.api}/containers/create", {
        "Image": "busybox", "Cmd": ["true"],
        "HostConfig": {"AutoRemove": True, "RestartPolicy": {"Name": "always"}}})
    assert status == 400
    assert body["message"] == "can't create 'AutoRemove' container with restart policy"


def test_invalid_restart_policy(daemon: Daemon) -> None:
    status, body = daemon.request_json("POST", f"{daemon.api}/containers/create", {
        "Image": "busybox", "HostConfig": {"RestartPolicy": {"Name": "sometimes"}}})
    assert status == 400 and "invalid restart policy: unknown policy 'sometimes'" in body["message"]


def test_always_comes_back_after_a_daemon_restart(daemon_factory: Callable[..., Daemon]) -> None:
    d = daemon_factory()
    d.docker_ok("run", "-d", "--name", "always", "--restart", "always", "busybox", "sleep", "300")
    d.docker_ok("run", "-d", "--name", "unless", "--restart", "unless-stopped", "busybox",
                "sleep", "300")
    d.docker_ok("stop", "-t", "1", "always", "unless")
    assert _inspect(d, "always")["State"]["Status"] == "exited"  # stop cancels the policy
    d.stop()
    d.start()
    state = wait_for(lambda: (s := _inspect(d, "always")["State"])["Status"] == "running" and s,
                   what="the always container to run again")
    assert state["Pid"] > 0
    assert d.docker_ok("exec", "always", "echo", "back").strip() == "back"
    assert _inspect(d, "unless")["State"]["Status"] == "exited"


# ---- healthchecks ----
def test_healthcheck_goes_starting_then_healthy(daemon: Daemon, container: Callable[..., str]) -> None:
    cid = container("--health-cmd", "echo probing; true", "--health-interval", "500ms",
                    "--health-retries", "2", "busybox", "sleep", "300")
    first = _inspect(daemon, cid)["State"]["Health"]
    assert first["Status"] == "starting" and first["FailingStreak"] == 0
    assert "(health: starting)" in daemon.docker_ok("ps", "--filter", f"id={cid}",
                                                    "--format", "{{.Status}}")
    health = wait_for(lambda: (h := _inspect(daemon, cid)["State"]["Health"])["Status"] == "healthy" and h,
                    what="healthy")
    entry = health["Log"][-1]
    assert entry["ExitCode"] == 0 and entry["Output"] == "probing\n"
    assert entry["End"] >= entry["Start"]
    status = daemon.docker_ok("ps", "--filter", f"id={cid}", "--format", "{{.Status}}").strip()
    assert status.endswith("(healthy)"), status
    assert daemon.docker_ok("ps", "-q", "--no-trunc", "--filter", "health=healthy").split().count(cid) == 1
    assert cid not in daemon.docker_ok("ps", "-q", "--no-trunc", "--filter", "health=unhealthy")
    wait_for(lambda: len(_inspect(daemon, cid)["State"]["Health"]["Log"]) == 5, what="five probes")
    time.sleep(0.7)
    assert len(_inspect(daemon, cid)["State"]["Health"]["Log"]) == 5  # only the last five are kept


def test_healthcheck_through_docker_py(client: docker.DockerClient, name: Callable[[str], str]) -> None:
    ctr = client.containers.run("busybox", ["sleep", "300"], detach=True, name=name("hpy"),
                                healthcheck={"Test": ["CMD", "true"], "Interval": 300_000_000,
                                             "Retries": 1})
    try:
        assert client.api.inspect_container(ctr.id)["State"]["Health"]["Status"] == "starting"
        wait_for(lambda: client.api.inspect_container(ctr.id)["State"]["Health"]["Status"] == "healthy",
               what="healthy")
        listed = [c["Id"] for c in client.api.containers(filters={"health": "healthy"})]
        assert ctr.id in listed
        assert ctr.id not in [c["Id"] for c in client.api.containers(filters={"health": "starting"})]
    finally:
        ctr.remove(force=True)


def test_healthcheck_goes_unhealthy(daemon: Daemon, container: Callable[..., str]) -> None:
    since = time.time()
    cid = container("--health-cmd", "echo sick >&2; exit 1", "--health-interval", "300ms",
                    "--health-retries", "2", "busybox", "sleep", "300")
    health = wait_for(lambda: (h := _inspect(daemon, cid)["State"]["Health"])["Status"] == "unhealthy" and h,
                    what="unhealthy")
    assert health["FailingStreak"] >= 2
    assert health["Log"][-1]["ExitCode"] == 1 and "sick" in health["Log"][-1]["Output"]
    assert "(unhealthy)" in daemon.docker_ok("ps", "--filter", f"id={cid}", "--format", "{{.Status}}")
    assert cid in daemon.docker_ok("ps", "-q", "--no-trunc", "--filter", "health=unhealthy")
    actions = _actions(daemon, since, time.time(), f"container={cid}", "event=health_status")
    assert actions == ["health_status: unhealthy"]


def test_healthcheck_timeout_and_no_healthcheck(daemon: Daemon, container: Callable[..., str]) -> None:
    slow = container("--health-cmd", "sleep 5", "--health-interval", "300ms", "--health-timeout",
                     "200ms", "--health-retries", "1", "busybox", "sleep", "300")
    health = wait_for(lambda: (h := _inspect(daemon, slow)["State"]["Health"])["Status"] == "unhealthy" and h,
                    what="a timed-out probe")
    assert health["Log"][-1]["ExitCode"] == -1
    assert "Health check exceeded timeout" in health["Log"][-1]["Output"]
    none = container("--no-healthcheck", "busybox", "sleep", "300")
    assert "Health" not in _inspect(daemon, none)["State"]
    assert none in daemon.docker_ok("ps", "-q", "--no-trunc", "--filter", "health=none")


# ---- events ----
def test_events_since_until_see_a_container_lifecycle(daemon: Daemon, name: Callable[[str], str],
                                                      client: docker.DockerClient) -> None:
    since = time.time()
    n = name("ev")
    daemon.docker_ok("run", "--name", n, "busybox", "true")
    daemon.docker_ok("rm", n)
    until = time.time()
    actions = [a for a in _actions(daemon, since, until, f"container={n}") if a != "attach"]
    assert actions == ["create", "start", "die", "destroy"], actions
    lines = daemon.docker_ok("events", "--since", f"{since:.6f}", "--until", f"{until:.6f}",
                             "--filter", f"container={n}", "--filter", "event=die",
                             "--format", "{{json .}}").splitlines()
    event = json.loads(lines[0])
    assert event["Type"] == "container" and event["Actor"]["Attributes"]["exitCode"] == "0"
    assert event["Actor"]["Attributes"]["name"] == n
    assert event["Actor"]["Attributes"]["image"] == "busybox"
    # docker-py reads the same stream.
    seen = [e["Action"] for e in client.events(since=since, until=until, decode=True,
                                               filters={"container": n, "type": "container"})]
    assert [a for a in seen if a != "attach"] == ["create", "start", "die", "destroy"]
    assert _actions(daemon, since, until, f"container={n}", "type=image") == []


def test_events_stream_live(daemon: Daemon, name: Callable[[str], str],
                            client: docker.DockerClient) -> None:
    n = name("live")
    stream = client.events(decode=True, filters={"container": n, "event": "start"})
    try:
        daemon.docker_ok("run", "-d", "--name", n, "busybox", "true")
        event = next(iter(stream))
        assert event["Action"] == "start" and event["Actor"]["Attributes"]["name"] == n
    finally:
        stream.close()
        daemon.docker("rm", "-f", n)


def test_events_bad_filter_is_400(daemon: Daemon) -> None:
    query = "until=1&filters=%7B%22bogus%22%3A%5B%22x%22%5D%7D"  # {"bogus": ["x"]}
    status, body = daemon.request_json("GET", f"{daemon.api}/events?{query}")
    assert status == 400 and body["message"] == "invalid filter 'bogus'"


@pytest.mark.parametrize("flag", ["--restart=on-failure:-1"])
def test_negative_retry_count_refused(daemon: Daemon, flag: str) -> None:
    code, _, err = daemon.docker("create", flag, "busybox", "true")
    assert code != 0 and err


def test_our_cli_events_and_health_flags(daemon: Daemon, name: Callable[[str], str]) -> None:
    import subprocess
    import sys

    def dockyard(*args: str) -> str:
        proc = subprocess.run([sys.executable, "-m", "dockyard.cli.main", *args], capture_output=True,
                              env=daemon.env(), timeout=60)
        assert proc.returncode == 0, proc.stderr.decode()
        return proc.stdout.decode()

    since = time.time()
    n = name("ours")
    dockyard("run", "-d", "--name", n, "--health-cmd", "true", "--health-interval", "200ms",
             "busybox", "sleep", "300")
    try:
        wait_for(lambda: _inspect(daemon, n)["State"]["Health"]["Status"] == "healthy", what="healthy")
        lines = dockyard("events", "--since", f"{since:.6f}", "--until", f"{time.time():.6f}",
                         "--filter", f"container={n}").splitlines()
        assert [line.split()[2] for line in lines][:2] == ["create", "start"]
        assert any(f"name={n}" in line and "health_status: healthy" in line for line in lines)
    finally:
        daemon.docker("rm", "-f", n)


def test_image_and_volume_events(daemon: Daemon, name: Callable[[str], str]) -> None:
    since = time.time()
    vol, tag = name("vol"), name("tagged")
    daemon.docker_ok("volume", "create", vol)
    daemon.docker_ok("volume", "rm", vol)
    daemon.docker_ok("tag", "busybox", f"{tag}:v1")
    daemon.docker_ok("rmi", f"{tag}:v1")
    until = time.time()
    assert _actions(daemon, since, until, f"volume={vol}") == ["create", "destroy"]
    lines = daemon.docker_ok("events", "--since", f"{since:.6f}", "--until", f"{until:.6f}",
                             "--filter", "type=image", "--format",
                             "{{.Action}} {{.Actor.Attributes.name}}").splitlines()
    assert f"tag {tag}:v1" in lines and f"untag {tag}:v1" in lines

"""Rolling updates: start-first gated by a healthcheck, automatic rollback of a failing update,
manual rollback and --force."""

from __future__ import annotations

import json

import docker
from conformance.daemon import Daemon
from conformance.polling import wait_for

from .conftest import running_tasks


def _service(swarm: Daemon, name: str) -> dict[str, object]:
    return json.loads(swarm.docker_ok("service", "inspect", name))[0]  # type: ignore[no-any-return]


def _ns(stamp: str) -> int:
    from dockyard.core.timestamps import parse_ns

    return parse_ns(stamp)


def test_start_first_update_waits_for_healthy_tasks(swarm: Daemon) -> None:
    swarm.docker_ok("service", "create", "-d", "--no-resolve-image", "--name", "rolling", "--replicas", "2",
                    "--health-cmd", "test -f /tmp/ready", "--health-interval", "1s", "--health-retries", "30",
                    "--update-order", "start-first", "--update-parallelism", "1", "--update-monitor", "1s",
                    "--stop-grace-period", "1s",
                    "--env", "V=1", "busybox", "sh", "-c", "sleep 2; touch /tmp/ready; sleep 600")
    try:
        wait_for(lambda: len(running_tasks(swarm, "rolling")) == 2, 90, "2 healthy tasks")
        old = {t["Slot"]: t["ID"] for t in running_tasks(swarm, "rolling")}
        swarm.docker_ok("service", "update", "-d", "--env-add", "V=2", "rolling")
        status = wait_for(lambda: (_service(swarm, "rolling").get("UpdateStatus") or {}).get("State")
                          == "completed" and _service(swarm, "rolling")["UpdateStatus"],
                          120, "update completed")
        assert status["Message"] == "update completed"
        client = docker.APIClient(base_url=swarm.host)
        try:
            def stopped() -> dict[str, dict[str, object]] | None:
                every = {t["ID"]: t for t in client.tasks(filters={"service": "rolling"})}
                return every if all(every[i]["Status"]["State"] == "shutdown" for i in old.values()) else None
            every = wait_for(stopped, 60, "old tasks shut down")
        finally:
            client.close()
        new = [t for t in running_tasks(swarm, "rolling")]
        assert sorted(t["Slot"] for t in new) == [1, 2] and not set(old.values()) & {t["ID"] for t in new}
        for task in new:
            assert "V=2" in task["Spec"]["ContainerSpec"]["Env"]
            before = every[old[task["Slot"]]]
            assert before["DesiredState"] == "shutdown" and before["Status"]["State"] == "shutdown"
            # start-first and health-gated: the old task stopped only after its successor was
            # healthy, and that took the two seconds the healthcheck waits for.
            assert _ns(before["Status"]["Timestamp"]) >= _ns(task["Status"]["Timestamp"])
            assert _ns(task["Status"]["Timestamp"]) - _ns(task["CreatedAt"]) >= 1_500_000_000
    finally:
        swarm.docker_ok("service", "rm", "rolling")


def test_failing_update_rolls_back_automatically(swarm: Daemon) -> None:
    swarm.docker_ok("service", "create", "-d", "--no-resolve-image", "--name", "fragile", "--replicas", "2",
                    "--restart-delay", "1s", "--update-failure-action", "rollback",
                    "--stop-grace-period", "1s",
                    "--update-monitor", "3s", "busybox", "sleep", "600")
    try:
        wait_for(lambda: len(running_tasks(swarm, "fragile")) == 2, 60, "2 tasks")
        swarm.docker_ok("service", "update", "-d", "--args", "sh -c 'exit 3'", "fragile")
        status = wait_for(lambda: (_service(swarm, "fragile").get("UpdateStatus") or {}).get("State")
                          == "rollback_completed" and _service(swarm, "fragile")["UpdateStatus"],
                          120, "rollback completed")
        assert status["Message"] == "rollback completed"
        spec = _service(swarm, "fragile")["Spec"]
        assert spec["TaskTemplate"]["ContainerSpec"]["Args"] == ["sleep", "600"]  # type: ignore[index]
        wait_for(lambda: len(running_tasks(swarm, "fragile")) == 2, 60, "2 tasks after rollback")
        for task in running_tasks(swarm, "fragile"):
            assert task["Spec"]["ContainerSpec"]["Args"] == ["sleep", "600"]
        errors = swarm.docker_ok("service", "ps", "--format", "{{.Error}}", "fragile")
        assert "non-zero exit (3)" in errors
    finally:
        swarm.docker_ok("service", "rm", "fragile")


def test_manual_rollback_and_force(swarm: Daemon) -> None:
    swarm.docker_ok("service", "create", "-d", "--no-resolve-image", "--name", "manual",
                    "--update-monitor", "0s", "--stop-grace-period", "1s", "--env", "V=1",
                    "busybox", "sleep", "600")
    try:
        wait_for(lambda: len(running_tasks(swarm, "manual")) == 1, 60, "the task")
        first = running_tasks(swarm, "manual")[0]["ID"]
        swarm.docker_ok("service", "update", "-d", "--force", "manual")
        wait_for(lambda: running_tasks(swarm, "manual") and running_tasks(swarm, "manual")[0]["ID"] != first,
                 60, "a forced redeploy")
        swarm.docker_ok("service", "update", "-d", "--env-add", "V=2", "manual")
        wait_for(lambda: (_service(swarm, "manual").get("UpdateStatus") or {}).get("State") == "completed",
                 60, "update completed")
        swarm.docker_ok("service", "rollback", "-d", "manual")
        wait_for(lambda: (_service(swarm, "manual").get("UpdateStatus") or {}).get("State")
                 == "rollback_completed", 60, "rollback completed")
        env = _service(swarm, "manual")["Spec"]["TaskTemplate"]["ContainerSpec"]["Env"]  # type: ignore[index]
        assert env == ["V=1"]
        wait_for(lambda: running_tasks(swarm, "manual")
                 and running_tasks(swarm, "manual")[0]["Spec"]["ContainerSpec"]["Env"] == ["V=1"], 60, "V=1")
    finally:
        swarm.docker_ok("service", "rm", "manual")

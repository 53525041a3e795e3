"""Services and tasks survive a daemon restart; autolock keeps a restarted daemon locked until
``docker swarm unlock``."""

from __future__ import annotations

import json

from conformance.daemon import Daemon
from conformance.polling import wait_for

from .conftest import running_tasks, task_containers


def test_services_tasks_and_autolock_survive_a_restart(engine: Daemon) -> None:
    out = engine.docker_ok("swarm", "init", "--autolock")
    key = next(word for word in out.split() if word.startswith("SWMKEY-1-"))
    assert engine.docker_ok("swarm", "unlock-key", "-q").strip() == key
    engine.docker_ok("secret", "create", "token", "-", input="hush")
    engine.docker_ok("service", "create", "-d", "--no-resolve-image", "--name", "keep", "--replicas", "2",
                     "--secret", "token", "--restart-delay", "0s", "busybox", "sleep", "600")
    wait_for(lambda: len(running_tasks(engine, "keep")) == 2, 60, "2 tasks")
    before = sorted(t["ID"] for t in running_tasks(engine, "keep"))
    containers = sorted(task_containers(engine, "keep"))

    engine.stop()
    engine.start()
    info = json.loads(engine.docker_ok("info", "--format", "{{json .Swarm}}"))
    assert info["LocalNodeState"] == "locked"
    code, _, err = engine.docker("service", "ls")
    assert code != 0 and "Swarm is encrypted and needs to be unlocked" in err
    wrong = "SWMKEY-1-" + "w" * 43 + "\n"
    code, _, err = engine.docker("swarm", "unlock", input=wrong)
    assert code != 0 and "invalid key" in err
    engine.docker_ok("swarm", "unlock", input=key + "\n")
    assert json.loads(engine.docker_ok("info", "--format", "{{json .Swarm}}"))["LocalNodeState"] == "active"

    # The same tasks and containers: the loop picked up where it was, nothing was recreated.
    wait_for(lambda: len(running_tasks(engine, "keep")) == 2, 60, "2 tasks after restart")
    assert sorted(t["ID"] for t in running_tasks(engine, "keep")) == before
    assert sorted(task_containers(engine, "keep")) == containers
    # …and it still acts: a killed task is replaced, with its secret readable by the new one.
    engine.docker_ok("kill", containers[0])
    wait_for(lambda: len(running_tasks(engine, "keep")) == 2
             and sorted(t["ID"] for t in running_tasks(engine, "keep")) != before, 60, "a replacement")
    fresh = [c for c in task_containers(engine, "keep") if c not in containers]
    assert fresh and engine.docker_ok("exec", fresh[0], "cat", "/run/secrets/token") == "hush"

    # Autolock off: the next restart comes up unlocked.
    engine.docker_ok("swarm", "update", "--autolock=false")
    engine.stop()
    engine.start()
    assert json.loads(engine.docker_ok("info", "--format", "{{json .Swarm}}"))["LocalNodeState"] == "active"
    wait_for(lambda: len(running_tasks(engine, "keep")) == 2, 60, "2 tasks after the second restart")

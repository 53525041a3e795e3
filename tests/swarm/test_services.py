"""Services through the stock CLI and docker-py: convergence, replacement, scale, drain, the
spec reaching the containers, logs, and bad input refused with nothing changed."""

from __future__ import annotations

import json
from urllib.parse import quote

import docker
import pytest
from conformance.daemon import Daemon
from conformance.polling import settled, wait_for

from .conftest import SERVICE_LABEL, running_tasks, task_containers, tasks


def _create(swarm: Daemon, name: str, *args: str) -> str:
    # A short grace period: busybox's sleep as PID 1 ignores SIGTERM, so each stop would wait 10 s.
    grace = [] if "--stop-grace-period" in args else ["--stop-grace-period", "1s"]
    return swarm.docker_ok("service", "create", "-d", "--no-resolve-image", "--name", name, *grace,
                           *args).strip()


def test_replicas_converge_and_a_killed_task_is_replaced(swarm: Daemon) -> None:
    _create(swarm, "conv", "--replicas", "3", "--restart-delay", "0s", "busybox", "sleep", "600")
    try:
        wait_for(lambda: len(running_tasks(swarm, "conv")) == 3, 60, "3 running tasks")
        out = swarm.docker_ok("service", "ls", "--filter", "name=conv", "--format", "{{.Name}} {{.Replicas}}")
        assert out.strip() == "conv 3/3"
        names = swarm.docker_ok("ps", "--format", "{{.Names}}", "--filter", f"{SERVICE_LABEL}=conv")
        slots = sorted(n.split(".")[1] for n in names.split())
        assert slots == ["1", "2", "3"]
        victim = task_containers(swarm, "conv")[0]
        labels = json.loads(swarm.docker_ok("inspect", "--format", "{{json .Config.Labels}}", victim))
        victim_task = labels["com.docker.swarm.task.id"]
        assert labels["com.docker.swarm.service.name"] == "conv"
        assert victim.startswith(swarm.docker_ok("inspect", "--format", "{{.Id}}", victim).strip()[:12])
        swarm.docker_ok("kill", victim)
        wait_for(lambda: len(running_tasks(swarm, "conv")) == 3
                 and victim_task not in {t["ID"] for t in running_tasks(swarm, "conv")}, 60, "a replacement")
        history = tasks(swarm, "conv")
        failed = [t for t in history if t["ID"] == victim_task]
        assert failed and failed[0]["DesiredState"] == "Shutdown"
        assert "non-zero exit (137)" in failed[0]["Error"]
        # A task container removed by hand is replaced too.
        swarm.docker_ok("rm", "-f", task_containers(swarm, "conv")[0])
        wait_for(lambda: len(running_tasks(swarm, "conv")) == 3, 60, "replacement after rm")
    finally:
        swarm.docker_ok("service", "rm", "conv")
    wait_for(lambda: not swarm.docker_ok("ps", "-aq", "--filter", f"{SERVICE_LABEL}=conv"),
             30, "no containers left")


def test_scale_and_drain(swarm: Daemon) -> None:
    _create(swarm, "scaled", "--replicas", "1", "busybox", "sleep", "600")
    try:
        swarm.docker_ok("service", "scale", "-d", "scaled=4")
        wait_for(lambda: len(running_tasks(swarm, "scaled")) == 4, 60, "4 tasks")
        swarm.docker_ok("service", "scale", "-d", "scaled=2")
        wait_for(lambda: len(task_containers(swarm, "scaled")) == 2, 60, "2 containers")
        assert sorted(t["Slot"] for t in running_tasks(swarm, "scaled")) == [1, 2]
        swarm.docker_ok("node", "update", "--availability", "drain", "self")
        try:
            wait_for(lambda: not task_containers(swarm, "scaled"), 60, "drained")
            assert swarm.docker_ok("service", "ls", "--format", "{{.Replicas}}",
                                   "--filter", "name=scaled").strip() == "0/0"
        finally:
            swarm.docker_ok("node", "update", "--availability", "active", "self")
        wait_for(lambda: len(running_tasks(swarm, "scaled")) == 2, 60, "back after drain")
    finally:
        swarm.docker_ok("service", "rm", "scaled")


def test_global_mode_runs_one_task_on_the_node(swarm: Daemon) -> None:
    _create(swarm, "glob", "--mode", "global", "busybox", "sleep", "600")
    try:
        wait_for(lambda: len(running_tasks(swarm, "glob")) == 1, 60, "the global task")
        node_id = swarm.docker_ok("node", "inspect", "--format", "{{.ID}}", "self").strip()
        names = swarm.docker_ok("ps", "--format", "{{.Names}}", "--filter", f"{SERVICE_LABEL}=glob")
        assert names.split()[0].startswith(f"glob.{node_id}.")
    finally:
        swarm.docker_ok("service", "rm", "glob")


def test_spec_reaches_the_container(swarm: Daemon) -> None:
    _create(swarm, "spec", "--hostname", "{{.Service.Name}}-{{.Task.Slot}}", "--env", "A=1",
            "--env", "WHO={{.Service.Name}}", "--workdir", "/tmp", "--user", "65534",
            "--limit-memory", "64m", "--limit-cpu", "0.5", "--container-label", "tier=web",
            "--stop-signal", "SIGUSR1", "--stop-grace-period", "3s", "busybox",
            "sh", "-c", "echo up; hostname; env; sleep 600")
    try:
        wait_for(lambda: len(running_tasks(swarm, "spec")) == 1, 60, "the task")
        cid = task_containers(swarm, "spec")[0]
        config = json.loads(swarm.docker_ok("inspect", cid))[0]
        assert config["Config"]["Hostname"] == "spec-1"
        assert {"A=1", "WHO=spec"} <= set(config["Config"]["Env"])
        assert config["Config"]["WorkingDir"] == "/tmp" and config["Config"]["User"] == "65534"
        assert config["Config"]["Labels"]["tier"] == "web"
        assert config["Config"]["StopSignal"] == "SIGUSR1"
        assert config["HostConfig"]["Memory"] == 64 * 1024 * 1024
        assert config["HostConfig"]["NanoCpus"] == 500_000_000
        assert swarm.docker_ok("exec", cid, "id", "-u").strip() == "65534"
        logs = wait_for(lambda: "spec-1" in (o := swarm.docker("service", "logs", "spec")[1]) and o,
                        30, "logs")
        assert "up" in logs and "spec.1." in logs
    finally:
        swarm.docker_ok("service", "rm", "spec")


def test_dockerpy_services_and_api_client(swarm: Daemon) -> None:
    client = docker.DockerClient(base_url=swarm.host, timeout=60)
    try:
        service = client.services.create("busybox", ["sleep", "600"], name="pysvc",
                                         mode=docker.types.ServiceMode("replicated", replicas=2))
        try:
            wait_for(lambda: len([t for t in service.tasks() if t["Status"]["State"] == "running"]) == 2,
                     60, "2 tasks via docker-py")
            assert [s.name for s in client.services.list(filters={"name": "pysvc"})] == ["pysvc"]
            api = client.api
            spec = api.inspect_service(service.id, insert_defaults=True)
            assert spec["Spec"]["UpdateConfig"]["FailureAction"] == "pause"
            assert spec["Spec"]["TaskTemplate"]["RestartPolicy"]["Condition"] == "any"
            assert "UpdateConfig" not in api.inspect_service(service.id)["Spec"]
            version = spec["Version"]["Index"]
            service.scale(3)
            wait_for(lambda: len(running_tasks(swarm, "pysvc")) == 3, 60, "3 tasks")
            # The version index read before the scale is stale now: refused, nothing changes.
            with pytest.raises(docker.errors.APIError) as stale:
                api.update_service(service.id, version, task_template=spec["Spec"]["TaskTemplate"],
                                   name="pysvc", mode={"Replicated": {"Replicas": 1}})
            assert "update out of sequence" in str(stale.value)
            assert len(running_tasks(swarm, "pysvc")) == 3
        finally:
            service.remove()
    finally:
        client.close()


@pytest.mark.parametrize(("spec_change", "status", "text"), [
    ({"Mode": {"Replicated": {"Replicas": -1}}}, 400, "cannot unmarshal number -1"),
    ({"Mode": {"Sometimes": {}}}, 400, "unrecognized service mode"),
    ({"TaskTemplate": {"ContainerSpec": {"Image": "Bad::Ref"}}}, 400, "is not a valid repository/tag"),
    ({"UpdateConfig": {"Delay": "10x"}}, 400, "time.Duration"),
    ({"UpdateConfig": {"FailureAction": "explode"}}, 400, "unrecognized failure action"),
    ({"Name": "bad name!"}, 400, "name must be valid as a DNS name component"),
])
def test_bad_specs_are_refused_and_change_nothing(swarm: Daemon, spec_change: dict[str, object],
                                                  status: int, text: str) -> None:
    spec: dict[str, object] = {"Name": "badsvc", "TaskTemplate": {"ContainerSpec": {"Image": "busybox"}}}
    spec.update(spec_change)
    before = swarm.docker_ok("service", "ls", "-q")
    code, body = swarm.request_json("POST", f"{swarm.api}/services/create", spec)
    assert code == status and text in body["message"], body
    assert swarm.docker_ok("service", "ls", "-q") == before


def test_duplicate_name_and_port_conflict(swarm: Daemon) -> None:
    _create(swarm, "dup", "--publish", "18931:80", "busybox", "sleep", "600")
    try:
        code, _, err = swarm.docker("service", "create", "-d", "--no-resolve-image", "--name", "dup",
                                    "busybox")
        assert code != 0 and "already exists" in err
        code, _, err = swarm.docker("service", "create", "-d", "--no-resolve-image", "--name", "dup2",
                                    "--publish", "18931:80", "busybox")
        assert code != 0 and "port '18931' is already in use by service 'dup'" in err
        assert "dup2" not in swarm.docker_ok("service", "ls", "--format", "{{.Name}}").split()
    finally:
        swarm.docker_ok("service", "rm", "dup")


def test_create_without_detach_waits_until_converged(swarm: Daemon) -> None:
    code, out, err = swarm.docker("service", "create", "--no-resolve-image", "--name", "fg",
                                  "--update-monitor", "1s", "--stop-grace-period", "1s",
                                  "busybox", "sleep", "600", timeout=120)
    try:
        assert code == 0, err
        assert "converged" in out + err
        assert len(running_tasks(swarm, "fg")) == 1
    finally:
        swarm.docker_ok("service", "rm", "fg")


def test_task_history_is_kept_to_the_limit(swarm: Daemon) -> None:
    swarm.docker_ok("swarm", "update", "--task-history-limit", "2")
    _create(swarm, "hist", "--restart-delay", "0s", "busybox", "sleep", "600")
    try:
        for _ in range(3):
            wait_for(lambda: len(running_tasks(swarm, "hist")) == 1, 60, "a running task")
            current = running_tasks(swarm, "hist")[0]["ID"]
            swarm.docker_ok("kill", task_containers(swarm, "hist")[0])
            wait_for(lambda c=current: running_tasks(swarm, "hist")
                     and running_tasks(swarm, "hist")[0]["ID"] != c, 60, "a replacement")
        wait_for(lambda: len(tasks(swarm, "hist")) == 2, 30, "history pruned to 2")
        # The pruned tasks' containers went with them.
        assert len(swarm.docker_ok("ps", "-aq", "--filter", f"{SERVICE_LABEL}=hist").split()) == 2
    finally:
        swarm.docker_ok("service", "rm", "hist")
        swarm.docker_ok("swarm", "update", "--task-history-limit", "5")


def test_a_missing_image_rejects_the_task_without_pulling(swarm: Daemon) -> None:
    _create(swarm, "noimg", "nosuch/image:1")
    try:
        task = wait_for(lambda: next((t for t in tasks(swarm, "noimg")
                                      if t["CurrentState"].startswith("Rejected")), None),
                        60, "a rejected task")
        assert "No such image" in task["Error"]
    finally:
        swarm.docker_ok("service", "rm", "noimg")


def test_rm_while_tasks_start_leaves_no_container(swarm: Daemon) -> None:
    # Removed at once, the service's tasks are still being created and started (some queued behind
    # the orchestrator's launch limit): none of their containers may outlive the removal.
    for round_ in range(4):
        name = f"rmfast{round_}"
        service_id = _create(swarm, name, "--replicas", "6", "busybox", "sleep", "600")
        swarm.docker_ok("service", "rm", name)
        left = settled(lambda n=name: task_containers(swarm, n, "-a"), 10)
        assert left == [], f"round {round_}: containers of the removed service are left"
        status, data = swarm.request_json("GET", f"{swarm.api}/tasks")
        assert status == 200, data
        assert [t["ID"] for t in data if t["ServiceID"] == service_id] == []


def test_scale_to_zero_while_tasks_start_shuts_every_task_down(swarm: Daemon) -> None:
    # Scaled down while its tasks are still being created: each task still ends shut down, none
    # stays "starting" with a container that nothing will ever stop or prune.
    _create(swarm, "scale0", "--replicas", "6", "busybox", "sleep", "600")
    try:
        swarm.docker_ok("service", "scale", "-d", "scale0=0")

        def unsettled() -> list[str]:
            status, data = swarm.request_json(
                "GET", f"{swarm.api}/tasks?filters=" + quote(json.dumps({"service": ["scale0"]})))
            assert status == 200, data
            return [f"{t['Slot']}: {t['Status']['State']}" for t in data
                    if t["Status"]["State"] not in ("shutdown", "complete", "failed", "rejected")]
        assert settled(unsettled, 20) == []
        assert task_containers(swarm, "scale0") == []
    finally:
        swarm.docker_ok("service", "rm", "scale0")

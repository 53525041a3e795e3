"""``docker stack deploy/ls/ps/services/rm`` of a compose file with ``deploy:`` keys, an overlay
network, an external secret and a healthcheck; ``rm`` leaves nothing behind."""

from __future__ import annotations

import json
from pathlib import Path

from conformance.daemon import Daemon
from conformance.polling import wait_for

from .conftest import running_tasks

COMPOSE = """
version: "3.8"
services:
  web:
    image: busybox
    command: ["sh", "-c", "cat /run/secrets/token; echo; sleep 600"]
    healthcheck:
      test: ["CMD", "true"]
      interval: 1s
    secrets: [token]
    networks: [back]
    deploy:
      replicas: 2
      labels: {tier: front}
      resources:
        limits: {memory: 64M}
      restart_policy: {condition: any, delay: 1s}
      update_config: {parallelism: 1, order: start-first}
      rollback_config: {parallelism: 1}
      placement:
        constraints: ["node.role == manager"]
  worker:
    image: busybox
    command: ["sleep", "600"]
    networks: [back]
    deploy:
      endpoint_mode: dnsrr
      placement:
        constraints: ["node.labels.gpu == yes"]
networks:
  back:
    driver: overlay
secrets:
  token:
    external: true
"""


def test_stack_deploy_ls_ps_services_and_rm(swarm: Daemon, tmp_path: Path) -> None:
    compose = tmp_path / "compose.yml"
    compose.write_text(COMPOSE)
    swarm.docker_ok("secret", "create", "token", "-", input="t0k3n")
    try:
        swarm.docker_ok("stack", "deploy", "--resolve-image", "never", "-c", str(compose), "app")
        assert swarm.docker_ok("stack", "ls", "--format", "{{.Name}} {{.Services}}").split() == ["app", "2"]
        wait_for(lambda: len(running_tasks(swarm, "app_web")) == 2, 90, "app_web running")
        services = swarm.docker_ok("stack", "services", "--format", "{{.Name}} {{.Replicas}}", "app")
        assert "app_web 2/2" in services
        web = json.loads(swarm.docker_ok("service", "inspect", "app_web"))[0]["Spec"]
        assert web["Labels"]["tier"] == "front"
        assert web["TaskTemplate"]["Resources"]["Limits"]["MemoryBytes"] == 64 * 1024 * 1024
        assert web["UpdateConfig"]["Order"] == "start-first"
        network = json.loads(swarm.docker_ok("network", "inspect", "app_back"))[0]
        assert (network["Driver"], network["Scope"]) == ("overlay", "swarm")
        # The worker's constraint fits no node: pending, with swarmkit's reason, until it does.
        ps = swarm.docker_ok("stack", "ps", "--no-trunc", "--format",
                             "{{.Name}} {{.CurrentState}} {{.Error}}", "app")
        assert any(line.startswith("app_worker.1 Pending") and "constraints not satisfied" in line
                   for line in ps.splitlines()), ps
        swarm.docker_ok("node", "update", "--label-add", "gpu=yes", "self")
        wait_for(lambda: len(running_tasks(swarm, "app_worker")) == 1, 60, "worker placed")
        logs = swarm.docker_ok("service", "logs", "app_web")
        assert "t0k3n" in logs
    finally:
        swarm.docker_ok("stack", "rm", "app")
    wait_for(lambda: not swarm.docker_ok("ps", "-aq", "--filter", "label=com.docker.stack.namespace=app"),
             60, "stack containers gone")
    assert swarm.docker_ok("service", "ls", "-q") == ""
    wait_for(lambda: "app_back" not in swarm.docker_ok("network", "ls", "--format", "{{.Name}}"), 30,
             "network removed")
    assert swarm.docker_ok("stack", "ls", "--format", "{{.Name}}").strip() == ""
    swarm.docker_ok("secret", "rm", "token")

"""Our own ``dockyard`` CLI: swarm, node, service, secret, config and stack commands, with
docker's flags and columns, against a daemon of this module's own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conformance.daemon import Daemon
from conformance.polling import wait_for

from .conftest import running_tasks

COMPOSE = """
services:
  api:
    image: busybox
    command: sleep 600
    stop_grace_period: 1s
    environment: {MODE: prod}
    secrets: [key]
    deploy:
      replicas: 2
      update_config: {order: start-first}
secrets:
  key:
    file: ./key.txt
"""



def dockyard(engine: Daemon, *args: str, input: str | None = None) -> tuple[int, str, str]:
    proc = subprocess.run([sys.executable, "-m", "dockyard.cli.main", *args], input=input,
                          capture_output=True, text=True, env=engine.env(), timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


def ok(engine: Daemon, *args: str, input: str | None = None) -> str:
    code, out, err = dockyard(engine, *args, input=input)
    assert code == 0, f"dockyard {' '.join(args)}: {err or out}"
    return out


@pytest.mark.slow
def test_our_cli_drives_swarm_mode(engine: Daemon, tmp_path: Path) -> None:
    code, _, err = dockyard(engine, "service", "ls")
    assert code == 1 and "not a swarm manager" in err and len(err.strip().splitlines()) == 1
    assert "is now a manager" in ok(engine, "swarm", "init")
    node = ok(engine, "node", "ls").splitlines()
    assert node[0].split() == ["ID", "HOSTNAME", "STATUS", "AVAILABILITY", "MANAGER", "STATUS", "ENGINE",
                               "VERSION"]
    assert "Leader" in node[1] and "*" in node[1]
    ok(engine, "secret", "create", "pw", "-", input="hunter2")
    assert ok(engine, "secret", "ls", "--format", "{{.Name}}").split() == ["pw"]
    ok(engine, "service", "create", "--name", "cli", "--replicas", "2", "--secret", "pw",
       "--env", "A=1", "--stop-grace-period", "1s", "--update-monitor", "1s",
       "busybox", "sleep", "600")  # waits for convergence without -d
    assert ok(engine, "service", "ls", "--format", "{{.Name}} {{.Replicas}}").split() == ["cli", "2/2"]
    ps = ok(engine, "service", "ps", "cli").splitlines()
    assert ps[0].split()[:3] == ["ID", "NAME", "IMAGE"] and len(ps) == 3
    ok(engine, "service", "scale", "cli=3")
    assert len(running_tasks(engine, "cli")) == 3
    ok(engine, "service", "update", "-d", "--env-add", "A=2", "cli")
    wait_for(lambda: all("A=2" in t["Spec"]["ContainerSpec"]["Env"] for t in running_tasks(engine, "cli"))
             and len(running_tasks(engine, "cli")) == 3, 120, "updated tasks")
    code, _, err = dockyard(engine, "secret", "rm", "pw")
    assert code == 1 and "in use by the following service: cli" in err
    ok(engine, "service", "rm", "cli")
    ok(engine, "secret", "rm", "pw")

    (tmp_path / "key.txt").write_text("k3y")
    (tmp_path / "compose.yml").write_text(COMPOSE)
    ok(engine, "stack", "deploy", "-c", str(tmp_path / "compose.yml"), "shop")
    assert ok(engine, "stack", "ls", "--format", "{{.Name}} {{.Services}}").split() == ["shop", "1"]
    wait_for(lambda: len(running_tasks(engine, "shop_api")) == 2, 60, "stack tasks")
    assert "shop_api 2/2" in ok(engine, "stack", "services", "--format", "{{.Name}} {{.Replicas}}", "shop")
    assert ok(engine, "stack", "ps", "shop").count("shop_api.") == 2
    cid = engine.docker_ok("ps", "-q", "--filter", "label=com.docker.stack.namespace=shop").split()[0]
    assert engine.docker_ok("exec", cid, "cat", "/run/secrets/key") == "k3y"
    ok(engine, "stack", "rm", "shop")
    wait_for(lambda: not engine.docker_ok("ps", "-aq", "--filter", "label=com.docker.stack.namespace=shop"),
             60, "stack gone")
    assert engine.docker_ok("secret", "ls", "-q") == ""
    assert "shop_default" not in engine.docker_ok("network", "ls", "--format", "{{.Name}}")
    (tmp_path / "bad.yml").write_text("services:\n  x:\n    image: busybox\n    privileged: true\n")
    code, _, err = dockyard(engine, "stack", "deploy", "-c", str(tmp_path / "bad.yml"), "bad")
    assert code == 1 and "unsupported compose keys: privileged" in err
    code, _, err = dockyard(engine, "swarm", "join", "--token", "x", "127.0.0.1:2377")
    assert code == 1 and "multi-host" in err
    assert "Node left the swarm." in ok(engine, "swarm", "leave", "--force")

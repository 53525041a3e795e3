"""Secrets and configs: files inside tasks, never in inspect, encrypted at rest, in-use removal
refused naming the service, size limits."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import docker
import pytest
from conformance.daemon import Daemon
from conformance.polling import wait_for

from .conftest import running_tasks, task_containers

SECRET = "s3cr3t-value-7f1c"


def test_secret_and_config_as_files_and_not_in_inspect(swarm: Daemon) -> None:
    client = docker.DockerClient(base_url=swarm.host, timeout=60)
    try:
        swarm.docker_ok("secret", "create", "dbpass", "-", input=SECRET)
        config = client.configs.create(name="appconf", data=b"listen=80\n", labels={"k": "v"})
        assert base64.b64decode(client.configs.get("appconf").attrs["Spec"]["Data"]) == b"listen=80\n"
        secret_attrs = client.secrets.get("dbpass").attrs
        assert "Data" not in secret_attrs["Spec"]
        swarm.docker_ok("service", "create", "-d", "--no-resolve-image", "--name", "withsecret",
                        "--secret", "dbpass",
                        "--secret", "source=dbpass,target=/etc/other,uid=65534,mode=0400",
                        "--config", "source=appconf,target=/etc/app.conf",
                        "busybox", "sleep", "600")
        try:
            wait_for(lambda: len(running_tasks(swarm, "withsecret")) == 1, 60, "the task")
            cid = task_containers(swarm, "withsecret")[0]
            assert swarm.docker_ok("exec", cid, "cat", "/run/secrets/dbpass") == SECRET
            assert swarm.docker_ok("exec", cid, "cat", "/etc/app.conf") == "listen=80\n"
            perms = swarm.docker_ok("exec", cid, "stat", "-c", "%u %a", "/etc/other", "/run/secrets/dbpass")
            assert perms.split() == ["65534", "400", "0", "444"], "each reference: its own owner, mode"
            code, _, _ = swarm.docker("exec", cid, "sh", "-c", "echo x > /run/secrets/dbpass")
            assert code != 0, "secrets are read-only"
            inspect = swarm.docker_ok("inspect", cid)
            assert SECRET not in inspect
            assert SECRET not in swarm.docker_ok("service", "inspect", "withsecret")
            assert SECRET not in swarm.docker_ok("secret", "inspect", "dbpass")
            # Never on disk in the clear: not in the database, not in the daemon's log.
            for path in swarm.data_root.rglob("*"):
                if path.is_file() and path.stat().st_size < 50_000_000:
                    assert SECRET.encode() not in path.read_bytes(), path
            assert SECRET not in swarm.log_path.read_text(errors="replace")
            # In use: removal refused, naming the service.
            code, _, err = swarm.docker("secret", "rm", "dbpass")
            assert code != 0 and "secret 'dbpass' is in use by the following service: withsecret" in err
            code, _, err = swarm.docker("config", "rm", "appconf")
            assert code != 0 and "is in use by the following service: withsecret" in err
        finally:
            swarm.docker_ok("service", "rm", "withsecret")
        swarm.docker_ok("secret", "rm", "dbpass")
        config.remove()
        assert swarm.docker_ok("secret", "ls", "-q") == ""
    finally:
        # After a failure above, leave the next tests a swarm without these (each may be gone).
        swarm.docker("service", "rm", "withsecret")
        swarm.docker("secret", "rm", "dbpass")
        swarm.docker("config", "rm", "appconf")
        client.close()


def test_labels_only_updates_size_limit_and_duplicates(swarm: Daemon) -> None:
    client = docker.DockerClient(base_url=swarm.host, timeout=60)
    try:
        secret = client.secrets.create(name="lbl", data=b"x", labels={"a": "1"})
        try:
            attrs = client.api.inspect_secret(secret.id)
            spec = {**attrs["Spec"], "Labels": {"a": "2"}}
            status, body = swarm.request_json(
                "POST", f"{swarm.api}/secrets/{secret.id}/update?version={attrs['Version']['Index']}", spec)
            assert status == 200, body
            assert client.api.inspect_secret(secret.id)["Spec"]["Labels"] == {"a": "2"}
            version = client.api.inspect_secret(secret.id)["Version"]["Index"]
            status, body = swarm.request_json(
                "POST", f"{swarm.api}/secrets/{secret.id}/update?version={version}",
                {**spec, "Name": "renamed"})
            assert status == 400 and "only updates to Labels are allowed" in body["message"]
            code, _, err = swarm.docker("secret", "create", "lbl", "-", input="y")
            assert code != 0 and "already exists" in err
        finally:
            secret.remove()
        big = base64.b64encode(b"x" * (500 * 1024)).decode()
        for kind in ("secrets", "configs"):
            status, body = swarm.request_json("POST", f"{swarm.api}/{kind}/create",
                                              {"Name": "big", "Data": big})
            assert status == 400 and "less than 512000 bytes" in body["message"], body
        assert json.loads(swarm.docker_ok("secret", "ls", "--format", "{{json .}}") or "null") is None
    finally:
        client.close()


@pytest.mark.parametrize("kind", ["secret", "config"])
def test_unknown_reference_is_refused(swarm: Daemon, kind: str) -> None:
    code, _, err = swarm.docker("service", "create", "-d", "--no-resolve-image", "--name", "noref",
                                f"--{kind}", "missing", "busybox")
    assert code != 0 and "missing" in err and "not found" in err


def test_a_secret_target_through_an_image_symlink_stays_inside(swarm: Daemon, tmp_path: Path) -> None:
    """The image's /run/secrets is a symlink to /etc: the secret lands in the container's /etc
    (the runtime resolves targets inside the root), never on the host's."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN mkdir -p /run && ln -s /etc /run/secrets\n")
    swarm.docker_ok("build", "-q", "-t", "linked-secrets:1", str(ctx), timeout=120)
    name = "symlinked-secret-7f1c"
    assert not (Path("/etc") / name).exists()
    swarm.docker_ok("secret", "create", name, "-", input=SECRET)
    try:
        swarm.docker_ok("service", "create", "-d", "--no-resolve-image", "--name", "linked",
                        "--secret", name, "linked-secrets:1", "sleep", "600")
        try:
            wait_for(lambda: len(running_tasks(swarm, "linked")) == 1, 60, "the task")
            cid = task_containers(swarm, "linked")[0]
            assert swarm.docker_ok("exec", cid, "cat", f"/etc/{name}") == SECRET
            assert not (Path("/etc") / name).exists(), "the secret was written on the host"
        finally:
            swarm.docker_ok("service", "rm", "linked")
            wait_for(lambda: not task_containers(swarm, "linked"), 60, "the task's removal")
    finally:
        swarm.docker("secret", "rm", name)
        swarm.docker("rmi", "linked-secrets:1")
    assert not (Path("/etc") / name).exists()

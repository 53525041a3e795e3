"""docker-py against the daemon; the low-level responses it receives are validated against the spec."""

from __future__ import annotations

import time

import docker
import pytest

from .daemon import Daemon
from .schema import validate


def test_ping_and_version(client: docker.DockerClient, daemon: Daemon) -> None:
    assert client.ping() is True
    version = client.api.version()
    assert version["ApiVersion"] == daemon.api_version
    assert version["Os"] == "linux"
    assert client.version()["ApiVersion"] == daemon.api_version


def test_info(client: docker.DockerClient) -> None:
    info = client.info()
    assert info["OSType"] == "linux"
    assert info["Images"] >= 1
    counts = info["ContainersRunning"] + info["ContainersPaused"] + info["ContainersStopped"]
    assert info["Containers"] == counts


def test_run_detached_logs_exec_wait_remove(client: docker.DockerClient) -> None:
    c = client.containers.run("busybox", ["sh", "-c", "echo hi; sleep 100"], detach=True)
    try:
        deadline = time.monotonic() + 10
        while c.logs() != b"hi\n" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert c.logs() == b"hi\n"
        c.reload()
        assert c.status == "running"
        result = c.exec_run(["sh", "-c", "echo from-exec; exit 3"])
        assert (result.exit_code, result.output) == (3, b"from-exec\n")
        c.kill()
        waited = c.wait(timeout=30)
        assert waited["StatusCode"] == 137
        assert waited.get("Error") is None
    finally:
        c.remove(force=True)
    with pytest.raises(docker.errors.NotFound):
        client.containers.get(c.id)


def test_run_foreground_returns_output(client: docker.DockerClient) -> None:
    assert client.containers.run("busybox", ["echo", "hello"], remove=True) == b"hello\n"
    with pytest.raises(docker.errors.ContainerError) as info:
        client.containers.run("busybox", ["sh", "-c", "echo oops >&2; exit 2"], remove=True)
    assert info.value.exit_status == 2


def test_containers_list_and_inspect_validate(client: docker.DockerClient) -> None:
    c = client.containers.run("busybox", ["sleep", "100"], detach=True, labels={"dp": "1"}, name=None)
    try:
        listed = client.api.containers(all=True, filters={"label": "dp=1"})
        assert [x["Id"] for x in listed] == [c.id]
        assert listed[0]["Labels"] == {"dp": "1"}
        assert listed[0]["State"] == "running"
        inspected = client.api.inspect_container(c.id)
        assert inspected["Id"] == c.id
    finally:
        c.remove(force=True)


def test_exec_inspect_validates(client: docker.DockerClient) -> None:
    c = client.containers.run("busybox", ["sleep", "100"], detach=True)
    try:
        exec_id = client.api.exec_create(c.id, ["sh", "-c", "exit 4"])["Id"]
        client.api.exec_start(exec_id)
        deadline = time.monotonic() + 10
        while client.api.exec_inspect(exec_id)["Running"] and time.monotonic() < deadline:
            time.sleep(0.1)
        inspected = client.api.exec_inspect(exec_id)
        assert (inspected["ExitCode"], inspected["Running"], inspected["ContainerID"]) == (4, False, c.id)
    finally:
        c.remove(force=True)


def test_images_list_and_get(client: docker.DockerClient) -> None:
    images = client.images.list()
    tagged = [i for i in images if "busybox:latest" in i.tags]
    assert len(tagged) == 1
    image = client.images.get("busybox")
    assert image.id == tagged[0].id and image.id.startswith("sha256:")
    assert client.api.images(name="busybox")[0]["Id"] == image.id
    assert client.api.inspect_image("busybox")["RepoTags"] == ["busybox:latest"]
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get("nosuchimage:latest")


def test_create_response_validates(client: docker.DockerClient) -> None:
    created = client.api.create_container("busybox", ["true"])
    try:
        validate("/containers/create", "post", created, status=201)
    finally:
        client.api.remove_container(created["Id"], force=True)


def test_inspect_of_a_cli_made_container_validates(daemon: Daemon, client: docker.DockerClient) -> None:
    """The stock CLI sends "" and -1 for unset fields; inspect answers what dockerd records."""
    cid = daemon.docker_ok("run", "-d", "busybox", "sleep", "100").strip()
    try:
        inspected = client.api.inspect_container(cid)  # validated against the v1.50 schema
        assert inspected["HostConfig"]["CgroupnsMode"] in ("host", "private")
        assert inspected["HostConfig"]["MemorySwappiness"] is None
    finally:
        daemon.docker("rm", "-f", cid)

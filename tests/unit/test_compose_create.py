"""A service's create body: Compose v2's names and labels, ports, mounts, healthcheck, restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.compose.confighash import config_hash
from dockyard.compose.create import create_body
from dockyard.compose.loader import load_project
from dockyard.compose.yamlfile import ComposeError

FILE = """
services:
  web:
    image: busybox
    command: sh -c 'echo $$HOME'
    environment: {A: "1", FROM_SHELL: null}
    ports: ["127.0.0.1:8080:80", "9000-9001:90-91/udp"]
    volumes: [data:/data, ./html:/html:ro, {type: tmpfs, target: /scratch, tmpfs: {size: 1m}}]
    healthcheck: {test: curl -f localhost, interval: 1m30s, retries: 2}
    restart: on-failure:3
    init: true
    extra_hosts: ["db.local=10.0.0.9"]
    ulimits: {nofile: {soft: 100, hard: 200}, nproc: 50}
    stop_grace_period: 5s
    logging: {driver: json-file, options: {max-size: 1m}}
    deploy: {resources: {limits: {memory: 64m, cpus: "0.5"}}}
    depends_on:
      db: {condition: service_healthy}
    networks:
      back: {aliases: [www], ipv4_address: 172.30.0.5}
  db:
    image: busybox
    healthcheck: {disable: true}
networks:
  back:
volumes:
  data:
"""


def _project(tmp_path: Path, text: str = FILE):  # type: ignore[no-untyped-def]
    (tmp_path / "compose.yaml").write_text(text)
    return load_project(working_dir=tmp_path, name="proj", environ={"FROM_SHELL": "s"})


def test_create_body_of_a_service(tmp_path: Path) -> None:
    project = _project(tmp_path)
    body = create_body(project, "web", project.services["web"], 1)
    host = body["HostConfig"]
    assert body["Cmd"] == ["sh", "-c", "echo $HOME"] and body["Env"] == ["A=1", "FROM_SHELL=s"]
    assert host["PortBindings"]["80/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": "8080"}]
    assert host["PortBindings"]["91/udp"] == [{"HostIp": "", "HostPort": "9001"}]
    mounts = {m["Target"]: m for m in host["Mounts"]}
    assert mounts["/data"]["Source"] == "proj_data" and mounts["/data"]["Type"] == "volume"
    assert mounts["/html"]["Source"] == str(tmp_path / "html") and mounts["/html"]["ReadOnly"]
    assert mounts["/scratch"]["TmpfsOptions"] == {"SizeBytes": 1024 * 1024}
    assert body["Healthcheck"] == {"Test": ["CMD-SHELL", "curl -f localhost"], "Interval": 90 * 10**9,
                                   "Retries": 2}
    assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3} and host["Init"]
    assert host["ExtraHosts"] == ["db.local:10.0.0.9"] and body["StopTimeout"] == 5
    assert {"Name": "nproc", "Soft": 50, "Hard": 50} in host["Ulimits"]
    assert host["Memory"] == 64 * 1024**2 and host["NanoCpus"] == 5 * 10**8
    assert host["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "1m"}}
    assert host["NetworkMode"] == "proj_back"
    endpoint = body["NetworkingConfig"]["EndpointsConfig"]["proj_back"]
    assert endpoint == {"Aliases": ["web", "www"], "IPAMConfig": {"IPv4Address": "172.30.0.5"}}
    labels = body["Labels"]
    assert labels["com.docker.compose.project"] == "proj" and labels["com.docker.compose.service"] == "web"
    assert labels["com.docker.compose.container-number"] == "1"
    assert labels["com.docker.compose.oneoff"] == "False"
    assert labels["com.docker.compose.depends_on"] == "db:service_healthy:false"
    assert labels["com.docker.compose.config-hash"] == config_hash(project, project.services["web"])
    assert create_body(project, "db", project.services["db"], 1)["Healthcheck"] == {"Test": ["NONE"]}


def test_the_hash_ignores_scale_and_depends_on_but_not_the_command(tmp_path: Path) -> None:
    project = _project(tmp_path)
    service = project.services["web"]
    assert config_hash(project, {**service, "scale": 3, "depends_on": {}}) == config_hash(project, service)
    assert config_hash(project, {**service, "command": "true"}) != config_hash(project, service)


def test_keys_not_applied_are_refused_by_name(tmp_path: Path) -> None:
    project = _project(tmp_path, "services:\n  a: {image: busybox, cgroup_parent: x}\n")
    with pytest.raises(ComposeError, match="services.a.cgroup_parent: not supported"):
        create_body(project, "a", project.services["a"], 1)


def test_devices_groups_namespaces_annotations_and_mac_are_applied(tmp_path: Path) -> None:
    project = _project(tmp_path, "services:\n  a:\n    image: busybox\n"
                       "    devices: [/dev/null, '/dev/zero:/dev/z:r']\n"
                       "    group_add: [wheel, 1000]\n    pid: host\n    ipc: shareable\n"
                       "    annotations: {k: v}\n    mac_address: '02:42:ac:11:00:09'\n")
    body = create_body(project, "a", project.services["a"], 1)
    host = body["HostConfig"]
    assert host["Devices"] == [
        {"PathOnHost": "/dev/null", "PathInContainer": "/dev/null", "CgroupPermissions": "rwm"},
        {"PathOnHost": "/dev/zero", "PathInContainer": "/dev/z", "CgroupPermissions": "r"}]
    assert host["GroupAdd"] == ["wheel", "1000"]
    assert host["PidMode"] == "host" and host["IpcMode"] == "shareable"
    assert host["Annotations"] == {"k": "v"}
    assert body["NetworkingConfig"]["EndpointsConfig"]["proj_default"]["MacAddress"] == "02:42:ac:11:00:09"

"""The swarm core's pure parts: spec validation and defaults, the key file and autolock,
placement, template expansion and a task's container request."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.core.swarm import specs
from dockyard.core.swarm.keys import KeyFile, new_unlock_key, open_sealed, seal
from dockyard.core.swarm.model import Node, Service, Task
from dockyard.core.swarm.placement import NodeFacts, unplaceable
from dockyard.core.swarm.tasks import create_request, expand
from dockyard.errors import AlreadyExists, InvalidArgument

IMAGE = {"ContainerSpec": {"Image": "busybox"}}


@pytest.mark.parametrize(("spec", "text"), [
    ({"Name": "", "TaskTemplate": IMAGE}, "name must be provided"),
    ({"Name": "a b", "TaskTemplate": IMAGE}, "valid as a DNS name component"),
    ({"Name": "x", "TaskTemplate": {"ContainerSpec": {}}}, "image reference must be provided"),
    ({"Name": "x", "TaskTemplate": IMAGE, "Mode": {"Replicated": {"Replicas": -2}}}, "uint64"),
    ({"Name": "x", "TaskTemplate": IMAGE, "Mode": {"Global": {}, "Replicated": {}}}, "only one of"),
    ({"Name": "x", "TaskTemplate": IMAGE, "UpdateConfig": {"Order": "sideways"}}, "update order"),
    ({"Name": "x", "TaskTemplate": IMAGE, "RollbackConfig": {"FailureAction": "rollback"}}, "failure action"),
    ({"Name": "x", "TaskTemplate": IMAGE, "UpdateConfig": {"MaxFailureRatio": 2}}, "between 0 and 1"),
    ({"Name": "x", "TaskTemplate": {**IMAGE, "RestartPolicy": {"Delay": -1}}}, "cannot be negative"),
    ({"Name": "x", "TaskTemplate": {**IMAGE, "Placement": {"Constraints": ["node.role ~ x"]}}},
     "constraint expected one operator"),
])
def test_invalid_service_specs(spec: dict[str, object], text: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        specs.validate_service(spec)
    assert text in str(caught.value)


def test_defaults_fill_what_the_client_left_out() -> None:
    spec = specs.with_defaults({"Name": "x", "TaskTemplate": IMAGE, "UpdateConfig": {"Parallelism": 4}})
    assert spec["UpdateConfig"] == {"Parallelism": 4, "FailureAction": "pause", "Monitor": 5 * specs.SECOND,
                                    "MaxFailureRatio": 0, "Order": "stop-first"}
    assert spec["TaskTemplate"]["RestartPolicy"]["Condition"] == "any"
    assert spec["Mode"] == {"Replicated": {"Replicas": 1}}
    assert specs.normalise({"Mode": {"global": {}}})["Mode"] == {"Global": {}}


def test_blob_limits() -> None:
    with pytest.raises(InvalidArgument, match="less than 512000 bytes"):
        specs.validate_blob("secret", {"Name": "a"}, b"x" * 512000)
    with pytest.raises(InvalidArgument, match="larger than 0"):
        specs.validate_blob("config", {"Name": "a"}, b"")
    assert isinstance(specs.already_exists("x"), AlreadyExists)


def test_key_file_plain_and_autolocked(tmp_path: Path) -> None:
    keys = KeyFile(tmp_path / "key.json")
    key = keys.create()
    assert not keys.locked and keys.load() == key
    sealed = seal(key, b"secret")
    assert b"secret" not in sealed and open_sealed(key, sealed) == b"secret"
    unlock = new_unlock_key()
    keys.store(key, unlock)
    assert keys.locked and key.hex() not in (tmp_path / "key.json").read_text()
    with pytest.raises(InvalidArgument, match="invalid key"):
        keys.load()
    with pytest.raises(InvalidArgument, match="invalid key"):
        keys.load(new_unlock_key())
    assert keys.load(unlock) == key


def _node(**spec: object) -> Node:
    return Node(id="n1", version=1, created="", updated="", spec={"Role": "manager", **spec})


def test_placement() -> None:
    facts = NodeFacts(hostname="h", nano_cpus=2 * 10**9, memory=1 << 30)
    fits = {"Placement": {"Constraints": ["node.role == manager", "node.labels.zone != b"]}}
    assert unplaceable(fits, _node(Labels={"zone": "a"}), facts, 0) == ""
    assert "constraints not satisfied" in unplaceable(
        {"Placement": {"Constraints": ["node.labels.zone == b"]}}, _node(Labels={"zone": "a"}), facts, 0)
    assert "max replicas" in unplaceable({"Placement": {"MaxReplicas": 2}}, _node(), facts, 2)
    assert "insufficient resources" in unplaceable(
        {"Resources": {"Reservations": {"NanoCPUs": 4 * 10**9}}}, _node(), facts, 0)


def test_task_container_request() -> None:
    service = Service(id="s1", version=1, created="", updated="", spec={"Name": "web"})
    template = {"ContainerSpec": {"Image": "busybox", "Command": ["sh"], "Args": ["-c", "true"],
                                  "Hostname": "{{.Service.Name}}-{{.Task.Slot}}", "Env": ["S={{.Task.Slot}}"],
                                  "StopGracePeriod": 3 * specs.SECOND, "Hosts": ["10.0.0.1 db"]},
                "Resources": {"Limits": {"MemoryBytes": 1 << 26, "NanoCPUs": 5 * 10**8}}}
    task = Task(id="t1", version=1, created="", updated="", service_id="s1", slot=2, node_id="n1",
                spec=template, generation=1, service_name="web")
    request = create_request(task, service, node_hostname="h", files=[], networks=[("front", ["tasks.web"])])
    assert request.name == "web.2.t1"
    assert request.config is not None and request.config.hostname == "web-2"
    assert request.config.entrypoint == ["sh"] and request.config.cmd == ["-c", "true"]
    assert request.config.env == ["S=2"] and request.config.stop_timeout == 3
    assert request.config.labels["com.docker.swarm.task.name"] == "web.2.t1"
    assert request.host.raw["Memory"] == 1 << 26 and request.host.raw["NanoCpus"] == 5 * 10**8
    assert request.host.raw["ExtraHosts"] == ["db:10.0.0.1"]
    assert request.networking == {"EndpointsConfig": {"front": {"Aliases": ["tasks.web"]}}}
    with pytest.raises(InvalidArgument, match="unknown field"):
        expand("{{.Task.Nope}}", {})

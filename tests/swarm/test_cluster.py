"""``docker swarm`` and ``docker node`` on a one-node swarm; every swarm endpoint's 503 outside."""

from __future__ import annotations

import json

import docker
from conformance.daemon import Daemon

NOT_MANAGER = ('This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to '
               "connect this node to swarm and try again.")



def test_outside_a_swarm_every_endpoint_is_503(engine: Daemon) -> None:
    info = json.loads(engine.docker_ok("info", "--format", "{{json .Swarm}}"))
    assert info["LocalNodeState"] == "inactive" and info["NodeID"] == ""
    for method, path in [("GET", "/swarm"), ("GET", "/services"), ("GET", "/tasks"), ("GET", "/nodes"),
                         ("GET", "/secrets"), ("GET", "/configs"), ("GET", "/swarm/unlockkey"),
                         ("POST", "/services/create"), ("POST", "/secrets/create")]:
        payload = {"Name": "x"} if method == "POST" else None
        status, body = engine.request_json(method, engine.api + path, payload)
        assert status == 503, (path, status, body)
        assert body["message"] == NOT_MANAGER, path
    status, body = engine.request_json("POST", engine.api + "/swarm/leave")
    assert (status, body["message"]) == (503, "This node is not part of a swarm")
    code, _, err = engine.docker("service", "ls")
    assert code != 0 and NOT_MANAGER in err


def test_join_says_multi_host_is_not_supported(engine: Daemon) -> None:
    code, _, err = engine.docker("swarm", "join", "--token", "SWMTKN-1-abc-def", "127.0.0.1:2377")
    assert code != 0
    assert "multi-host" in err


def test_init_inspect_node_and_leave(engine: Daemon) -> None:
    client = docker.DockerClient(base_url=engine.host, timeout=60)
    try:
        node_id = client.swarm.init(advertise_addr="127.0.0.1")
        try:
            info = client.info()["Swarm"]
            assert info["LocalNodeState"] == "active" and info["NodeID"] == node_id
            assert info["ControlAvailable"] is True and info["Nodes"] == 1 and info["Managers"] == 1
            assert info["Cluster"]["ID"] == client.swarm.attrs["ID"]
            code, _, err = engine.docker("swarm", "init")
            assert code != 0 and "already part of a swarm" in err
            # The node: one manager, the leader; drained, then active again.
            out = engine.docker_ok("node", "ls", "--format", "{{.ID}} {{.ManagerStatus}} {{.Availability}}")
            assert out.split() == [node_id, "Leader", "Active"]
            engine.docker_ok("node", "update", "--availability", "drain", "--label-add", "zone=a", "self")
            node = client.nodes.get(node_id)
            assert node.attrs["Spec"]["Availability"] == "drain"
            assert node.attrs["Spec"]["Labels"] == {"zone": "a"}
            node.update({"Availability": "active", "Role": "manager", "Labels": {}})
            assert client.nodes.get(node_id).attrs["Spec"]["Availability"] == "active"
            code, _, err = engine.docker("node", "rm", node_id)
            assert code != 0 and "manager" in err
            # History limit and token rotation through swarm update.
            before = client.swarm.attrs["JoinTokens"]["Worker"]
            engine.docker_ok("swarm", "update", "--task-history-limit", "2")
            engine.docker_ok("swarm", "join-token", "--rotate", "-q", "worker")
            client.swarm.reload()
            assert client.swarm.attrs["Spec"]["Orchestration"]["TaskHistoryRetentionLimit"] == 2
            assert client.swarm.attrs["JoinTokens"]["Worker"] != before
            # A stale version is refused and changes nothing.
            status, body = engine.request_json(
                "POST", f"{engine.api}/swarm/update?version=1", client.swarm.attrs["Spec"])
            assert status == 500 and "update out of sequence" in body["message"]
            code, _, err = engine.docker("swarm", "leave")
            assert code != 0 and "--force" in err
        finally:
            engine.docker_ok("swarm", "leave", "--force")
        info = json.loads(engine.docker_ok("info", "--format", "{{json .Swarm}}"))
        assert info["LocalNodeState"] == "inactive"
    finally:
        client.close()

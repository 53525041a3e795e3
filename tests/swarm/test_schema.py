"""Every swarm response validated against the Engine API v1.50 schemas (conformance/schema.py)."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

from conformance.daemon import Daemon
from conformance.polling import wait_for
from conformance.schema import validate

from .conftest import running_tasks


def _get(swarm: Daemon, path: str) -> object:
    status, body = swarm.request_json("GET", swarm.api + path)
    assert status == 200, (path, body)
    return body


def test_swarm_responses_match_the_spec(swarm: Daemon) -> None:
    validate("/info", "get", _get(swarm, "/info"))
    validate("/swarm", "get", _get(swarm, "/swarm"))
    validate("/nodes", "get", _get(swarm, "/nodes"))
    validate("/nodes/{id}", "get", _get(swarm, "/nodes/self"))
    status, created = swarm.request_json("POST", swarm.api + "/secrets/create",
                                         {"Name": "schema", "Data": base64.b64encode(b"x").decode()})
    # The spec says IdResponse ("Id"), but dockerd answers {"ID": …} and docker-py reads "ID".
    assert status == 201 and set(created) == {"ID"}
    validate("/secrets", "get", _get(swarm, "/secrets"))
    status, config = swarm.request_json("POST", swarm.api + "/configs/create",
                                        {"Name": "schema", "Data": base64.b64encode(b"y").decode()})
    validate("/configs/{id}", "get", _get(swarm, f"/configs/{config['ID']}"))
    swarm.docker_ok("service", "create", "-d", "--no-resolve-image", "--name", "schema", "--secret", "schema",
                    "--publish", "18733:80", "--stop-grace-period", "1s", "busybox", "sleep", "600")
    try:
        wait_for(lambda: running_tasks(swarm, "schema"), 60, "the task")
        validate("/services", "get", _get(swarm, "/services?status=true"))
        validate("/services/{id}", "get", _get(swarm, "/services/schema?insertDefaults=true"))
        tasks = _get(swarm, "/tasks?filters=" + quote(json.dumps({"service": ["schema"]})))
        validate("/tasks", "get", tasks)
        assert isinstance(tasks, list)
        validate("/tasks/{id}", "get", _get(swarm, f"/tasks/{tasks[0]['ID']}"))
    finally:
        swarm.docker_ok("service", "rm", "schema")
        swarm.docker_ok("secret", "rm", "schema")
        swarm.docker_ok("config", "rm", "schema")

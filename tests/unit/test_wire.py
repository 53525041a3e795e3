"""Docker JSON <-> container models: the create body, inspect and list shapes, exec records."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from dockyard.api import wire
from dockyard.api.hijack import frame
from dockyard.core.containers.configs import merge_config
from dockyard.core.containers.model import Container, ContainerPaths, State
from dockyard.core.containers.networking import seed_endpoints
from dockyard.core.ids import ContainerId, ImageId

CLI_BODY = {
    "Hostname": "", "Domainname": "", "User": "", "AttachStdin": True, "AttachStdout": True,
    "AttachStderr": True, "Tty": False, "OpenStdin": True, "StdinOnce": True,
    "Env": ["A=1"], "Cmd": ["cat"], "Image": "busybox", "Volumes": None, "WorkingDir": "",
    "Entrypoint": None, "OnBuild": None, "Labels": {"k": "v"}, "StopTimeout": 3,
    "HostConfig": {"NetworkMode": "none", "AutoRemove": True, "Init": True, "ConsoleSize": [24, 80],
                   "LogConfig": {"Type": "", "Config": {}}, "Memory": 1024},
    "NetworkingConfig": {"EndpointsConfig": {}},
}


def _container() -> Container:
    request = wire.create_request(CLI_BODY, name="web")
    config = merge_config(request, {"Cmd": ["sh"], "Env": ["PATH=/bin"]})
    return Container(id=ContainerId("a" * 64), name="/web", created="2024-05-01T10:00:00.000000000Z",
                     image_id=ImageId("sha256:" + "b" * 64), config=config, host=request.host,
                     path="cat", args=[], runtime="runc",
                     networking=seed_endpoints(request.host.network_mode, request.networking))


def test_create_body_to_request() -> None:
    request = wire.create_request(CLI_BODY, name="web")
    assert request.name == "web" and request.image == "busybox" and not request.entrypoint_given
    assert request.config is not None and request.config.cmd == ["cat"]
    assert request.config.open_stdin and request.config.stdin_once and request.config.stop_timeout == 3
    host = request.host
    assert (host.network_mode, host.auto_remove, host.init) == ("none", True, True)
    assert host.console_size == (24, 80)
    assert host.raw["Memory"] == 1024 and host.raw["RestartPolicy"] == {"Name": "no", "MaximumRetryCount": 0}
    assert wire.create_request({**CLI_BODY, "Entrypoint": [""]}).entrypoint_given
    assert wire.create_request({**CLI_BODY, "Cmd": "ls -l"}).config.cmd == ["ls -l"]  # type: ignore[union-attr]


def test_record_round_trip_and_inspect_shape(tmp_path: Path) -> None:
    container = _container()
    again = Container.from_record(container.to_record())
    assert again == container
    # What the store writes: the record as dataclasses.asdict made it, without its copies.
    record = json.dumps(container.to_record(), sort_keys=True)
    assert record == json.dumps({**dataclasses.asdict(container), "state": container.state.value},
                                sort_keys=True)
    assert Container.from_record(json.loads(record)) == container
    container.state = State.PAUSED
    data = wire.inspect_json(container, paths=ContainerPaths.of(tmp_path, container.id), exec_ids=[],
                             graph_data={"MergedDir": "/m"})
    assert data["Name"] == "/web" and data["Driver"] == "overlay2" and data["Platform"] == "linux"
    state = data["State"]
    flags = (state["Running"], state["Paused"], state["Restarting"], state["Dead"])
    assert state["Status"] == "paused" and flags == (True, True, False, False)
    assert data["Config"]["Env"] == ["A=1", "PATH=/bin"] and data["Config"]["Cmd"] == ["cat"]
    assert data["Config"]["Labels"] == {"k": "v"} and data["Config"]["StopTimeout"] == 3
    assert data["HostConfig"]["NetworkMode"] == "none" and data["HostConfig"]["AutoRemove"] is True
    assert data["LogPath"].endswith("/container.log") and data["ExecIDs"] is None
    assert data["GraphDriver"] == {"Name": "overlay2", "Data": {"MergedDir": "/m"}}
    assert data["NetworkSettings"]["Networks"].keys() == {"none"}


def test_summary_and_status_text() -> None:
    container = _container()
    assert wire.summary_json(container)["Status"] == "Created"
    container.state, container.exit_code = State.EXITED, 2
    container.finished_at = "2024-05-01T10:00:00.000000000Z"
    assert wire.status_text(container, now=1714557600 + 125) == "Exited (2) 2 minutes ago"
    container.state, container.started_at = State.RUNNING, "2024-05-01T10:00:00.000000000Z"
    assert wire.status_text(container, now=1714557600 + 5) == "Up 5 seconds"
    # go-units rounds hours: 90 minutes up is "2 hours", as dockerd and the docker CLI print it.
    assert wire.status_text(container, now=1714557600 + 5400) == "Up 2 hours"
    assert wire.status_text(container, now=1714557600 + 59 * 86400) == "Up 8 weeks"
    summary = wire.summary_json(container, (10, 20))
    assert summary["Names"] == ["/web"] and summary["Created"] == 1714557600
    assert (summary["SizeRw"], summary["SizeRootFs"]) == (10, 20) and summary["Command"] == "cat"


def test_frames_and_exec_config() -> None:
    assert frame(2, b"hi") == b"\x02\x00\x00\x00\x00\x00\x00\x02hi"
    config = wire.exec_config({"Cmd": ["ls"], "Tty": True, "AttachStdin": True, "ConsoleSize": [10, 20]})
    assert config.cmd == ["ls"] and config.tty and config.console_size == (10, 20)


def test_detach_keys() -> None:
    from dockyard.api.hijack import DetachScanner, parse_detach_keys

    assert parse_detach_keys("") == b"\x10\x11"
    assert parse_detach_keys("ctrl-a,x,ctrl-[") == b"\x01x\x1b"
    scanner = DetachScanner(b"\x10\x11")
    assert scanner.feed(b"ab\x10") == (b"ab", False)
    assert scanner.feed(b"c") == (b"\x10c", False)
    assert scanner.feed(b"\x10\x11rest") == (b"", True)

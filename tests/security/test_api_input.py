"""Hostile API input: every bad body, name and limit is a 400 with Docker's message, nothing stored.

Each case goes through raw HTTP on the daemon's socket (``daemon.request``), and through the stock
CLI where the CLI lets the input through, and compares the store before and after.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from conformance.daemon import DOCKER, Daemon

State = tuple[Any, ...]


def state(daemon: Daemon) -> State:
    """Containers, images, blobs, volumes and networks: what a refused request must not change."""
    volumes = sorted(daemon.docker_ok("volume", "ls", "-q").split())
    networks = sorted(daemon.docker_ok("network", "ls", "-q", "--no-trunc").split())
    return (*daemon.store_state(), volumes, networks)


def post(daemon: Daemon, path: str, body: bytes | str | Any) -> tuple[int, str]:
    raw = body if isinstance(body, bytes) else (body.encode() if isinstance(body, str) else
                                                 json.dumps(body).encode())
    status, _, reply = daemon.request("POST", daemon.api + path, body=raw,
                                      headers={"Content-Type": "application/json"})
    message = json.loads(reply).get("message", "") if reply.strip().startswith(b"{") else ""
    return status, message


@pytest.fixture
def unchanged(daemon: Daemon) -> Iterator[None]:
    """The test's requests must leave the store as it found it."""
    before = state(daemon)
    yield
    assert state(daemon) == before


@pytest.fixture(scope="module")
def net_id(daemon: Daemon) -> str:
    return daemon.docker_ok("network", "inspect", "-f", "{{.Id}}", "bridge").strip()


WRONG_TYPES = [
    ("/containers/create", {"Image": "busybox", "StopTimeout": {}},
     "json: cannot unmarshal object into Go struct field ContainerConfigWrapper.StopTimeout of type int"),
    ("/containers/create", {"Image": "busybox", "Labels": [None]},
     "json: cannot unmarshal array into Go struct field ContainerConfigWrapper.Labels of type "
     "map[string]string"),
    ("/containers/create", {"Image": "busybox", "HostConfig": {"Memory": {}}},
     "json: cannot unmarshal object into Go struct field HostConfig.HostConfig.Memory of type int64"),
    ("/containers/create", {"Image": "busybox", "HostConfig": {"ConsoleSize": "big"}},
     "json: cannot unmarshal string into Go struct field HostConfig.HostConfig.ConsoleSize of type []int"),
    ("/containers/create", {"Image": "busybox", "NetworkingConfig": {"EndpointsConfig": {"bridge": 1}}},
     "json: cannot unmarshal number 1 into Go struct field NetworkingConfig.NetworkingConfig."
     "EndpointsConfig of type EndpointSettings"),
    ("/containers/nosuch/exec", {"Cmd": {}},
     "json: cannot unmarshal object into Go struct field ExecOptions.Cmd of type []string"),
    ("/containers/nosuch/exec", {"Cmd": ["true"], "ConsoleSize": [None, {}]},
     "json: cannot unmarshal object into Go struct field ExecOptions.ConsoleSize of type int"),
    ("/exec/nosuch/start", {"Detach": "yes"},
     "json: cannot unmarshal string into Go struct field ExecStartOptions.Detach of type bool"),
    ("/exec/nosuch/start", {"ConsoleSize": [{}, {}]},
     "json: cannot unmarshal object into Go struct field ExecStartOptions.ConsoleSize of type int"),
    ("/networks/create", {"Name": "badnet", "Labels": [None]},
     "json: cannot unmarshal array into Go struct field CreateRequest.Labels of type map[string]string"),
    ("/networks/create", {"Name": "badnet", "IPAM": {"Config": {}}},
     "json: cannot unmarshal object into Go struct field IPAM.IPAM.Config of type []IPAMConfig"),
    ("/networks/{net}/connect", {"Container": "nosuch", "EndpointConfig": {"Aliases": [{}]}},
     "json: cannot unmarshal object into Go struct field EndpointSettings.EndpointConfig.Aliases of "
     "type string"),
    ("/volumes/create", {"Name": "badvol", "Labels": [None]},
     "json: cannot unmarshal array into Go struct field CreateOptions.Labels of type map[string]string"),
    ("/volumes/create", {"Name": {}},
     "json: cannot unmarshal object into Go struct field CreateOptions.Name of type string"),
]


@pytest.mark.parametrize(("path", "body", "message"), WRONG_TYPES)
def test_wrong_json_types_are_400_naming_the_field(daemon: Daemon, net_id: str, unchanged: None,
                                                   path: str, body: Any, message: str) -> None:
    assert post(daemon, path.replace("{net}", net_id), body) == (400, message)


def test_nulls_are_go_zero_values_not_500s(daemon: Daemon) -> None:
    # Go decodes null into a fixed array's elements as 0: Docker creates this container.
    status, _, reply = daemon.request(
        "POST", daemon.api + "/containers/create",
        body=json.dumps({"Image": "busybox", "Cmd": ["true"], "Labels": {"a": None},
                         "HostConfig": {"ConsoleSize": [None, None]}}).encode(),
        headers={"Content-Type": "application/json"})
    assert status == 201, reply
    cid = json.loads(reply)["Id"]
    try:
        assert daemon.docker_ok("inspect", "-f", "{{json .Config.Labels}}", cid).strip() == '{"a":""}'
    finally:
        daemon.docker_ok("rm", "-f", cid)


@pytest.mark.parametrize(("raw", "message"), [
    (b'{"Image": "busybox", "StopTimeout": NaN}', "invalid JSON: invalid character 'N' looking for "
                                                   "beginning of value"),
    (b'{"Image": "busybox", "HostConfig": {"Memory": Infinity}}',
     "invalid JSON: invalid character 'I' looking for beginning of value"),
    (b'{"Image": "busybox", "Labels": {"a": -Infinity}}',
     "invalid JSON: invalid character '-' looking for beginning of value"),
    (b'{"Image": "busybox", "X": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",
     "invalid JSON: exceeded max depth"),
    (b'{"Image": "busybox", "X": ' + b'{"a":' * 500 + b"1" + b"}" * 500 + b"}",
     "invalid JSON: exceeded max depth"),
])
def test_nan_infinity_and_deep_nesting_are_400(daemon: Daemon, unchanged: None, raw: bytes,
                                               message: str) -> None:
    assert post(daemon, "/containers/create", raw) == (400, message)


def _rss_kb(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _send_huge(daemon: Daemon, size: int, *, chunked: bool) -> bytes:
    """POST ``size`` bytes of a JSON string to containers/create; the reply, however it ends."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(30)
    sock.connect(str(daemon.sock))
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}"
    sock.sendall(f"POST {daemon.api}/containers/create HTTP/1.1\r\nHost: d\r\n"
                 f"Content-Type: application/json\r\n{framing}\r\n\r\n".encode())
    piece = b'{"Image": "busybox", "Env": ["' + b"A" * (1 << 20)
    sent = 0
    try:
        while sent < size:
            data = piece if not chunked else f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
            sock.sendall(data)
            sent += len(piece)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the daemon stopped reading: what we are testing
    reply = b""
    try:
        while chunk := sock.recv(65536):
            reply += chunk
            if b"\r\n\r\n" in reply and reply.rstrip().endswith(b"}"):
                break
    except (ConnectionResetError, TimeoutError):
        pass
    sock.close()
    return reply


@pytest.mark.parametrize("chunked", [False, True])
def test_a_50_mb_body_is_refused_while_reading(daemon: Daemon, unchanged: None, chunked: bool) -> None:
    assert daemon.proc is not None
    before = _rss_kb(daemon.proc.pid)
    reply = _send_huge(daemon, 50 << 20, chunked=chunked)
    assert reply.startswith(b"HTTP/1.1 400"), reply[:200]
    assert b"request body too large: more than 4194304 bytes" in reply
    # Refused at 4 MiB: the daemon never holds the 50 MB (it took 243 MB more before).
    assert _rss_kb(daemon.proc.pid) - before < 40_000
    assert daemon.request("GET", "/_ping")[0] == 200


LONG = "a" * 1000


@pytest.mark.parametrize(("name", "message"), [
    ("a/b", "Invalid container name (a/b), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"),
    ("ab\n", "invalid container name 'ab\\n': it contains the character U+000A, which names may not hold"),
    ("a\x1bb", "invalid container name 'a\\x1bb': it contains the character U+001B, which names may "
               "not hold"),
    (LONG, "invalid container name: 1000 characters, longer than the 255 allowed"),
])
def test_bad_container_names(daemon: Daemon, unchanged: None, name: str, message: str) -> None:
    path = "/containers/create?name=" + urllib.parse.quote(name, safe="")
    assert post(daemon, path, {"Image": "busybox"}) == (400, message)
    code, _, err = daemon.docker("create", "--name", name, "busybox")
    assert code != 0 and message in err


def test_container_name_of_invalid_utf8(daemon: Daemon, unchanged: None) -> None:
    # aiohttp decodes %FF to U+FFFD; the name is refused before the character rule sees it.
    status, message = post(daemon, "/containers/create?name=ab%FF", {"Image": "busybox"})
    assert (status, message) == (400, "invalid container name 'ab\ufffd': it contains the character "
                                      "U+FFFD, which names may not hold")


VOLUME_RULE = ('includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" '
               "are allowed. If you intended to pass a host directory, use absolute path")


@pytest.mark.parametrize(("name", "message"), [
    ("a/b", f'create a/b: "a/b" {VOLUME_RULE}'),
    ("../../etc", f'create ../../etc: "../../etc" {VOLUME_RULE}'),
    ("ab\n", "invalid volume name 'ab\\n': it contains the character U+000A, which names may not hold"),
    (LONG, "invalid volume name: 1000 characters, longer than the 255 allowed"),
])
def test_bad_volume_names(daemon: Daemon, unchanged: None, name: str, message: str) -> None:
    volumes_dir = daemon.data_root / "volumes"
    before = sorted(p.name for p in volumes_dir.iterdir())
    assert post(daemon, "/volumes/create", {"Name": name}) == (400, message)
    code, _, err = daemon.docker("volume", "create", name)
    assert code != 0 and message in err
    assert sorted(p.name for p in volumes_dir.iterdir()) == before
    assert not (daemon.data_root.parent / "etc").exists()


def test_invalid_utf8_in_a_body_is_400(daemon: Daemon, unchanged: None) -> None:
    status, message = post(daemon, "/volumes/create", b'{"Name": "ab\xff\xfe"}')
    assert status == 400 and message.startswith("invalid JSON: ")
    status, message = post(daemon, "/networks/create", b'{"Name": "n\xc3"}')
    assert status == 400 and message.startswith("invalid JSON: ")


@pytest.mark.parametrize(("name", "message"), [
    ("a/b", "invalid network name 'a/b': it may not contain \"/\""),
    ("a\nb", "invalid network name 'a\\nb': it contains the character U+000A, which names may not hold"),
    ("n\ufffd", "invalid network name 'n\ufffd': it contains the character U+FFFD, which names may not "
                "hold"),
    (LONG, "invalid network name: 1000 characters, longer than the 255 allowed"),
])
def test_bad_network_names(daemon: Daemon, unchanged: None, name: str, message: str) -> None:
    assert post(daemon, "/networks/create", {"Name": name}) == (400, message)
    code, _, err = daemon.docker("network", "create", name)
    assert code != 0 and message in err


@pytest.mark.parametrize(("repo", "tag", "message"), [
    ("ok", "v1\n", "invalid tag format: v1\n"),
    ("ok", "a/b", "invalid tag format: a/b"),
    ("ok", "t" * 1000, "invalid tag format: " + "t" * 1000),
    ("a" * 1000, "v1", "invalid reference format: repository name must not be more than 255 characters"),
    ("bad\nrepo", "v1", "invalid reference format"),
    ("bad/../repo", "v1", "invalid reference format"),
])
def test_bad_image_tags(daemon: Daemon, unchanged: None, repo: str, tag: str, message: str) -> None:
    query = urllib.parse.urlencode({"repo": repo, "tag": tag})
    assert post(daemon, f"/images/busybox/tag?{query}", b"") == (400, message)


@pytest.mark.parametrize(("host_config", "message"), [
    ({"Memory": -1}, "Minimum memory limit allowed is 6MB"),
    ({"Memory": -(2**40)}, "Minimum memory limit allowed is 6MB"),
    ({"MemoryReservation": -5}, "Minimum memory reservation allowed is 6MB"),
    ({"Memory": 2**63}, f"json: cannot unmarshal number {2**63} into Go struct field HostConfig."
                        "HostConfig.Memory of type int64"),
    ({"MemorySwap": 2**64}, f"json: cannot unmarshal number {2**64} into Go struct field HostConfig."
                            "HostConfig.MemorySwap of type int64"),
    ({"NanoCpus": -(2**63) - 1}, f"json: cannot unmarshal number {-(2**63) - 1} into Go struct field "
                                 "HostConfig.HostConfig.NanoCpus of type int64"),
    ({"OomScoreAdj": 1001}, "Invalid value 1001, range for oom score adj is [-1000, 1000]"),
    ({"OomScoreAdj": -1001}, "Invalid value -1001, range for oom score adj is [-1000, 1000]"),
])
def test_limits_docker_refuses(daemon: Daemon, unchanged: None, host_config: dict[str, Any],
                               message: str) -> None:
    body = {"Image": "busybox", "HostConfig": host_config}
    assert post(daemon, "/containers/create", body) == (400, message)


def test_limits_docker_refuses_through_the_cli(daemon: Daemon, unchanged: None) -> None:
    code, _, err = daemon.docker("create", "--oom-score-adj", "1001", "busybox")
    assert code != 0 and "Invalid value 1001, range for oom score adj is [-1000, 1000]" in err


def test_update_refuses_overflow(daemon: Daemon, container: Any) -> None:
    cid = container("busybox", "sleep", "60")
    status, message = post(daemon, f"/containers/{cid}/update", {"Memory": 2**63})
    assert status == 400 and "Go struct field UpdateConfig.Memory of type int64" in message
    assert post(daemon, f"/containers/{cid}/update", {"Memory": -1}) == (
        400, f"Cannot update container {cid}: Minimum memory limit allowed is 6MB")
    code, _, err = daemon.docker("update", "--memory-reservation", "1k", cid)
    assert code != 0 and "Minimum memory reservation allowed is 6MB" in err
    assert daemon.docker_ok("inspect", "-f", "{{.HostConfig.Memory}}", cid).strip() == "0"


def test_oom_score_adj_is_applied(daemon: Daemon) -> None:
    out = daemon.docker_ok("run", "--rm", "--oom-score-adj", "500", "busybox", "cat",
                           "/proc/self/oom_score_adj")
    assert out.strip() == "500"


@pytest.mark.parametrize(("mount", "message"), [
    ("type=bind,source=/tmp/../etc,target=/m",
     "invalid mount config for type \"bind\": invalid mount path: '/tmp/../etc': a bind source may not "
     "contain '..'"),
    ("type=volume,source=../x,target=/m", f'create ../x: "../x" {VOLUME_RULE}'),
    ("type=volume,source=a/../../b,target=/m", f'create a/../../b: "a/../../b" {VOLUME_RULE}'),
])
def test_mount_sources_with_parent_steps(daemon: Daemon, unchanged: None, mount: str, message: str) -> None:
    code, _, err = daemon.docker("create", "--mount", mount, "busybox")
    # The CLI makes a relative volume source absolute (/cwd/x) before sending it: still refused.
    assert code != 0 and (message in err or VOLUME_RULE in err)
    fields = dict(part.split("=", 1) for part in mount.split(","))
    body = {"Image": "busybox", "HostConfig": {"Mounts": [
        {"Type": fields["type"], "Source": fields["source"], "Target": fields["target"]}]}}
    assert post(daemon, "/containers/create", body) == (400, message)


def test_binds_with_parent_steps(daemon: Daemon, unchanged: None) -> None:
    body = {"Image": "busybox", "HostConfig": {"Binds": ["/tmp/../etc:/m"]}}
    assert post(daemon, "/containers/create", body) == (
        400, "invalid volume specification: '/tmp/../etc:/m': a bind source may not contain '..'")


def _log_errors(daemon: Daemon, start: int) -> list[str]:
    text = daemon.log_path.read_text(errors="replace")[start:]
    return [line for line in text.splitlines() if " ERROR " in line or line.startswith("Traceback")]


@pytest.mark.parametrize("args", [["logs", "-f"], ["events"], ["attach"], ["stats"]])
def test_a_client_hanging_up_mid_stream_is_one_info_line(daemon: Daemon, container: Any,
                                                        args: list[str]) -> None:
    cid = container("busybox", "sh", "-c", "while true; do echo tick; sleep 0.1; done")
    start = len(daemon.log_path.read_text(errors="replace"))
    argv = [DOCKER, *args] + ([] if args == ["events"] else [cid])
    proc = subprocess.Popen(argv, env=daemon.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL)
    time.sleep(1.5)
    if args == ["events"]:
        daemon.docker_ok("pause", cid)  # something to stream
        daemon.docker_ok("unpause", cid)
    proc.kill()
    proc.wait()
    time.sleep(1.0)  # the daemon's next write finds the socket closed
    assert daemon.request("GET", "/_ping")[0] == 200
    assert _log_errors(daemon, start) == []


def test_exec_console_size_of_nulls(daemon: Daemon, container: Any) -> None:
    cid = container("busybox", "sleep", "60")
    status, _, reply = daemon.request(
        "POST", f"{daemon.api}/containers/{cid}/exec", headers={"Content-Type": "application/json"},
        body=json.dumps({"Cmd": ["touch", "/ran"], "ConsoleSize": [None, None]}).encode())
    assert status == 201, reply
    exec_id = json.loads(reply)["Id"]
    status, _, reply = daemon.request(
        "POST", f"{daemon.api}/exec/{exec_id}/start", headers={"Content-Type": "application/json"},
        body=json.dumps({"Detach": True, "ConsoleSize": [None, None]}).encode())
    assert status == 200, reply
    for _ in range(50):
        if daemon.docker("exec", cid, "test", "-e", "/ran")[0] == 0:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the exec did not run")


@pytest.mark.parametrize("path", ["/containers/json", "/images/json", "/networks", "/volumes"])
def test_deep_json_in_filters_is_400(daemon: Daemon, path: str) -> None:
    deep = urllib.parse.quote("[" * 1200 + "]" * 1200)  # past Python's recursion limit; fits a URL
    status, _, reply = daemon.request("GET", f"{daemon.api}{path}?filters={deep}")
    assert (status, json.loads(reply)["message"]) == (400, "invalid filter: invalid JSON: exceeded max depth")
    status, _, reply = daemon.request("GET", f"{daemon.api}{path}?filters=" + urllib.parse.quote(
        '{"label": NaN}'))
    assert status == 400 and "invalid character 'N'" in json.loads(reply)["message"]

"""Request shapes the CLI sends, against a small fake daemon on a temporary UNIX socket.

The fake speaks just enough HTTP/1.1 by hand (keep-alive, chunked replies, the 101 upgrade) so the
CLI's real httpx and hijack code run unchanged, and records every request for the assertions.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from dockyard.cli.hijack import frame
from dockyard.cli.main import main

CID = "f" * 64


@dataclass
class Recorded:
    method: str
    path: str
    query: list[tuple[str, str]]
    body: bytes

    @property
    def params(self) -> dict[str, str]:
        return dict(self.query)

    def json(self) -> Any:
        return json.loads(self.body)


Handler = Callable[["FakeDaemon", Recorded, asyncio.StreamWriter], Awaitable[None]]


class FakeDaemon:
    def __init__(self, sock: Path, api_version: str = "1.45") -> None:
        self.sock = sock
        self.api_version = api_version
        self.requests: list[Recorded] = []
        self.connections = 0
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.started = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self.routes.append((method, re.compile(pattern + "$"), handler))

    def start(self) -> None:
        self._thread.start()
        assert self._ready.wait(5)

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(asyncio.start_unix_server(self._connection, str(self.sock)))
        self._ready.set()
        self._loop.run_forever()
        tasks = asyncio.all_tasks(self._loop)
        for task in tasks:
            task.cancel()
        self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        self._loop.close()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while not writer.is_closing():
                head = await reader.readuntil(b"\r\n\r\n")
                request = await self._read_request(head, reader)
                if not await self._dispatch(request, writer):
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _read_request(self, head: bytes, reader: asyncio.StreamReader) -> Recorded:
        lines = head.decode().split("\r\n")
        method, target, _ = lines[0].split(" ")
        pairs = (line.partition(":") for line in lines[1:] if line)
        headers = {k.strip().lower(): v.strip() for k, _, v in pairs}
        body = b""
        if "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding") == "chunked":
            while size := int((await reader.readline()).strip(), 16):
                body += await reader.readexactly(size)
                await reader.readline()
            await reader.readline()
        url = urlsplit(target)
        recorded = Recorded(method, url.path, parse_qsl(url.query, keep_blank_values=True), body)
        if url.path != "/_ping":
            self.requests.append(recorded)
        return recorded

    async def _dispatch(self, request: Recorded, writer: asyncio.StreamWriter) -> bool:
        if request.path == "/_ping":
            await respond(writer, 200, b"OK", {"Api-Version": self.api_version})
            return True
        path = re.sub(r"^/v[0-9.]+", "", request.path)
        for method, pattern, handler in self.routes:
            if method == request.method and pattern.match(path):
                await handler(self, request, writer)
                return not writer.is_closing()
        await respond_json(writer, 404, {"message": f"page not found: {path}"})
        return True


async def respond(writer: asyncio.StreamWriter, status: int, body: bytes = b"",
                  headers: dict[str, str] | None = None) -> None:
    lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    await writer.drain()


async def respond_json(writer: asyncio.StreamWriter, status: int, value: Any) -> None:
    await respond(writer, status, json.dumps(value).encode(), {"Content-Type": "application/json"})


def reply(status: int, value: Any = None) -> Handler:
    async def handler(daemon: FakeDaemon, request: Recorded, writer: asyncio.StreamWriter) -> None:
        if value is None:
            await respond(writer, status)
        else:
            await respond_json(writer, status, value)
    return handler


async def _until_started(daemon: FakeDaemon) -> None:
    while not daemon.started.is_set():
        await asyncio.sleep(0.01)


async def attach(daemon: FakeDaemon, request: Recorded, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
    await _until_started(daemon)
    writer.write(frame(1, b"hello from dockyard\n") + frame(2, b"to stderr\n"))
    await writer.drain()
    writer.close()


async def start(daemon: FakeDaemon, request: Recorded, writer: asyncio.StreamWriter) -> None:
    daemon.started.set()
    await respond(writer, 204)


async def wait(daemon: FakeDaemon, request: Recorded, writer: asyncio.StreamWriter) -> None:
    # As moby: the head is flushed when the wait is registered, the body when the container exits.
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
    await writer.drain()
    await _until_started(daemon)
    body = json.dumps({"StatusCode": 3}).encode()
    writer.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
    await writer.drain()


@pytest.fixture
def daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDaemon]:
    fake = FakeDaemon(tmp_path / "d.sock")
    fake.start()
    monkeypatch.setenv("DOCKER_HOST", f"unix://{fake.sock}")
    yield fake
    fake.stop()


def cli(*args: str) -> int:
    with pytest.raises(SystemExit) as info:
        main(list(args))
    return int(info.value.code or 0)


def test_run_attaches_before_start_and_exits_with_the_container_status(
        daemon: FakeDaemon, capfd: pytest.CaptureFixture[str]) -> None:
    daemon.route("POST", "/containers/create", reply(201, {"Id": CID, "Warnings": []}))
    daemon.route("POST", f"/containers/{CID}/attach", attach)
    daemon.route("POST", f"/containers/{CID}/wait", wait)
    daemon.route("POST", f"/containers/{CID}/start", start)
    assert cli("run", "--rm", "--name", "web", "-e", "A=1", "-l", "tier=front", "busybox",
               "sh", "-c", "exit 3") == 3
    out, err = capfd.readouterr()
    assert out == "hello from dockyard\n"
    assert err == "to stderr\n"
    paths = [(r.method, re.sub(r"^/v[0-9.]+", "", r.path)) for r in daemon.requests]
    started = paths.index(("POST", f"/containers/{CID}/start"))
    assert paths.index(("POST", f"/containers/{CID}/attach")) < started
    assert paths.index(("POST", f"/containers/{CID}/wait")) < started
    create = daemon.requests[0]
    assert create.path == "/v1.45/containers/create"  # the daemon's lower version was negotiated
    assert create.params == {"name": "web"}
    body = create.json()
    assert (body["Image"], body["Cmd"], body["Env"], body["Labels"]) == (
        "busybox", ["sh", "-c", "exit 3"], ["A=1"], {"tier": "front"})
    assert body["HostConfig"]["AutoRemove"] is True
    attach_request = next(r for r in daemon.requests if r.path.endswith("/attach"))
    assert attach_request.params == {"stream": "1", "stdout": "1", "stderr": "1"}
    wait_request = next(r for r in daemon.requests if r.path.endswith("/wait"))
    assert wait_request.params == {"condition": "removed"}


def test_run_detached_prints_the_full_id(daemon: FakeDaemon, capfd: pytest.CaptureFixture[str]) -> None:
    daemon.route("POST", "/containers/create", reply(201, {"Id": CID, "Warnings": []}))
    daemon.route("POST", f"/containers/{CID}/start", start)
    assert cli("run", "-d", "busybox", "sleep", "10") == 0
    assert capfd.readouterr().out == CID + "\n"
    assert [r.path for r in daemon.requests] == ["/v1.45/containers/create", f"/v1.45/containers/{CID}/start"]


def test_run_of_a_missing_image_says_so_and_exits_125(
        daemon: FakeDaemon, capfd: pytest.CaptureFixture[str]) -> None:
    daemon.route("POST", "/containers/create", reply(404, {"message": "No such image: nope:latest"}))
    daemon.route("POST", "/images/create", reply(404, {"message": "pull access denied for nope"}))
    assert cli("run", "nope") == 125
    err = capfd.readouterr().err
    assert err == ("Unable to find image 'nope:latest' locally\n"
                   "dockyard: Error response from daemon: pull access denied for nope\n\n"
                   "Run 'dockyard run --help' for more information\n")
    pull = daemon.requests[1]
    assert pull.params == {"fromImage": "docker.io/library/nope", "tag": "latest"}
    assert cli("run", "--pull", "never", "nope") == 125
    err = capfd.readouterr().err
    assert err.startswith("dockyard: Error response from daemon: No such image: nope:latest\n")


def test_run_start_failure_maps_to_127(daemon: FakeDaemon, capfd: pytest.CaptureFixture[str]) -> None:
    message = 'failed to create task: exec: "nope": executable file not found in $PATH'
    daemon.route("POST", "/containers/create", reply(201, {"Id": CID, "Warnings": []}))
    daemon.route("POST", f"/containers/{CID}/attach", attach)
    daemon.route("POST", f"/containers/{CID}/wait", wait)
    daemon.route("POST", f"/containers/{CID}/start", reply(400, {"message": message}))
    assert cli("run", "busybox", "nope") == 127
    assert capfd.readouterr().err.startswith(f"dockyard: Error response from daemon: {message}\n")


SUMMARY = {
    "Id": CID, "Names": ["/web"], "Image": "busybox", "ImageID": "sha256:" + "a" * 64,
    "Command": "sh -c 'while true; do sleep 1; done'", "Created": int(time.time()) - 150, "State": "running",
    "Status": "Up 3 seconds", "Ports": [{"PrivatePort": 80, "Type": "tcp"}],
    "Labels": {"tier": "front"}, "Mounts": [], "NetworkSettings": {"Networks": {"bridge": {}}},
}


def test_ps_sends_filters_and_prints_docker_columns(
        daemon: FakeDaemon, capfd: pytest.CaptureFixture[str]) -> None:
    # Created is 150 s before now, not before collection: a long suite would age it past 2 minutes.
    daemon.route("GET", "/containers/json", reply(200, [{**SUMMARY, "Created": int(time.time()) - 150}]))
    assert cli("ps", "-a", "--filter", "label=tier=front", "--filter", "status=running") == 0
    out = capfd.readouterr().out.splitlines()
    assert daemon.requests[0].params["all"] == "1"
    filters = json.loads(daemon.requests[0].params["filters"])
    assert filters == {"label": ["tier=front"], "status": ["running"]}
    assert out[0] == ("CONTAINER ID   IMAGE     COMMAND                  CREATED         STATUS         "
                      "PORTS     NAMES")
    assert out[1].startswith("ffffffffffff   busybox   \"sh -c 'while true; …\"   ")
    assert out[1].endswith("   Up 3 seconds   80/tcp    web")
    assert cli("ps", "--format", '{{.Names}} {{.Label "tier"}} {{.ID}}', "--no-trunc") == 0
    assert capfd.readouterr().out == f"web front {CID}\n"
    assert cli("ps", "-q", "-n", "2") == 0
    assert capfd.readouterr().out == "ffffffffffff\n"
    assert daemon.requests[-1].params == {"all": "1", "limit": "2"}


def test_rm_reports_each_failure_and_exits_1(daemon: FakeDaemon, capfd: pytest.CaptureFixture[str]) -> None:
    busy = ('cannot remove container "/busy": container is running: stop the container before '
            'removing or force remove')
    daemon.route("DELETE", "/containers/idle", reply(204))
    daemon.route("DELETE", "/containers/busy", reply(409, {"message": busy}))
    assert cli("rm", "-f", "idle", "busy") == 1
    out, err = capfd.readouterr()
    assert out == "idle\n"
    assert err == f"Error response from daemon: {busy}\n"
    assert daemon.requests[0].params == {"force": "1", "v": "0", "link": "0"}


def test_inspect_prints_an_indented_array_or_a_format(
        daemon: FakeDaemon, capfd: pytest.CaptureFixture[str]) -> None:
    daemon.route("GET", "/containers/web/json", reply(200, {"Id": CID, "State": {"Status": "exited"}}))
    daemon.route("GET", "/containers/busybox/json", reply(404, {"message": "No such container: busybox"}))
    daemon.route("GET", "/images/busybox/json", reply(200, {"Id": "sha256:" + "a" * 64}))
    assert cli("inspect", "--format", "{{.State.Status}}", "web") == 0
    assert capfd.readouterr().out == "exited\n"
    assert cli("inspect", "busybox") == 0
    assert capfd.readouterr().out == '[\n    {\n        "Id": "sha256:' + "a" * 64 + '"\n    }\n]\n'
    assert cli("container", "inspect", "busybox") == 1
    assert capfd.readouterr() == ("[]\n", "Error response from daemon: No such container: busybox\n")


def test_images_expands_tags_and_quiet_dedups(daemon: FakeDaemon,
                                               capfd: pytest.CaptureFixture[str]) -> None:
    image = {"Id": "sha256:" + "b" * 64, "RepoTags": ["busybox:latest", "mine:1"], "RepoDigests": [],
             "Created": int(time.time()) - 150, "Size": 4261234}
    daemon.route("GET", "/images/json", reply(200, [image]))
    assert cli("images") == 0
    lines = capfd.readouterr().out.splitlines()
    assert lines[0] == "REPOSITORY   TAG       IMAGE ID       CREATED         SIZE"
    assert lines[1].startswith("busybox      latest    bbbbbbbbbbbb   2 minutes ago   ")
    assert lines[1].endswith("   4.26MB")
    assert lines[2].startswith("mine         1         bbbbbbbbbbbb")
    assert cli("image", "ls", "-q") == 0
    assert capfd.readouterr().out == "bbbbbbbbbbbb\n"


def test_unknown_flag_exits_125(capfd: pytest.CaptureFixture[str]) -> None:
    assert cli("ps", "--bogus") == 125
    assert capfd.readouterr().err == ("unknown flag: --bogus\n\nUsage:  dockyard ps [OPTIONS]\n\n"
                                      "Run 'dockyard ps --help' for more information\n")


def test_volume_create_sends_docker_body(daemon: FakeDaemon, capfd: pytest.CaptureFixture[str]) -> None:
    daemon.route("POST", "/volumes/create", reply(201, {"Name": "v1"}))
    assert cli("volume", "create", "-o", "type=tmpfs", "--label", "a=b", "v1") == 0
    assert capfd.readouterr().out == "v1\n"
    create = [r for r in daemon.requests if r.path.endswith("/volumes/create")][0]
    assert create.json() == {"Name": "v1", "Driver": "local", "DriverOpts": {"type": "tmpfs"},
                             "Labels": {"a": "b"}}


def test_a_chunked_body_streams_and_the_connection_is_reused(tmp_path: Path) -> None:
    """The standard-library client (cli/connection.py): a chunked upload, a streamed chunked reply
    read piece by piece, then a second request on the same keep-alive connection."""
    from dockyard.cli.client import Client, iter_json_stream

    fake = FakeDaemon(tmp_path / "d.sock")

    async def build(daemon: FakeDaemon, request: Recorded, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for part in (b'{"stream": "a"}', b'{"stream": ', b'"b"}'):
            writer.write(b"%x\r\n%s\r\n" % (len(part), part))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    fake.route("POST", "/build", build)
    fake.route("GET", "/info", reply(200, {"ID": "x"}))
    fake.start()
    try:
        client = Client(f"unix://{fake.sock}")
        with client.stream("POST", "/build", params={"t": "a b"}, content=iter([b"ab", b"cd"])) as response:
            assert [m["stream"] for m in iter_json_stream(response)] == ["a", "b"]
        assert client.get_json("/info") == {"ID": "x"}
        client.close()
    finally:
        fake.stop()
    build_request = [r for r in fake.requests if r.path.endswith("/build")][0]
    assert build_request.body == b"abcd" and build_request.params == {"t": "a b"}
    assert fake.connections == 1


def test_json_objects_split_from_a_stream_keep_the_partial_one() -> None:
    # Shared by the CLI's and the UI's stream readers: whole objects out, the one still arriving kept.
    from dockyard.cli.client import split_json_objects

    assert split_json_objects(' {"a": 1}\r\n[2] {"b": {"c": ') == ([{"a": 1}], '{"b": {"c": ')
    assert split_json_objects('{"b": {"c": 3}}\n') == ([{"b": {"c": 3}}], "")

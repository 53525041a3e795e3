"""The CLI side of volumes and docker cp: argument splitting, local unpacking, request shapes."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import httpx
from click.testing import CliRunner

from dockyard.cli import main as cli_main
from dockyard.cli.container_files import _extract_local, _split


def test_split_container_and_local_paths() -> None:
    assert _split("web:/etc/hosts") == ("web", "/etc/hosts")
    assert _split("/tmp/a:b") == (None, "/tmp/a:b")
    assert _split("./x:y") == (None, "./x:y")
    assert _split("-") == (None, "-")


def _tar(top: str) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(top)
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
        data = b"x\n"
        info = tarfile.TarInfo(f"{top}/f")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


def test_extract_into_a_directory_or_as_a_new_name(tmp_path: Path) -> None:
    _extract_local(_tar("d"), str(tmp_path), "d")
    assert (tmp_path / "d" / "f").read_text() == "x\n"
    _extract_local(_tar("d"), str(tmp_path / "renamed"), "d")
    assert (tmp_path / "renamed" / "f").read_text() == "x\n"


def test_volume_create_sends_docker_body(monkeypatch) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/_ping"):
            return httpx.Response(200, headers={"Api-Version": "1.50"}, text="OK")
        return httpx.Response(201, json={"Name": "v1"})

    transport = httpx.MockTransport(handler)
    original = httpx.Client.__init__

    def patched(self, *args, **kwargs) -> None:  # noqa: ANN001, ANN002, ANN003
        kwargs["transport"] = transport
        original(self, *args, **kwargs)

    monkeypatch.setattr(httpx.Client, "__init__", patched)
    args = ["volume", "create", "-o", "type=tmpfs", "--label", "a=b", "v1"]
    result = CliRunner().invoke(cli_main.cli, args)
    assert result.exit_code == 0, result.output
    assert result.output == "v1\n"
    create = [r for r in seen if r.url.path.endswith("/volumes/create")][0]
    assert json.loads(create.content) == {"Name": "v1", "Driver": "local", "DriverOpts": {"type": "tmpfs"},
                                          "Labels": {"a": "b"}}

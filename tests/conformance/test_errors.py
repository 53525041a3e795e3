"""Bad inputs: the status and message Docker gives, and a store left exactly as it was."""

from __future__ import annotations

import json
import re
from pathlib import Path

from .daemon import Daemon
from .images import docker_save_archive, tar_of


def test_run_unknown_image(daemon: Daemon) -> None:
    before = daemon.store_state()
    code, _, err = daemon.docker("run", "--rm", "nosuchimage", timeout=120)
    assert code == 125, err
    assert "Unable to find image 'nosuchimage:latest' locally" in err
    assert daemon.store_state() == before


def test_run_unknown_image_without_pull(daemon: Daemon) -> None:
    before = daemon.store_state()
    code, _, err = daemon.docker("run", "--pull", "never", "--rm", "nosuchimage")
    assert code == 125, err
    assert "No such image: nosuchimage:latest" in err
    assert daemon.store_state() == before


def test_create_unknown_image_is_404(daemon: Daemon) -> None:
    before = daemon.store_state()
    status, body = daemon.request_json("POST", f"{daemon.api}/containers/create", {"Image": "nosuchimage"})
    assert status == 404
    assert body == {"message": "No such image: nosuchimage:latest"}
    assert daemon.store_state() == before


def test_duplicate_name_is_409_with_docker_text(daemon: Daemon, container, name) -> None:
    n = name("dup")
    cid = container("--name", n, "busybox", "sleep", "100")
    before = daemon.store_state()
    code, _, err = daemon.docker("run", "-d", "--name", n, "busybox", "true")
    assert code == 125
    assert (f'Conflict. The container name "/{n}" is already in use by container "{cid}". '
            "You have to remove (or rename) that container to be able to reuse that name.") in err
    status, body = daemon.request_json("POST", f"{daemon.api}/containers/create?name={n}",
                                       {"Image": "busybox"})
    assert status == 409 and f'"/{n}" is already in use' in body["message"]
    assert daemon.store_state() == before


def test_malformed_json_body_is_400(daemon: Daemon) -> None:
    before = daemon.store_state()
    status, _, raw = daemon.request("POST", f"{daemon.api}/containers/create", body=b'{"Image": "busybox",',
                                    headers={"Content-Type": "application/json"})
    assert status == 400, raw
    assert json.loads(raw)["message"]
    assert daemon.store_state() == before


def test_create_with_invalid_name_is_400(daemon: Daemon) -> None:
    before = daemon.store_state()
    status, body = daemon.request_json("POST", f"{daemon.api}/containers/create?name=bad/name",
                                       {"Image": "busybox"})
    assert status == 400
    assert 'Invalid container name (bad/name), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed' in body["message"]
    assert daemon.store_state() == before


def test_rm_running_container_without_force_is_409(daemon: Daemon, container) -> None:
    cid = container("busybox", "sleep", "100")
    code, _, err = daemon.docker("rm", cid)
    assert code == 1
    # Docker 25+: 'container is running: stop the container before removing or force remove';
    # older: 'You cannot remove a running container … Stop the container before attempting removal …'.
    assert re.search(r"(?i)stop the container before (removing|attempting removal) or force remove", err), err
    status, body = daemon.request_json("DELETE", f"{daemon.api}/containers/{cid}")
    assert status == 409
    assert daemon.docker_ok("inspect", "-f", "{{.State.Running}}", cid).strip() == "true"


def test_unknown_container(daemon: Daemon) -> None:
    for verb in (("container", "inspect"), ("stop",), ("rm",), ("start",), ("kill",), ("logs",)):
        code, _, err = daemon.docker(*verb, "nosuchcontainer")
        assert code == 1, verb
        assert "No such container: nosuchcontainer" in err, (verb, err)
    status, body = daemon.request_json("GET", f"{daemon.api}/containers/nosuchcontainer/json")
    assert (status, body) == (404, {"message": "No such container: nosuchcontainer"})


def test_api_version_too_new(daemon: Daemon) -> None:
    for path in ("/v9.99/version", "/v9.99/_ping"):
        status, _, raw = daemon.request("GET", path)
        assert status == 400, path
        assert json.loads(raw)["message"] == (
            f"client version 9.99 is too new. Maximum supported API version is {daemon.api_version}")


def test_old_api_version_works(daemon: Daemon) -> None:
    status, body = daemon.request_json("GET", "/v1.24/version")
    assert status == 200
    assert body["ApiVersion"] == daemon.api_version
    status, _, raw = daemon.request("GET", f"{daemon.api}/_ping")
    assert (status, raw) == (200, b"OK")


def test_unknown_endpoint_is_404_json(daemon: Daemon) -> None:
    status, _, raw = daemon.request("GET", f"{daemon.api}/nosuchendpoint")
    assert status == 404
    assert json.loads(raw)["message"]


def _files_named(root: Path, name: str) -> list[Path]:
    return [p for p in root.rglob(name)] + ([root.parent / name] if (root.parent / name).exists() else [])


def test_load_refuses_path_escape_in_archive(daemon: Daemon, tmp_path: Path, rootfs_tar: Path) -> None:
    good = docker_save_archive(rootfs_tar.read_bytes(), "evil", "1", ["sh"])
    with_escape = tar_of([("../evil", b"escaped\n"), ("manifest.json", b"[]")])
    before = daemon.store_state()
    for i, data in enumerate((with_escape, _with_member(good.archive, "../evil"))):
        path = tmp_path / f"evil{i}.tar"
        path.write_bytes(data)
        code, out, err = daemon.docker("load", "-i", str(path))
        assert code != 0, (out, err)
        assert "Loaded image" not in out
    assert daemon.store_state() == before
    assert _files_named(daemon.root, "evil") == []


def test_load_refuses_path_escape_in_layer(daemon: Daemon, tmp_path: Path) -> None:
    layer = tar_of([("bin/", None), ("../../../../evil-layer", b"escaped\n")])
    saved = docker_save_archive(layer, "evil-layer", "1", ["sh"])
    path = tmp_path / "evil-layer.tar"
    path.write_bytes(saved.archive)
    before = daemon.store_state()
    code, out, err = daemon.docker("load", "-i", str(path))
    if code == 0:
        # Docker sanitises the member instead of failing; then nothing may land outside the rootfs.
        daemon.docker("rmi", "evil-layer:1")
    else:
        assert "Loaded image" not in out
        assert daemon.store_state() == before
    assert _files_named(daemon.root, "evil-layer") == []
    assert not Path("/evil-layer").exists()


def _with_member(archive: bytes, name: str) -> bytes:
    import io
    import tarfile

    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(archive)) as src, tarfile.open(fileobj=out, mode="w") as dst:
        for member in src.getmembers():
            dst.addfile(member, src.extractfile(member) if member.isfile() else None)
        info = tarfile.TarInfo(name)
        info.size = 8
        dst.addfile(info, io.BytesIO(b"escaped\n"))
    return out.getvalue()


def test_rmi_of_unknown_image(daemon: Daemon) -> None:
    code, _, err = daemon.docker("rmi", "nosuchimage:1")
    assert code == 1
    assert "No such image: nosuchimage:1" in err


def test_invalid_reference_format(daemon: Daemon) -> None:
    before = daemon.store_state()
    status, body = daemon.request_json("POST", f"{daemon.api}/containers/create", {"Image": "UPPER/Case"})
    assert status == 400
    assert body["message"].startswith("invalid reference format"), body
    assert daemon.store_state() == before

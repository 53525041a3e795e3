"""``docker cp`` both ways through the stock CLI: files, directories, symlinks, ownership, tar
streams on stdin/stdout, volumes and binds inside the container, and stopped containers."""

from __future__ import annotations

import base64
import io
import json
import os
import tarfile
from pathlib import Path

from .daemon import Daemon


def _tar_members(data: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: m for m in tar.getmembers()}


def test_cp_into_and_out_of_a_running_container(daemon: Daemon, container, tmp_path: Path) -> None:
    cid = container("busybox", "sleep", "60")
    src = tmp_path / "d"
    (src / "sub").mkdir(parents=True)
    (src / "a").write_text("one\n")
    (src / "sub" / "b").write_text("two\n")
    (src / "link").symlink_to("a")
    daemon.docker_ok("cp", str(src), f"{cid}:/tmp/")
    listing = daemon.docker_ok("exec", cid, "sh", "-c", "cat /tmp/d/a /tmp/d/sub/b; readlink /tmp/d/link")
    assert listing == "one\ntwo\na\n"
    daemon.docker_ok("cp", str(src / "a"), f"{cid}:/tmp/renamed")
    assert daemon.docker_ok("exec", cid, "cat", "/tmp/renamed") == "one\n"

    out = tmp_path / "out"
    daemon.docker_ok("cp", f"{cid}:/tmp/d", str(out))
    assert (out / "sub" / "b").read_text() == "two\n"
    assert (out / "link").is_symlink() and os.readlink(out / "link") == "a"
    daemon.docker_ok("cp", f"{cid}:/etc/hostname", str(tmp_path / "hn"))
    assert (tmp_path / "hn").read_text().strip() == cid[:12]


def test_cp_symlinks_and_follow(daemon: Daemon, container, tmp_path: Path) -> None:
    cid = container("busybox", "sh", "-c", "echo target > /tmp/t; ln -s /tmp/t /tmp/l; sleep 60")
    daemon.docker_ok("exec", cid, "sh", "-c", "test -L /tmp/l || sleep 1")
    daemon.docker_ok("cp", f"{cid}:/tmp/l", str(tmp_path / "asis"))
    assert os.readlink(tmp_path / "asis") == "/tmp/t"
    daemon.docker_ok("cp", "-L", f"{cid}:/tmp/l", str(tmp_path / "followed"))
    assert (tmp_path / "followed").read_text() == "target\n"
    status, headers, _ = daemon.request("HEAD", f"{daemon.api}/containers/{cid}/archive?path=/tmp/l")
    stat = json.loads(base64.urlsafe_b64decode(headers["X-Docker-Container-Path-Stat"]))
    assert status == 200 and stat["name"] == "l" and stat["linkTarget"] == "/tmp/t"
    assert stat["mode"] & (1 << 27)  # Go's os.ModeSymlink


def test_cp_through_stdin_and_stdout_tar_streams(daemon: Daemon, container) -> None:
    cid = container("busybox", "sleep", "60")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("streamed")
        data = b"from stdin\n"
        info.size, info.uid, info.gid, info.mode = len(data), 4321, 4321, 0o640
        tar.addfile(info, io.BytesIO(data))
    daemon.docker_ok("cp", "-", f"{cid}:/tmp", input=buf.getvalue())
    assert daemon.docker_ok("exec", cid, "stat", "-c", "%u:%g %a", "/tmp/streamed") == "4321:4321 640\n"
    proc_out = _cp_out(daemon, f"{cid}:/tmp/streamed")
    members = _tar_members(proc_out)
    assert members["streamed"].uid == 4321 and members["streamed"].mode & 0o777 == 0o640


def _cp_out(daemon: Daemon, src: str) -> bytes:
    import subprocess

    from .daemon import DOCKER

    proc = subprocess.run([DOCKER, "cp", src, "-"], capture_output=True, env=daemon.env(), timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_cp_archive_mode_keeps_ownership(daemon: Daemon, container, tmp_path: Path) -> None:
    cid = container("busybox", "sleep", "60")
    owned = tmp_path / "owned"
    owned.write_text("x\n")
    os.chown(owned, 1234, 2345)
    daemon.docker_ok("cp", "-a", str(owned), f"{cid}:/tmp/owned")
    assert daemon.docker_ok("exec", cid, "stat", "-c", "%u:%g", "/tmp/owned") == "1234:2345\n"


def test_cp_into_volumes_and_binds(daemon: Daemon, container, name, tmp_path: Path) -> None:
    vol = name("cpvol")
    bind = tmp_path / "bind"
    bind.mkdir()
    cid = container("-v", f"{vol}:/vol", "-v", f"{bind}:/bind", "busybox", "sleep", "60")
    src = tmp_path / "f"
    src.write_text("payload\n")
    daemon.docker_ok("cp", str(src), f"{cid}:/vol/")
    daemon.docker_ok("cp", str(src), f"{cid}:/bind/")
    assert daemon.docker_ok("exec", cid, "cat", "/vol/f") == "payload\n"
    assert (bind / "f").read_text() == "payload\n"
    assert daemon.docker_ok("run", "--rm", "-v", f"{vol}:/v", "busybox", "cat", "/v/f") == "payload\n"
    daemon.docker_ok("rm", "-f", cid)
    daemon.docker_ok("volume", "rm", vol)


def test_cp_with_a_stopped_container_and_missing_paths(daemon: Daemon, name, tmp_path: Path) -> None:
    ctr = name("stopped")
    daemon.docker_ok("create", "--name", ctr, "busybox", "true")
    try:
        src = tmp_path / "f"
        src.write_text("while stopped\n")
        daemon.docker_ok("cp", str(src), f"{ctr}:/f")
        daemon.docker_ok("cp", f"{ctr}:/f", str(tmp_path / "back"))
        assert (tmp_path / "back").read_text() == "while stopped\n"
        code, _, err = daemon.docker("cp", f"{ctr}:/no/such/file", str(tmp_path / "x"))
        assert code != 0 and "Could not find the file /no/such/file" in err
        status, _, _ = daemon.request("HEAD", f"{daemon.api}/containers/{ctr}/archive?path=/nope")
        assert status == 404
    finally:
        daemon.docker_ok("rm", ctr)


def test_cp_cannot_escape_the_container(daemon: Daemon, container, tmp_path: Path) -> None:
    cid = container("busybox", "sh", "-c", "ln -s / /tmp/root; ln -s ../../../.. /tmp/up; sleep 60")
    daemon.docker_ok("exec", cid, "sh", "-c", "test -L /tmp/up || sleep 1")
    marker = tmp_path / "escape"
    marker.write_text("no\n")
    daemon.docker_ok("cp", str(marker), f"{cid}:/tmp/up/")
    daemon.docker_ok("cp", str(marker), f"{cid}:/tmp/root/")
    assert daemon.docker_ok("exec", cid, "cat", "/escape") == "no\n"
    assert not Path("/escape").exists()

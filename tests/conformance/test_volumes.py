"""Volumes and mounts through the stock docker CLI: named and anonymous volumes, copy-up, binds,
tmpfs, read-only roots, --volumes-from, the local driver's -o options, in-use protection."""

from __future__ import annotations

import io
import json
import os
import tarfile
from collections.abc import Callable
from pathlib import Path

from .daemon import Daemon


def _inspect(daemon: Daemon, *args: str) -> dict:
    return json.loads(daemon.docker_ok(*args))[0]


def _volumes(daemon: Daemon) -> set[str]:
    return set(daemon.docker_ok("volume", "ls", "-q").split())


def test_named_volume_keeps_data_across_container_removal(daemon: Daemon,
                                                          name: Callable[[str], str]) -> None:
    vol = name("data")
    daemon.docker_ok("volume", "create", "--label", "tier=db", vol)
    daemon.docker_ok("run", "--rm", "-v", f"{vol}:/data", "busybox", "sh", "-c", "echo kept > /data/f")
    assert daemon.docker_ok("run", "--rm", "-v", f"{vol}:/data", "busybox", "cat", "/data/f") == "kept\n"
    info = _inspect(daemon, "volume", "inspect", vol)
    assert info["Name"] == vol and info["Driver"] == "local" and info["Labels"] == {"tier": "db"}
    assert vol in daemon.docker_ok("volume", "ls", "--filter", "label=tier=db", "-q").split()
    daemon.docker_ok("volume", "rm", vol)
    code, _, err = daemon.docker("volume", "inspect", vol)
    assert code != 0 and "no such volume" in err


def test_volume_in_use_cannot_be_removed(daemon: Daemon, container, name: Callable[[str], str]) -> None:
    vol = name("busy")
    cid = container("-v", f"{vol}:/data", "busybox", "sleep", "60")
    code, _, err = daemon.docker("volume", "rm", vol)
    assert code != 0 and "volume is in use" in err and cid in err
    status, _, _ = daemon.request("DELETE", f"{daemon.api}/volumes/{vol}")
    assert status == 409
    daemon.docker_ok("rm", "-f", cid)
    daemon.docker_ok("volume", "rm", vol)


def test_copy_up_fills_an_empty_named_volume_once(daemon: Daemon, name: Callable[[str], str]) -> None:
    vol = name("etc")
    out = daemon.docker_ok("run", "--rm", "-v", f"{vol}:/etc", "busybox", "cat", "/etc/passwd")
    assert out.startswith("root:x:0:0")
    daemon.docker_ok("run", "--rm", "-v", f"{vol}:/etc", "busybox", "sh", "-c", "echo mine > /etc/passwd")
    assert daemon.docker_ok("run", "--rm", "-v", f"{vol}:/etc", "busybox", "cat", "/etc/passwd") == "mine\n"
    # nocopy: a new empty volume stays empty.
    empty = name("nocopy")
    spec = f"type=volume,source={empty},target=/etc,volume-nocopy"
    listing = daemon.docker_ok("run", "--rm", "--mount", spec, "busybox", "ls", "-A", "/etc")
    assert listing == ""
    daemon.docker_ok("volume", "rm", vol, empty)


def test_anonymous_volumes_and_rm_v(daemon: Daemon, name: Callable[[str], str]) -> None:
    named = name("keep")
    before = _volumes(daemon)
    cid = daemon.docker_ok("create", "-v", "/anon", "-v", f"{named}:/named", "busybox", "true").strip()
    mounts = {m["Destination"]: m for m in _inspect(daemon, "container", "inspect", cid)["Mounts"]}
    assert mounts["/anon"]["Type"] == "volume" and mounts["/anon"]["Driver"] == "local"
    assert len(mounts["/anon"]["Name"]) == 64 and mounts["/named"]["Name"] == named
    anon = mounts["/anon"]["Name"]
    assert {anon, named} <= _volumes(daemon) - before
    daemon.docker_ok("rm", "-v", cid)
    after = _volumes(daemon)
    assert anon not in after and named in after
    daemon.docker_ok("volume", "rm", named)


def test_image_volume_makes_an_anonymous_volume(daemon: Daemon, name: Callable[[str], str]) -> None:
    src = name("src")
    image = f"{name('withvol')}:latest"
    daemon.docker_ok("run", "--name", src, "busybox", "sh", "-c", "mkdir /data && echo seed > /data/s")
    daemon.docker_ok("commit", "--change", "VOLUME /data", src, image)
    daemon.docker_ok("rm", src)
    assert _inspect(daemon, "image", "inspect", image)["Config"]["Volumes"] == {"/data": {}}
    cid = daemon.docker_ok("run", "-d", image, "sleep", "60").strip()
    try:
        mounts = _inspect(daemon, "container", "inspect", cid)["Mounts"]
        assert [m["Destination"] for m in mounts] == ["/data"] and mounts[0]["Type"] == "volume"
        # Copy-up: the anonymous volume starts with the image's content.
        assert daemon.docker_ok("exec", cid, "cat", "/data/s") == "seed\n"
    finally:
        daemon.docker_ok("rm", "-f", "-v", cid)
    assert mounts[0]["Name"] not in _volumes(daemon)
    daemon.docker_ok("rmi", image)


def test_volume_prune_removes_unused_anonymous_volumes(daemon: Daemon, name: Callable[[str], str]) -> None:
    named = name("named")
    daemon.docker_ok("volume", "create", named)
    cid = daemon.docker_ok("create", "-v", "/anon", "busybox", "true").strip()
    anon = _inspect(daemon, "container", "inspect", cid)["Mounts"][0]["Name"]
    daemon.docker_ok("volume", "prune", "-f")
    assert anon in _volumes(daemon)  # still used by the container
    daemon.docker_ok("rm", cid)
    out = daemon.docker_ok("volume", "prune", "-f")
    assert anon in out
    remaining = _volumes(daemon)
    assert anon not in remaining and named in remaining
    daemon.docker_ok("volume", "prune", "-f", "--all")
    assert named not in _volumes(daemon)


def test_read_only_bind_mount_refuses_writes(daemon: Daemon, tmp_path: Path) -> None:
    host = tmp_path / "ro"
    host.mkdir()
    (host / "f").write_text("host\n")
    for spec in (["-v", f"{host}:/h:ro"], ["--mount", f"type=bind,source={host},target=/h,readonly"]):
        code, out, err = daemon.docker("run", "--rm", *spec, "busybox", "sh", "-c", "cat /h/f; echo x > /h/g")
        assert code != 0 and out == "host\n" and "Read-only file system" in err
    assert sorted(os.listdir(host)) == ["f"]
    # Read-write binds write through to the host.
    daemon.docker_ok("run", "--rm", "-v", f"{host}:/h", "busybox", "sh", "-c", "echo w > /h/g")
    assert (host / "g").read_text() == "w\n"


def test_bind_mount_inspect_and_propagation(daemon: Daemon, container, tmp_path: Path) -> None:
    cid = container("--mount", f"type=bind,source={tmp_path},target=/h,bind-propagation=rslave",
                    "busybox", "sleep", "60")
    [mount] = _inspect(daemon, "container", "inspect", cid)["Mounts"]
    assert mount == {"Type": "bind", "Source": str(tmp_path), "Destination": "/h", "Mode": "",
                     "RW": True, "Propagation": "rslave"}
    code, _, err = daemon.docker("run", "--rm", "--mount", "type=bind,source=/no/such/dir,target=/h",
                                 "busybox", "true")
    assert code == 125 and "bind source path does not exist" in err


def test_tmpfs_mounts(daemon: Daemon) -> None:
    out = daemon.docker_ok("run", "--rm", "--tmpfs", "/scratch", "busybox", "sh", "-c",
                           "echo x > /scratch/f && grep ' /scratch ' /proc/mounts")
    assert out.startswith("tmpfs /scratch tmpfs") and "noexec" in out
    out = daemon.docker_ok("run", "--rm", "--mount", "type=tmpfs,destination=/t,tmpfs-size=1m",
                           "busybox", "df", "-k", "/t")
    assert out.splitlines()[1].split()[1] == "1024"


def test_read_only_root(daemon: Daemon) -> None:
    code, _, err = daemon.docker("run", "--rm", "--read-only", "busybox", "touch", "/x")
    assert code != 0 and "Read-only file system" in err
    daemon.docker_ok("run", "--rm", "--read-only", "--tmpfs", "/run", "busybox", "touch", "/run/x")


def test_volumes_from(daemon: Daemon, container, name: Callable[[str], str]) -> None:
    vol = name("shared")
    src = container("-v", f"{vol}:/shared", "-v", "/anon", "busybox", "sh", "-c",
                    "echo from-src > /shared/f; sleep 60")
    daemon.docker_ok("exec", src, "sh", "-c", "test -f /shared/f || sleep 1")
    out = daemon.docker_ok("run", "--rm", "--volumes-from", src, "busybox", "cat", "/shared/f")
    assert out == "from-src\n"
    code, _, err = daemon.docker("run", "--rm", "--volumes-from", f"{src}:ro", "busybox", "touch", "/anon/x")
    assert code != 0 and "Read-only file system" in err
    daemon.docker_ok("rm", "-f", "-v", src)
    daemon.docker_ok("volume", "rm", vol)


def test_local_driver_tmpfs_and_bind_options(daemon: Daemon, name: Callable[[str], str],
                                             tmp_path: Path) -> None:
    mem = name("mem")
    daemon.docker_ok("volume", "create", "-d", "local", "-o", "type=tmpfs", "-o", "device=tmpfs",
                     "-o", "o=size=2m", mem)
    out = daemon.docker_ok("run", "--rm", "-v", f"{mem}:/m", "busybox", "sh", "-c",
                           "echo a > /m/f; grep ' /m ' /proc/mounts")
    assert out.startswith("tmpfs /m tmpfs") and "size=2048k" in out
    assert _inspect(daemon, "volume", "inspect", mem)["Options"] == {"device": "tmpfs", "o": "size=2m",
                                                                      "type": "tmpfs"}
    host = tmp_path / "dev"
    host.mkdir()
    bound = name("bound")
    daemon.docker_ok("volume", "create", "-o", "type=none", "-o", "o=bind", "-o", f"device={host}", bound)
    daemon.docker_ok("run", "--rm", "-v", f"{bound}:/b", "busybox", "sh", "-c", "echo via-volume > /b/f")
    assert (host / "f").read_text() == "via-volume\n"
    daemon.docker_ok("volume", "rm", mem, bound)
    # Removing the volume unmounts it and leaves the user's directory alone.
    assert (host / "f").read_text() == "via-volume\n"
    code, _, err = daemon.docker("volume", "create", "-o", "bogus=1", name("bad"))
    assert code != 0 and 'invalid option: "bogus"' in err


def test_docker_py_volumes_and_archive_match_the_spec(client, name: Callable[[str], str]) -> None:
    vol = client.volumes.create(name=name("py"), labels={"k": "v"})
    try:
        assert vol.attrs["Labels"] == {"k": "v"} and vol.attrs["Scope"] == "local"
        assert vol.name in [v.name for v in client.volumes.list()]
        ctr = client.containers.run("busybox", "sleep 60", detach=True, volumes={vol.name: {"bind": "/v"}})
        try:
            assert ctr.attrs["Mounts"][0]["Name"] == vol.name
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w") as tar:
                info = tarfile.TarInfo("py.txt")
                info.size = 3
                tar.addfile(info, io.BytesIO(b"py\n"))
            assert ctr.put_archive("/v", buf.getvalue())
            stream, stat = ctr.get_archive("/v/py.txt")
            assert stat["name"] == "py.txt" and stat["size"] == 3
            assert b"py\n" in b"".join(stream)
        finally:
            ctr.remove(force=True)
    finally:
        vol.remove()
    pruned = client.volumes.prune()
    assert "VolumesDeleted" in pruned

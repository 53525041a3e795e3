"""``docker cp`` of hostile tars into a running container, and unpacks that meet a full disk.

The stock CLI streams a tar given as ``-`` unchanged, so what an attacker controls reaches the
daemon as is. Nothing may land outside the container, nor on a read-only mount by way of a
symlink, nor replace the daemon's mounted /etc files; each refusal is a 4xx with a message.
"""

from __future__ import annotations

import gzip
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from conformance.daemon import Daemon
from conformance.images import sha256

from security.hostcheck import tree_digest
from security.hostile import HostState, load_archive, tar_bytes

Run = Callable[..., str]


def _cp_in(daemon: Daemon, cid: str, dest: str, tar: bytes) -> tuple[int, str]:
    code, _, err = daemon.docker("cp", "-", f"{cid}:{dest}", input=tar)
    return code, err


def test_cp_of_hostile_tars_stays_in_the_container(daemon: Daemon, container: Run, canary: Path) -> None:
    cid = container("busybox", "sleep", "300")
    before = tree_digest(canary)
    attacks = [
        [("l", "sym", str(canary)), ("l/planted", "file", "x")],  # dangling inside: refused
        [("../../../../../../planted", "file", "x")],
        [("h", "hard", str(canary / "secret"))],
    ]
    for members in attacks:
        code, err = _cp_in(daemon, cid, "/tmp", tar_bytes(members))
        assert code != 0 and "Error response from daemon" in err, err
    # A write through an archive's own symlink to a directory that exists lands inside.
    code, err = _cp_in(daemon, cid, "/tmp", tar_bytes([("e", "sym", "/etc"), ("e/planted", "file", "in\n")]))
    assert code == 0, err
    assert daemon.docker_ok("exec", cid, "cat", "/etc/planted") == "in\n"
    assert tree_digest(canary) == before
    assert not list(canary.glob("planted*")) and not Path("/planted").exists()


def test_cp_through_a_symlink_onto_a_read_only_mount_is_refused(daemon: Daemon, container: Run,
                                                                canary: Path) -> None:
    cid = container("-v", f"{canary}:/ro:ro", "busybox", "sleep", "300")
    before = tree_digest(canary)
    daemon.docker_ok("exec", cid, "ln", "-s", "/ro", "/tmp/to-ro")
    code, err = _cp_in(daemon, cid, "/tmp/to-ro", tar_bytes([("x", "file", "x")]))
    assert code != 0 and "read-only" in err, err
    code, err = _cp_in(daemon, cid, "/", tar_bytes([("r", "sym", "/ro"), ("r/x", "file", "x")]))
    assert code != 0 and "read-only" in err, err
    assert tree_digest(canary) == before


def test_cp_keeps_the_daemon_made_etc_files(daemon: Daemon, container: Run, tmp_path: Path) -> None:
    cid = container("busybox", "sleep", "300")
    hosts = daemon.docker_ok("exec", cid, "cat", "/etc/hosts")
    code, err = _cp_in(daemon, cid, "/etc", tar_bytes([("hosts", "file", "evil\n")]))
    assert code != 0 and "device or resource busy" in err, err
    assert daemon.docker_ok("exec", cid, "cat", "/etc/hosts") == hosts
    code, _, err = daemon.docker("cp", f"{cid}:/etc/hosts", str(tmp_path / "hosts"))
    assert code == 0, err
    assert (tmp_path / "hosts").read_text() == hosts


def test_cp_follow_link_never_reads_the_host(daemon: Daemon, container: Run, canary: Path,
                                             tmp_path: Path) -> None:
    cid = container("busybox", "sleep", "300")
    daemon.docker_ok("exec", cid, "ln", "-s", str(canary / "secret"), "/lnk")
    code, _, err = daemon.docker("cp", "-L", f"{cid}:/lnk", str(tmp_path / "got"))
    assert code != 0 and "Could not find the file" in err, err
    assert not (tmp_path / "got").exists()


def test_cp_hard_link_across_mounts_is_a_clean_refusal(daemon: Daemon, container: Run) -> None:
    cid = container("-v", "/v", "busybox", "sleep", "300")
    code, err = _cp_in(daemon, cid, "/", tar_bytes([("a", "file", "x"), ("v/b", "hard", "a")]))
    assert code != 0 and "across filesystems" in err, err


@pytest.mark.root
def test_a_full_disk_during_load_is_a_clean_error(tmp_path: Path) -> None:
    root = Path(tempfile.mkdtemp(prefix="dyc-full-", dir="/tmp"))
    (root / "data").mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(root / "data")], check=True)
    canary = tmp_path / "canary"
    canary.mkdir()
    d = Daemon(root)
    try:
        d.start()
        before = HostState.of(d, canary)
        layer = tar_bytes([("zeros", "file", "\0" * (48 << 20))])
        archive = tmp_path / "big.tar.gz"  # small to upload, too big to unpack here
        archive.write_bytes(gzip.compress(load_archive(layer, f"sha256:{sha256(layer)}", "big:1")))
        code, _, err = d.docker("load", "-i", str(archive), timeout=120)
        assert code != 0 and "no space left on device" in err, err
        assert "500" not in err
        before.assert_unchanged(d, canary)
        assert not list((d.data_root / "tmp").iterdir())
    finally:
        d.cleanup()
        subprocess.run(["umount", "-l", str(root / "data")], capture_output=True, timeout=30)
        subprocess.run(["rm", "-rf", str(root)], capture_output=True, timeout=30)

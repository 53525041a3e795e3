"""Hostile archives against the daemon: build contexts, ``docker load`` and ``docker import``.

Each attack is made for real through the stock CLI; afterwards the canary directory, /etc and the
daemon's store are checksummed against what they were, and the store lists the same images,
containers and blobs (a refused load or build leaves nothing).
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import uuid
from pathlib import Path

import pytest
from conformance.daemon import Daemon
from conformance.images import sha256

from security.conftest import SECRET
from security.hostile import HostState, busybox_with, load_archive, load_archive_of, tar_bytes


def _tag() -> str:
    return f"sec-{uuid.uuid4().hex[:8]}:latest"


def _build(daemon: Daemon, context: bytes, tag: str) -> tuple[int, str, str]:
    return daemon.docker("build", "-q", "-t", tag, "-", input=context, timeout=120)


# ---- build contexts -------------------------------------------------------------------------

def test_context_symlink_then_file_stays_in_the_context(daemon: Daemon, canary: Path) -> None:
    before = HostState.of(daemon, canary)
    tag = _tag()
    context = tar_bytes([("Dockerfile", "file", "FROM busybox\nCOPY f /f\n"),
                         ("f", "sym", str(canary / "secret")), ("f", "file", "from the context\n")])
    code, _, err = _build(daemon, context, tag)
    assert code == 0, err
    assert daemon.docker_ok("run", "--rm", tag, "cat", "/f") == "from the context\n"
    daemon.docker_ok("rmi", tag)
    before.assert_unchanged(daemon, canary)


def test_context_hardlink_to_a_host_file_is_refused(daemon: Daemon, canary: Path) -> None:
    before = HostState.of(daemon, canary)
    tag = _tag()
    context = tar_bytes([("Dockerfile", "file", "FROM busybox\nCOPY h /h\n"),
                         ("h", "hard", str(canary / "secret"))], mode=0o777, uid=4242)
    code, _, err = _build(daemon, context, tag)
    assert code != 0 and "invalid hard link" in err, err
    assert (canary / "secret").stat().st_mode & 0o777 == 0o600
    before.assert_unchanged(daemon, canary)


@pytest.mark.parametrize("members", [
    [("../evil", "file", "x")],
    [("a/../../evil", "file", "x")],
    [("d", "sym", "/"), ("d/../../evil", "file", "x")],
], ids=["dotdot", "nested-dotdot", "dotdot-behind-a-symlink"])
def test_context_members_above_the_root_are_refused(daemon: Daemon, canary: Path,
                                                    members: list[tuple[str, str, str]]) -> None:
    before = HostState.of(daemon, canary)
    context = tar_bytes([("Dockerfile", "file", "FROM busybox\n"), *members])
    code, _, err = _build(daemon, context, _tag())
    assert code != 0 and "escapes" in err, err
    before.assert_unchanged(daemon, canary)


def test_context_writes_through_its_symlinks_land_inside(daemon: Daemon, canary: Path) -> None:
    before = HostState.of(daemon, canary)
    tag = _tag()
    # "d" names the canary on the host; in the context (a root of its own) it names ctx/<that path>.
    context = tar_bytes([("Dockerfile", "file", f"FROM busybox\nCOPY {canary.relative_to('/')}/ /got/\n"),
                         ("d", "sym", str(canary)), (str(canary.relative_to("/")), "dir", ""),
                         ("d/planted", "file", "x\n"),
                         ("null", "chr", "1,3"), ("fifo", "fifo", "")])
    code, _, err = _build(daemon, context, tag)
    assert code == 0, err
    assert daemon.docker_ok("run", "--rm", tag, "cat", "/got/planted") == "x\n"
    daemon.docker_ok("rmi", tag)
    before.assert_unchanged(daemon, canary)
    assert not (canary / "planted").exists()


# ---- docker load ----------------------------------------------------------------------------

@pytest.mark.parametrize("members", [
    [("../evil", "file", "x")],
    [("l", "sym", "CANARY"), ("l/evil", "file", "x")],
    [("l", "sym", "../../../../../../../../CANARY"), ("l/evil", "file", "x")],
    [("h", "hard", "CANARY/secret")],
    [("h", "hard", "../../../../../../../../CANARY/secret")],
    [(".wh..", "file", "")],
    [(".wh...", "file", "")],
    [("etc/.wh..", "file", "")],
], ids=["dotdot", "through-abs-symlink", "through-rel-symlink", "hardlink-abs", "hardlink-rel",
        "whiteout-dot", "whiteout-dotdot", "whiteout-dot-in-dir"])
def test_load_of_hostile_layers_is_refused(daemon: Daemon, canary: Path, tmp_path: Path,
                                           members: list[tuple[str, str, str]]) -> None:
    before = HostState.of(daemon, canary)
    layer = busybox_with([(n, k, d.replace("CANARY", str(canary).lstrip("/") if d.startswith("..")
                                           else str(canary))) for n, k, d in members])
    archive = tmp_path / "evil.tar"
    archive.write_bytes(load_archive_of(layer, "evil:1"))
    code, _, err = daemon.docker("load", "-i", str(archive), timeout=120)
    assert code != 0, "a hostile layer was loaded"
    assert "invalid" in err or "escapes" in err, err
    before.assert_unchanged(daemon, canary)


def test_load_of_a_layer_that_does_not_match_its_digest(daemon: Daemon, canary: Path,
                                                        tmp_path: Path) -> None:
    before = HostState.of(daemon, canary)
    layer = busybox_with([("f", "file", "real")])
    claimed = busybox_with([("f", "file", "other")])
    archive = tmp_path / "mismatch.tar"
    archive.write_bytes(load_archive(layer, f"sha256:{sha256(claimed)}", "mismatch:1"))
    code, _, err = daemon.docker("load", "-i", str(archive), timeout=120)
    assert code != 0 and "diff" in err.lower(), err
    before.assert_unchanged(daemon, canary)


def test_loaded_nodes_fifos_and_absolute_names_stay_in_the_image(daemon: Daemon, canary: Path,
                                                                 tmp_path: Path) -> None:
    layer = busybox_with([("nodes", "dir", ""), ("nodes/null", "chr", "1,3"), ("nodes/fifo", "fifo", ""),
                          ("/abs", "file", "absolute\n"), ("out", "sym", str(canary / "secret")),
                          ("hl", "hard", "etc/passwd")])
    archive = tmp_path / "nodes.tar"
    archive.write_bytes(load_archive_of(layer, "nodes:1"))
    before = HostState.of(daemon, canary)
    daemon.docker_ok("load", "-i", str(archive), timeout=120)
    try:
        out = daemon.docker_ok("run", "--rm", "nodes:1", "sh", "-c",
                               "ls -l /nodes; cat /abs; cat /out 2>&1; cmp /hl /etc/passwd && echo same")
        lines = out.splitlines()
        assert any(line.startswith("c") and line.endswith("null") for line in lines), out
        assert any(line.startswith("p") and line.endswith("fifo") for line in lines), out
        assert "absolute" in lines and "same" in lines and SECRET.strip() not in out
    finally:
        daemon.docker_ok("rmi", "nodes:1")
    assert HostState.of(daemon, canary).canary == before.canary


def test_load_follows_the_archives_links_inside_the_archive(daemon: Daemon, canary: Path,
                                                             tmp_path: Path) -> None:
    """A ``manifest.json`` linked to a host file names the archive's own entry of that path (moby's
    FollowSymlinkInScope): the host's manifest, which would tag the image ``leak:1``, is never read."""
    with tarfile.open(fileobj=io.BytesIO(load_archive_of(busybox_with([]), "inside:1"))) as src:
        files = {m.name: src.extractfile(m).read() for m in src.getmembers() if m.isfile()}  # type: ignore[union-attr]
    manifest = files.pop("manifest.json")
    leak = json.loads(manifest)
    leak[0]["RepoTags"] = ["leak:1"]
    (canary / "manifest.json").write_text(json.dumps(leak))
    before = HostState.of(daemon, canary)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in [*files.items(), (f"{str(canary).lstrip('/')}/manifest.json", manifest)]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("manifest.json")
        link.type, link.linkname = tarfile.SYMTYPE, str(canary / "manifest.json")
        tar.addfile(link)
    archive = tmp_path / "linked.tar"
    archive.write_bytes(buf.getvalue())
    out = daemon.docker_ok("load", "-i", str(archive), timeout=120)
    try:
        assert "inside:1" in out and "leak:1" not in out, out
        assert daemon.docker("image", "inspect", "leak:1")[0] != 0
    finally:
        daemon.docker("rmi", "inside:1")
    before.assert_unchanged(daemon, canary)


# ---- docker import --------------------------------------------------------------------------

@pytest.mark.parametrize("members", [
    [(".wh...", "file", "")],
    [("l", "sym", "CANARY"), ("l/evil", "file", "x")],
    [("h", "hard", "CANARY/secret")],
], ids=["whiteout-dotdot", "through-symlink", "hardlink"])
def test_import_of_hostile_tars_is_refused(daemon: Daemon, canary: Path, tmp_path: Path,
                                           members: list[tuple[str, str, str]]) -> None:
    before = HostState.of(daemon, canary)
    tar = tmp_path / "evil.tar"
    tar.write_bytes(tar_bytes([(n, k, d.replace("CANARY", str(canary))) for n, k, d in members]))
    code, _, err = daemon.docker("import", str(tar), "evil-import:1", timeout=120)
    assert code != 0 and ("invalid" in err or "escapes" in err), err
    before.assert_unchanged(daemon, canary)


# ---- decompression bombs --------------------------------------------------------------------

@pytest.fixture(scope="module")
def bomb() -> tuple[bytes, bytes]:
    """A gzip layer of 64 MiB of zeros (about 64 KB compressed) and its uncompressed tar."""
    layer = tar_bytes([("zeros", "file", "\0" * (64 << 20))])
    return gzip.compress(layer, compresslevel=9), layer


@pytest.mark.slow
@pytest.mark.root
def test_gzip_bombs_are_refused_by_the_unpack_limit(tmp_path: Path, canary: Path,
                                                    bomb: tuple[bytes, bytes]) -> None:
    config = tmp_path / "daemon.json"
    config.write_text(json.dumps({"max-unpack-size": "8MB"}))
    d = Daemon()
    d.extra_args = ["--config-file", str(config)]
    try:
        d.start()
        _refuse_bombs(d, tmp_path, canary, bomb)
    finally:
        d.cleanup()


def _refuse_bombs(d: Daemon, tmp_path: Path, canary: Path, bomb: tuple[bytes, bytes]) -> None:
    compressed, layer = bomb
    before = HostState.of(d, canary)
    archive = tmp_path / "bomb.tar"
    archive.write_bytes(load_archive(compressed, f"sha256:{sha256(layer)}", "bomb:1"))
    code, _, err = d.docker("load", "-i", str(archive), timeout=120)
    assert code != 0 and "max-unpack-size" in err, err
    gz = tmp_path / "bomb.tar.gz"
    gz.write_bytes(compressed)
    code, _, err = d.docker("import", str(gz), "bomb:2", timeout=120)
    assert code != 0 and "max-unpack-size" in err, err
    code, _, err = d.docker("build", "-t", "bomb:3", "-",
                            input=gzip.compress(tar_bytes([("Dockerfile", "file", "FROM scratch\n"),
                                                           ("zeros", "file", "\0" * (64 << 20))])),
                            timeout=120)
    assert code != 0 and "max-unpack-size" in err, err
    before.assert_unchanged(d, canary)


# ---- archives that are not tars ---------------------------------------------------------------

def _not_tars(tmp_path: Path) -> dict[str, bytes]:
    """A zip and a cpio archive, each holding a file libarchive would otherwise happily unpack."""
    import io
    import subprocess
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("zipped", "from a zip\n")
    (tmp_path / "cpioed").write_text("from a cpio\n")
    cpio = subprocess.run(["cpio", "-o", "-H", "newc"], input=b"cpioed\n", cwd=tmp_path,
                          capture_output=True, check=True, timeout=30).stdout
    return {"zip": buf.getvalue(), "cpio": cpio}


@pytest.mark.parametrize("kind", ["zip", "cpio"])
def test_layers_imports_and_contexts_must_be_tars(daemon: Daemon, canary: Path, tmp_path: Path,
                                                  kind: str) -> None:
    data = _not_tars(tmp_path)[kind]
    before = HostState.of(daemon, canary)
    archive = tmp_path / "not-tar-layer.tar"
    archive.write_bytes(load_archive(data, f"sha256:{sha256(data)}", f"not-tar-{kind}:1"))
    code, _, err = daemon.docker("load", "-i", str(archive), timeout=120)
    assert code != 0 and "tar" in err, f"a {kind} layer was loaded: {err}"
    (tmp_path / f"x.{kind}").write_bytes(data)
    code, _, err = daemon.docker("import", str(tmp_path / f"x.{kind}"), f"not-tar-{kind}:2", timeout=120)
    assert code != 0 and "tar" in err, f"a {kind} was imported: {err}"
    code, _, err = _build(daemon, data, _tag())
    assert code != 0, f"a {kind} build context was accepted: {err}"
    before.assert_unchanged(daemon, canary)

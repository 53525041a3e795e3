"""Symlinks that name host paths, planted where a build reads: a stage's root (``COPY --from``,
``RUN --mount from=``) and the build context (sent as a tar with ``docker build -`` and as a
directory). Every kind is tried: absolute targets, ``../`` escapes, chains of links, a symlinked
parent directory, a symlinked directory copied whole or by wildcard, ADD of a link to a host tar.

A host canary directory holds a file of unique content (and files the tree has no copy of); the
tree holds its own entries at the same paths. The build must read the tree's entries (BuildKit
resolves a source inside its tree, as if the tree were ``/``) or fail with ``not found``; the image
must never hold the canary's content, and the canary and /etc must be as they were.
"""

from __future__ import annotations

import ctypes
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conformance.daemon import Daemon

from dockyard.core.builder import source
from dockyard.core.builder.files import CopyOptions, copy_sources
from dockyard.errors import NotFound
from security.hostcheck import etc_digest, tree_digest
from security.hostile import tar_bytes

IN_TREE = "in-the-tree\n"
UP = "../" * 12  # more than any tmp path is deep: a relative escape to the host's /


@pytest.fixture
def host(canary: Path) -> Iterator[tuple[Path, str]]:
    """The canary with a ``unique`` file of content no tree holds; unchanged at the end."""
    token = f"host-canary-{uuid.uuid4().hex}\n"
    (canary / "unique").write_text(token)
    (canary / "x.tar").write_bytes(_inner_tar(token))  # what ADD of a link to it would unpack
    before = tree_digest(canary), etc_digest()
    yield canary, token
    assert tree_digest(canary) == before[0], "the host canary changed"
    assert etc_digest() == before[1], "/etc changed"


def _inner_tar(content: str) -> bytes:
    return tar_bytes([("f", "file", content)])


def _build(daemon: Daemon, tag: str, context: bytes | Path) -> tuple[int, str]:
    args = ["build", "-q", "-t", tag]
    if isinstance(context, Path):
        code, out, err = daemon.docker(*args, str(context), timeout=180)
    else:
        code, out, err = daemon.docker(*args, "-", input=context, timeout=180)
    return code, out + err


def _built(daemon: Daemon, context: bytes | Path, script: str, token: str) -> str:
    """Build ``context``, run ``script`` in the image and return its output; the image's whole
    filesystem (as ``docker export`` writes it) must not hold ``token`` nor the canary's secret."""
    tag = _tag()
    code, out = _build(daemon, tag, context)
    assert code == 0, out
    try:
        got = daemon.docker_ok("run", "--rm", tag, "sh", "-c", script)
        ref = daemon.docker_ok("create", tag).strip()
        try:
            image = daemon.docker_ok("export", ref, timeout=120)
        finally:
            daemon.docker_ok("rm", ref)
        assert token not in image and "host file, never to change" not in image
        return got
    finally:
        daemon.docker("rmi", tag)


def _tag() -> str:
    return f"sec-links-{uuid.uuid4().hex[:8]}:latest"


def _plant(c: str) -> str:
    """A stage's RUN that plants every kind of link to host path ``c`` (and its own ``c``)."""
    return (f"RUN mkdir -p /in {c} && echo in-the-tree > {c}/unique"
            f" && ln -s {c}/unique /abs && ln -s {UP}{c}/unique /in/rel"
            f" && ln -s /chain2 /chain1 && ln -s {UP.rstrip('/')}{c} /chain2"
            f" && ln -s / /in/root && ln -s {UP} /in/up && ln -s {c} /dir"
            f" && ln -s {c}/secret /gone\n")


# ---- COPY --from and RUN --mount from= a stage -----------------------------------------------

def test_copy_from_a_stage_follows_its_links_inside_the_stage(daemon: Daemon,
                                                               host: tuple[Path, str]) -> None:
    canary, token = host
    c = str(canary)
    dockerfile = ("FROM busybox AS evil\n" + _plant(c) + "FROM busybox\n"
                  "COPY --from=evil /abs /got/abs\n"
                  "COPY --from=evil /in/rel /got/rel\n"
                  "COPY --from=evil /chain1/unique /got/chain\n"
                  f"COPY --from=evil /in/root{c}/unique /got/root\n"
                  f"COPY --from=evil /in/up{c}/unique /got/up\n"
                  "COPY --from=evil /dir/ /got/dir/\n"
                  "COPY --from=evil /dir/* /got/glob/\n"
                  "COPY --from=evil /in/ /got/in/\n")
    got = _built(daemon, tar_bytes([("Dockerfile", "file", dockerfile)]),
                 "cd /got && cat abs rel chain root up dir/unique glob/unique"
                 " && ls -A dir glob && readlink in/rel && readlink in/up", token)
    assert got == IN_TREE * 7 + "dir:\nunique\n\nglob:\nunique\n" + f"{UP}{c}/unique\n{UP}\n"


@pytest.mark.parametrize("path", ["/gone", "/in/root{c}/secret", "/in/up{c}/secret", "/chain1/secret"],
                         ids=["absolute", "root-parent", "relative-parent", "chain"])
def test_copy_from_a_link_to_a_host_only_file_fails(daemon: Daemon, host: tuple[Path, str],
                                                    path: str) -> None:
    canary, _ = host
    dockerfile = ("FROM busybox AS evil\n" + _plant(str(canary)) +
                  f"FROM busybox\nCOPY --from=evil {path.format(c=canary)} /got\n")
    code, out = _build(daemon, _tag(), tar_bytes([("Dockerfile", "file", dockerfile)]))
    assert code != 0 and "not found" in out, out
    assert "never to change" not in out


def test_run_mount_from_a_stage_binds_the_stage_entries(daemon: Daemon, host: tuple[Path, str]) -> None:
    canary, token = host
    c = str(canary)
    dockerfile = ("FROM busybox AS evil\n" + _plant(c) + "FROM busybox\n"
                  "RUN --mount=type=bind,from=evil,source=/dir,target=/m ls -A /m > /ls-dir"
                  " && cat /m/unique > /seen-dir\n"
                  "RUN --mount=type=bind,from=evil,source=/abs,target=/m cat /m > /seen-abs\n"
                  "RUN --mount=type=bind,from=evil,source=/in/rel,target=/m cat /m > /seen-rel\n"
                  f"RUN --mount=type=bind,from=evil,source=/in/up,target=/m ls -A /m{c} > /ls-up"
                  " && test -L /m/abs && test -d /m/in\n"
                  "RUN --mount=type=bind,from=evil,source=/chain1,target=/m,rw echo x > /m/planted"
                  " && cat /m/unique > /seen-rw && ls -A /m > /ls-rw\n")
    got = _built(daemon, tar_bytes([("Dockerfile", "file", dockerfile)]),
                 "cat /ls-dir /seen-dir /seen-abs /seen-rel /ls-up /seen-rw /ls-rw", token)
    assert got == "unique\n" + IN_TREE * 3 + "unique\n" + IN_TREE + "planted\nunique\n"
    assert not (canary / "planted").exists()
    # The binds of pinned entries the daemon made for those RUNs are gone with their steps.
    mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    assert not [m for m in mounts if str(daemon.data_root) in m and "/source " in m]


def test_a_step_that_links_its_mount_stubs_to_the_host_removes_nothing_there(
        daemon: Daemon, host: tuple[Path, str]) -> None:
    """After a RUN the builder drops the empty stubs the runtime made for its mount targets. A step
    that moves a stub's directory away and leaves a link to the host in its place must not make
    it remove the host's empty directory the link now names (the canary's ``dir``). (``/etc``,
    which holds the daemon-made hosts files, cannot be moved away: the step fails.)"""
    canary, _ = host
    dockerfile = ("FROM busybox\n"
                  f"RUN --mount=type=tmpfs,target=/x/dir sh -c 'mv /x /x.moved && ln -s {canary} /x'\n")
    tag = _tag()
    code, out = _build(daemon, tag, tar_bytes([("Dockerfile", "file", dockerfile)]))
    try:
        assert code == 0, out
        assert daemon.docker_ok("run", "--rm", tag, "readlink", "/x").strip() == str(canary)
    finally:
        daemon.docker("rmi", tag)
    assert (canary / "dir").is_dir()


# ---- the build context ----------------------------------------------------------------------

def _context_members(c: str) -> list[tuple[str, str, str]]:
    rel = c.lstrip("/")
    dockerfile = ("FROM busybox\n"
                  "COPY abs /got/abs\nCOPY rel /got/rel\nCOPY chain1/unique /got/chain\n"
                  f"COPY up/{rel}/unique /got/up\nCOPY d/ /got/dir/\nCOPY d/* /got/glob/\n"
                  "ADD arch.tar /got/add/\n"
                  "RUN --mount=type=bind,source=d,target=/m cat /m/unique > /seen && ls -A /m > /ls\n")
    return [("Dockerfile", "file", dockerfile), (rel, "dir", ""), (f"{rel}/unique", "file", IN_TREE),
            (f"{rel}/x.tar", "file", _inner_tar(IN_TREE).decode()), ("arch.tar", "sym", f"{UP}{c}/x.tar"),
            ("abs", "sym", f"{c}/unique"), ("rel", "sym", f"{UP}{c}/unique"),
            ("chain1", "sym", "chain2"), ("chain2", "sym", f"{UP.rstrip('/')}{c}"),
            ("up", "sym", UP), ("d", "sym", c)]


def _as_directory(members: list[tuple[str, str, str]], where: Path) -> Path:
    where.mkdir()
    for name, kind, data in members:
        path = where / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind == "dir":
            path.mkdir(exist_ok=True)
        elif kind == "file":
            path.write_text(data)
        else:
            os.symlink(data, path)
    return where


@pytest.mark.parametrize("sent_as", ["tar", "directory"])
def test_context_links_resolve_inside_the_context(daemon: Daemon, host: tuple[Path, str],
                                                  tmp_path: Path, sent_as: str) -> None:
    canary, token = host
    members = _context_members(str(canary))
    context = tar_bytes(members) if sent_as == "tar" else _as_directory(members, tmp_path / "ctx")
    got = _built(daemon, context, "cd /got && cat abs rel chain up dir/unique glob/unique /seen add/f"
                 " && ls -A dir glob && cat /ls", token)
    listing = "unique\nx.tar\n"
    assert got == IN_TREE * 8 + f"dir:\n{listing}\nglob:\n{listing}" + listing


@pytest.mark.parametrize("target", ["{c}/secret", UP + "{c}/secret"], ids=["absolute", "relative"])
def test_context_link_to_a_host_only_file_fails(daemon: Daemon, host: tuple[Path, str],
                                                target: str) -> None:
    canary, _ = host
    context = tar_bytes([("Dockerfile", "file", "FROM busybox\nCOPY gone /got\n"),
                         ("gone", "sym", target.format(c=canary))])
    code, out = _build(daemon, _tag(), context)
    assert code != 0 and "not found" in out, out
    assert "never to change" not in out


def test_a_symlinked_dockerfile_is_read_inside_the_context(daemon: Daemon, host: tuple[Path, str]) -> None:
    canary, _ = host
    (canary / "Dockerfile").write_text("FROM busybox\nLABEL origin=host\n")
    rel = str(canary).lstrip("/")
    tag = _tag()
    context = tar_bytes([("Dockerfile", "sym", f"{canary}/Dockerfile"), (rel, "dir", ""),
                         (f"{rel}/Dockerfile", "file", "FROM busybox\nLABEL origin=context\n")])
    try:
        code, out = _build(daemon, tag, context)
        assert code == 0, out
        assert daemon.docker_ok("inspect", "-f", "{{.Config.Labels.origin}}", tag).strip() == "context"
    finally:
        daemon.docker("rmi", tag)
        (canary / "Dockerfile").unlink()


# ---- a tree that changes while it is read (no daemon) -----------------------------------------

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def test_copy_sources_never_leave_a_tree_that_swaps_under_them(tmp_path: Path,
                                                                host: tuple[Path, str]) -> None:
    """A thread swaps the tree's directory ``w/d`` with ``w/l``, a symlink to the host canary
    (``renameat2(RENAME_EXCHANGE)``, the CVE-2018-15664 pattern), while sources below ``w/d``
    are resolved and copied over and over: each copy holds the tree's file or fails as not found."""
    canary, token = host
    libc = ctypes.CDLL(None, use_errno=True)
    tree, rootfs = tmp_path / "tree", tmp_path / "rootfs"
    (tree / "w" / "d").mkdir(parents=True)
    (tree / "w" / "d" / "secret").write_text(IN_TREE)
    os.symlink(str(canary), tree / "w" / "l")
    rootfs.mkdir()
    a, b = (str(tree / "w" / n).encode() for n in ("d", "l"))
    stop = threading.Event()

    def swap() -> None:
        while not stop.is_set():
            libc.renameat2(_AT_FDCWD, a, _AT_FDCWD, b, _RENAME_EXCHANGE)

    swapper = threading.Thread(target=swap, daemon=True)
    swapper.start()
    copied = 0
    try:
        for i in range(2000):
            try:
                found = source.glob(tree, "w/d/secret") if i % 2 else source.glob(tree, "w/d/")
                copy_sources(rootfs, found, f"/out{i}/", CopyOptions(owner=(os.getuid(), os.getgid())))
            except (NotFound, OSError):
                continue
            copied += 1
    finally:
        stop.set()
        swapper.join()
    assert copied > 0
    files = [p for p in rootfs.rglob("*") if p.is_file()]
    assert files and all(p.name == "secret" and p.read_text() == IN_TREE for p in files)
    assert token not in "".join(p.read_text() for p in files)

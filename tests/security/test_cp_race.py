"""CVE-2018-15664: ``docker cp`` while the container swaps a directory with a symlink to the host.

A static C program in the container loops ``renameat2(RENAME_EXCHANGE)`` between ``/w/d`` (a real
directory) and ``/w/l`` (a symlink to a host canary directory, meaningless inside the container).
The host copies into ``/w/d/`` and out of ``/w/d/secret`` over and over. A daemon that resolves the
path on the host and then opens it writes into (or reads from) the canary directory whenever the
swap lands between the two; ours walks descriptors inside the container and never does. Part of the
attempts use the stock CLI, the bulk docker-py (``DYC_CP_RACE_ATTEMPTS`` per direction, 1000).
"""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from pathlib import Path

import docker
import pytest
from conformance.daemon import Daemon

from security.hostcheck import tree_digest

ATTEMPTS = int(os.environ.get("DYC_CP_RACE_ATTEMPTS", "1000"))
HOST_SECRET = b"host-secret-never-in-a-container\n"

SWAPPER = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE 2
#endif
int main(int argc, char **argv) {
    mkdir("/w", 0755);
    mkdir("/w/d", 0755);
    int fd = open("/w/d/secret", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    write(fd, "in-container\n", 13);
    close(fd);
    symlink(argv[1], "/w/l");
    fd = open("/w/ready", O_WRONLY | O_CREAT, 0644);
    close(fd);
    for (;;)
        syscall(SYS_renameat2, AT_FDCWD, "/w/d", AT_FDCWD, "/w/l", RENAME_EXCHANGE);
}
"""


def _tar(name: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = 2
        tar.addfile(info, io.BytesIO(b"x\n"))
    return buf.getvalue()


@pytest.fixture
def swapper(tmp_path: Path) -> Path:
    src = tmp_path / "swapper.c"
    src.write_text(SWAPPER)
    binary = tmp_path / "swapper"
    subprocess.run(["gcc", "-static", "-O2", "-o", str(binary), str(src)], check=True, timeout=120)
    return binary


def _log_errors(daemon: Daemon, start: int) -> list[str]:
    text = daemon.log_path.read_bytes()[start:].decode(errors="replace")
    if os.environ.get("DYC_DUMP_LOG"):
        Path(os.environ["DYC_DUMP_LOG"]).write_text(text)
    return [line for line in text.splitlines() if "Traceback" in line or " ERROR " in line]


@pytest.mark.slow
def test_cp_never_leaves_the_container_while_it_swaps(
        daemon: Daemon, client: docker.DockerClient, container: object, swapper: Path,
        tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    canary.mkdir()
    (canary / "secret").write_bytes(HOST_SECRET)
    before = tree_digest(canary)
    log_start = daemon.log_path.stat().st_size
    cid = container("-v", f"{swapper}:/swapper:ro", "busybox", "/swapper", str(canary))  # type: ignore[operator]
    daemon.docker_ok("exec", cid, "sh", "-c", "while [ ! -e /w/ready ]; do sleep 0.05; done")

    statuses: dict[int, int] = {}
    leaked_reads = 0
    cli_share = max(1, ATTEMPTS // 20)
    payload = tmp_path / "payload"
    payload.write_text("x\n")
    cli_errors: list[str] = []
    for i in range(cli_share):  # the stock CLI: HEAD then PUT, and HEAD then GET
        code, _, err = daemon.docker("cp", str(payload), f"{cid}:/w/d/")
        # Refusals are fine: the path vanished, or is now the symlink (the CLI then copies onto
        # /w/d itself, and noOverwriteDirNonDir refuses to replace the directory that is back;
        # or "no such directory", the CLI's own word for a 404 on a "dir/" destination; or an
        # entry that turned into a directory between our look and our unlink: a 400).
        if code != 0 and not any(t in err for t in (
                "Could not find the file", "cannot overwrite", "no such directory",
                "extraction point is not a directory", "failed to unpack",
                "parent is not a directory")):
            cli_errors.append(err.strip())
        out = tmp_path / f"out-{i}"
        code, _, err = daemon.docker("cp", f"{cid}:/w/d/secret", str(out))
        if code == 0:
            leaked_reads += out.read_bytes() == HOST_SECRET
        elif "Could not find the file" not in err:
            cli_errors.append(err.strip())
    for i in range(ATTEMPTS - cli_share):
        try:
            client.api.put_archive(cid, "/w/d/", _tar(f"f-{i}"))
            statuses[200] = statuses.get(200, 0) + 1
        except docker.errors.APIError as exc:
            status = exc.status_code or 0
            statuses[status] = statuses.get(status, 0) + 1
        try:
            stream, _ = client.api.get_archive(cid, "/w/d/secret")
            with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
                for member in tar:
                    content = tar.extractfile(member)
                    leaked_reads += content is not None and content.read() == HOST_SECRET
        except docker.errors.APIError as exc:
            status = exc.status_code or 0
            statuses[status] = statuses.get(status, 0) + 1

    log_errors = _log_errors(daemon, log_start)
    assert tree_digest(canary) == before, "docker cp wrote into the host directory"
    assert leaked_reads == 0, "docker cp read the host file"
    assert sorted(set(cli_errors)) == []
    assert not {s for s in statuses if s >= 500}, statuses
    assert set(statuses) <= {200, 400, 404}, statuses
    assert log_errors == []
    # The copies that got in landed inside the container: in one of the two directories, or where
    # the symlink's (host) target names a path of the container's own root (RESOLVE_IN_ROOT). The
    # swapper is stopped first: a walk of /w while it swaps can see both entries as the symlink.
    daemon.docker_ok("kill", cid)
    daemon.docker_ok("wait", cid)
    landed = [line for line in daemon.docker_ok("diff", cid).splitlines() if "/f-" in line]
    assert len(landed) == statuses.get(200, 0), (landed[:5], statuses)

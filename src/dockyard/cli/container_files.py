"""``dockyard cp``, ``commit``, ``export`` and ``diff``: a container's files over the API.

``cp`` follows docker's rules: ``CONTAINER:SRC DEST`` fetches a tar of SRC (named by its base name)
and unpacks it into DEST when DEST is a directory, else as DEST; ``SRC CONTAINER:DEST`` sends a tar
of SRC to DEST when DEST is a directory in the container, else to DEST's parent under DEST's name.
``-`` on either side is a tar stream on stdin or stdout.
"""

from __future__ import annotations

import base64
import io
import json
import os
import posixpath
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from typing import IO, Any

import click

from dockyard.cli.client import CliError, DaemonError
from dockyard.cli.images import split_tag
from dockyard.cli.session import Session, session
from dockyard.cli.units import human_size

_CHUNK = 1 << 16
_GO_DIR = 1 << 31


def _split(arg: str) -> tuple[str | None, str]:
    """``ctr:/path`` -> ("ctr", "/path"); local paths (also ``./a:b``, ``/a:b``) -> (None, path)."""
    if arg.startswith(("/", ".")) or ":" not in arg:
        return None, arg
    container, _, path = arg.partition(":")
    return container, path


def _stat(s: Session, container: str, path: str) -> dict[str, Any] | None:
    try:
        response = s.client.request("HEAD", f"/containers/{container}/archive", params={"path": path})
    except DaemonError as exc:
        if exc.http_status == 404:
            return None
        raise
    header = response.headers.get("X-Docker-Container-Path-Stat", "")
    return dict(json.loads(base64.urlsafe_b64decode(header))) if header else {}


@click.command("cp")
@click.option("-a", "--archive", is_flag=True, help="Archive mode (copy all uid/gid information)")
@click.option("-L", "--follow-link", is_flag=True, help="Always follow symbol link in SRC_PATH")
@click.option("-q", "--quiet", is_flag=True, help="Suppress progress output during copy")
@click.argument("src")
@click.argument("dest")
def cp_command(archive: bool, follow_link: bool, quiet: bool, src: str, dest: str) -> None:
    """Copy files/folders between a container and the local filesystem"""
    s = session()
    src_ctr, src_path = _split(src)
    dest_ctr, dest_path = _split(dest)
    if (src_ctr is None) == (dest_ctr is None):
        raise CliError("copying between containers is not supported" if src_ctr
                       else "must specify at least one container source", 1)
    if src_ctr is not None:
        copied = _copy_from(s, src_ctr, src_path, dest_path, follow_link)
    else:
        assert dest_ctr is not None
        copied = _copy_to(s, src_path, dest_ctr, dest_path, archive)
    if copied is not None and not quiet and sys.stderr.isatty() and "-" not in (src, dest):
        # docker's summary, shown on a terminal only: the size of the archive that travelled.
        click.echo(f"Successfully copied {human_size(copied)} to {dest}", err=True)


def _copy_from(s: Session, container: str, path: str, dest: str, follow: bool) -> int | None:
    info = _stat(s, container, path)
    if info is None:
        raise CliError(f"Error response from daemon: Could not find the file {path} in container "
                       f"{container}", 1)
    name = posixpath.basename(path.rstrip("/")) or "."
    if follow and info.get("linkTarget"):
        path = info["linkTarget"]
    with s.client.stream("GET", f"/containers/{container}/archive", params={"path": path}) as response:
        if dest == "-":
            for chunk in response.iter_raw():
                s.stdout.write(chunk)
            s.stdout.flush()
            return None
        with tempfile.TemporaryFile() as spool:
            for chunk in response.iter_raw():
                spool.write(chunk)
            size = spool.tell()
            spool.seek(0)
            _extract_local(spool, dest, name)
    return size


def _extract_local(spool: IO[bytes], dest: str, name: str) -> None:
    """Unpack into ``dest`` (a directory) or as ``dest``; the archive's top entry is renamed."""
    into_dir = os.path.isdir(dest) and not dest.endswith("/.")
    if into_dir:
        target_dir, new_name = dest, None
    else:
        target_dir, new_name = os.path.dirname(dest) or ".", os.path.basename(dest)
    if not os.path.isdir(target_dir):
        raise CliError(f"destination directory {target_dir!r} does not exist", 1)
    with tarfile.open(fileobj=spool) as tar:
        members = tar.getmembers()
        top = members[0].name.split("/")[0] if members else name
        for member in members:
            if new_name is not None and top not in (".", ""):
                rest = member.name[len(top):]
                member.name = new_name + rest
        tar.extractall(target_dir, members=members, filter="tar")


def _copy_to(s: Session, src: str, container: str, dest: str, archive: bool) -> int | None:
    params = {"copyUIDGID": "1" if archive else "0", "noOverwriteDirNonDir": "1"}
    if src == "-":
        _put(s, container, dest, params, _chunks(sys.stdin.buffer))
        return None
    if not os.path.lexists(src):
        raise CliError(f"stat {src}: no such file or directory", 1)
    info = _stat(s, container, dest)
    if info is not None and info.get("mode", 0) & _GO_DIR:
        where, name = dest, os.path.basename(os.path.normpath(src))
    else:
        where, name = posixpath.dirname(dest.rstrip("/")) or "/", posixpath.basename(dest.rstrip("/"))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.add(src, arcname=name, recursive=True)
    _put(s, container, where, params, iter([buf.getvalue()]))
    return len(buf.getvalue())


def _put(s: Session, container: str, path: str, params: dict[str, str], content: Iterator[bytes]) -> None:
    s.client.request("PUT", f"/containers/{container}/archive", params={"path": path, **params},
                     content=content, headers={"Content-Type": "application/x-tar"})


def _chunks(source: IO[bytes]) -> Iterator[bytes]:
    while chunk := source.read(_CHUNK):
        yield chunk


@click.command("commit")
@click.option("-a", "--author", help='Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")')
@click.option("-c", "--change", "changes", multiple=True,
              help="Apply Dockerfile instruction to the created image")
@click.option("-m", "--message", help="Commit message")
@click.option("-p", "--pause", type=click.BOOL, default=True, help="Pause container during commit")
@click.argument("container")
@click.argument("reference", required=False)
def commit_command(author: str | None, changes: tuple[str, ...], message: str | None, pause: bool,
                   container: str, reference: str | None) -> None:
    """Create a new image from a container's changes"""
    s = session()
    params: list[tuple[str, str]] = [("container", container), ("pause", "1" if pause else "0")]
    if reference:
        repo, tag = split_tag(reference)
        params += [("repo", repo), ("tag", tag)]
    params += [("changes", change) for change in changes]
    if author:
        params.append(("author", author))
    if message:
        params.append(("comment", message))
    result = s.client.post_json("/commit", params=params, body={})
    s.out(result["Id"] + "\n")


@click.command("export")
@click.option("-o", "--output", help="Write to a file, instead of STDOUT")
@click.argument("container")
def export_command(output: str | None, container: str) -> None:
    """Export a container's filesystem as a tar archive"""
    s = session()
    if output is None and os.isatty(s.stdout.fileno()):
        raise CliError("cowardly refusing to save to a terminal. Use the -o flag or redirect", 1)
    with s.client.stream("GET", f"/containers/{container}/export") as response:
        target = open(output, "wb") if output else s.stdout  # noqa: SIM115
        try:
            for chunk in response.iter_raw():
                target.write(chunk)
            target.flush()
        finally:
            if output:
                target.close()


@click.command("diff")
@click.argument("container")
def diff_command(container: str) -> None:
    """Inspect changes to files or directories on a container's filesystem"""
    s = session()
    changes = s.client.get_json(f"/containers/{container}/changes") or []
    kinds = {0: "C", 1: "A", 2: "D"}
    s.out("".join(f"{kinds.get(c['Kind'], '?')} {c['Path']}\n" for c in changes))

"""``dockyard image bootstrap busybox``: a minimal image from the host's static busybox, offline.

The rootfs tar is built in memory and is deterministic (sorted entries, fixed mtimes, uid/gid 0, no
user or group names), so the same host busybox always gives the same layer DiffID.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path, PurePosixPath

import click

from dockyard.cli.client import CliError
from dockyard.cli.images import show_json_stream, split_tag
from dockyard.cli.session import session

# 2000-01-01T00:00:00Z: any fixed time will do; zero makes some tools warn about "implausibly old" files.
FIXED_MTIME = 946684800
_DIRS = {"bin": 0o755, "dev": 0o755, "etc": 0o755, "home": 0o755, "proc": 0o555, "root": 0o700,
         "sys": 0o555, "tmp": 0o1777, "usr": 0o755, "usr/bin": 0o755, "usr/sbin": 0o755, "sbin": 0o755,
         "var": 0o755, "var/spool": 0o755, "var/www": 0o755}
_FILES = {
    "etc/passwd": b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
    "etc/group": b"root:x:0:\nnobody:x:65534:\n",
    "etc/hostname": b"",
    "etc/hosts": b"",
    "etc/resolv.conf": b"",
}
BUSYBOX_PATH = "bin/busybox"


def list_applets(busybox: Path) -> list[str]:
    """``busybox --list-full``: applet paths relative to the root (``bin/sh``, ``usr/bin/env``…)."""
    try:
        done = subprocess.run([str(busybox), "--list-full"], capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CliError(f"cannot run {busybox} --list-full: {exc}", 1) from exc
    if done.returncode != 0:
        raise CliError(f"{busybox} --list-full failed: {done.stderr.decode(errors='replace').strip()}", 1)
    return sorted({line.strip().lstrip("/") for line in done.stdout.decode().splitlines() if line.strip()})


def _info(name: str, kind: bytes, mode: int, size: int = 0, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.size = size
    info.linkname = link
    info.mtime = FIXED_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def build_rootfs(busybox_binary: bytes, applets: list[str]) -> bytes:
    """The rootfs as an uncompressed tar: busybox, one symlink per applet, a skeleton /etc."""
    entries: dict[str, tuple[tarfile.TarInfo, bytes | None]] = {}
    for name, mode in _DIRS.items():
        entries[name] = (_info(name, tarfile.DIRTYPE, mode), None)
    for applet in applets:
        for parent in PurePosixPath(applet).parents:
            if str(parent) != "." and str(parent) not in entries:
                entries[str(parent)] = (_info(str(parent), tarfile.DIRTYPE, 0o755), None)
        if applet != BUSYBOX_PATH:
            entries[applet] = (_info(applet, tarfile.SYMTYPE, 0o777, link="/" + BUSYBOX_PATH), None)
    entries[BUSYBOX_PATH] = (_info(BUSYBOX_PATH, tarfile.REGTYPE, 0o755, len(busybox_binary)), busybox_binary)
    for name, data in _FILES.items():
        entries[name] = (_info(name, tarfile.REGTYPE, 0o644, len(data)), data)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(entries):
            info, content = entries[name]
            tar.addfile(info, io.BytesIO(content) if content is not None else None)
    return buffer.getvalue()


@click.group("bootstrap")
def bootstrap_group() -> None:
    """Create base images without a registry"""


@bootstrap_group.command("busybox")
@click.option("--busybox", "busybox_path", default="/bin/busybox", show_default=True,
              help="Static busybox binary of the host to use")
@click.option("-t", "--tag", default="busybox:latest", show_default=True, help="Name of the image")
def bootstrap_busybox(busybox_path: str, tag: str) -> None:
    """Import a busybox image built from the host's static busybox"""
    binary = Path(busybox_path)
    try:
        data = binary.read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {binary}: {exc.strerror or exc}", 1) from exc
    rootfs = build_rootfs(data, list_applets(binary))
    repo, version = split_tag(tag)
    params = [("fromSrc", "-"), ("repo", repo), ("tag", version or "latest"), ("changes", 'CMD ["sh"]')]
    s = session()
    with s.client.stream("POST", "/images/create", params=params, content=rootfs,
                         headers={"Content-Type": "application/x-tar"}) as response:
        show_json_stream(response)

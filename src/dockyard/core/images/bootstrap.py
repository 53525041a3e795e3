"""A busybox root filesystem tar built from the host's static busybox: the base image of the tests.

Deterministic (sorted entries, fixed mtimes, uid/gid 0), so the same busybox binary always gives
the same DiffID; the image ID still differs between imports because ``created`` does.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

from dockyard.errors import Internal

MTIME = 0
_DIRS = {"bin": 0o755, "dev": 0o755, "etc": 0o755, "home": 0o755, "proc": 0o555, "root": 0o700,
         "sbin": 0o755, "sys": 0o555, "tmp": 0o1777, "usr": 0o755, "usr/bin": 0o755, "usr/sbin": 0o755,
         "var": 0o755, "var/spool": 0o755, "var/spool/mail": 0o755, "var/www": 0o755}
_FILES = {
    "etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
    "etc/group": "root:x:0:\nnobody:x:65534:\n",
    "etc/hostname": "",
    "etc/hosts": "",
    "etc/resolv.conf": "",
}


def applets(busybox: Path) -> list[str]:
    """The applet paths busybox installs (``bin/sh``, ``usr/bin/awk`` …), relative, sorted."""
    try:
        proc = subprocess.run([str(busybox), "--list-full"], capture_output=True, timeout=10, check=False)
    except OSError as exc:
        raise Internal(f"cannot run {busybox}: {exc}") from exc
    if proc.returncode != 0:
        raise Internal(f"{busybox} --list-full: {proc.stderr.decode(errors='replace').strip()}")
    return sorted({line.strip().lstrip("/") for line in proc.stdout.decode().splitlines() if line.strip()})


def _info(name: str, kind: bytes, mode: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.mtime = MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def busybox_rootfs_tar(dest: Path, busybox: Path = Path("/bin/busybox")) -> None:
    """Write a rootfs tar: busybox at /bin/busybox, one symlink per applet, a minimal /etc."""
    links = [a for a in applets(busybox) if a != "bin/busybox"]
    dirs = dict(_DIRS)
    for link in links:
        parent = link.rsplit("/", 1)[0]
        while parent:
            dirs.setdefault(parent, 0o755)
            parent = parent.rsplit("/", 1)[0] if "/" in parent else ""
    with tarfile.open(dest, "w", format=tarfile.GNU_FORMAT) as tar:
        for name in sorted(dirs):
            tar.addfile(_info(name + "/", tarfile.DIRTYPE, dirs[name]))
        data = busybox.read_bytes()
        info = _info("bin/busybox", tarfile.REGTYPE, 0o755)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        for name in sorted(_FILES):
            content = _FILES[name].encode()
            info = _info(name, tarfile.REGTYPE, 0o644)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
        for link in links:
            info = _info(link, tarfile.SYMTYPE, 0o777)
            info.linkname = "/bin/busybox"
            tar.addfile(info)

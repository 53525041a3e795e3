"""The CLI side of volumes and docker cp: argument splitting, local unpacking, request shapes."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from dockyard.cli.container_files import _extract_local, _split


def test_split_container_and_local_paths() -> None:
    assert _split("web:/etc/hosts") == ("web", "/etc/hosts")
    assert _split("/tmp/a:b") == (None, "/tmp/a:b")
    assert _split("./x:y") == (None, "./x:y")
    assert _split("-") == (None, "-")


def _tar(top: str) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(top)
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
        data = b"x\n"
        info = tarfile.TarInfo(f"{top}/f")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


def test_extract_into_a_directory_or_as_a_new_name(tmp_path: Path) -> None:
    _extract_local(_tar("d"), str(tmp_path), "d")
    assert (tmp_path / "d" / "f").read_text() == "x\n"
    _extract_local(_tar("d"), str(tmp_path / "renamed"), "d")
    assert (tmp_path / "renamed" / "f").read_text() == "x\n"

"""Hostile archives and the host state they must leave alone."""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

from conformance.daemon import Daemon
from conformance.images import busybox_rootfs_tar, sha256

from security.hostcheck import etc_digest, tree_digest

# (name, kind, data or link target); kinds: file, dir, sym, hard, chr, fifo.
Member = tuple[str, str, str]
_KINDS = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE,
          "hard": tarfile.LNKTYPE, "chr": tarfile.CHRTYPE, "fifo": tarfile.FIFOTYPE}


def tar_bytes(members: list[Member], *, base: bytes = b"", mode: int = 0o644, uid: int = 0) -> bytes:
    """A tar of ``members`` written verbatim (``../x`` and all), after the members of ``base``."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        if base:
            with tarfile.open(fileobj=io.BytesIO(base)) as src:
                for info in src.getmembers():
                    tar.addfile(info, src.extractfile(info) if info.isfile() else None)
        for name, kind, data in members:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.uid, info.gid, info.mtime = _KINDS[kind], mode, uid, uid, 1_700_000_000
            payload = None
            if kind == "file":
                payload = io.BytesIO(data.encode())
                info.size = len(data.encode())
            elif kind in ("sym", "hard"):
                info.linkname = data
            elif kind == "chr":
                info.devmajor, info.devminor = (int(x) for x in data.split(","))
            tar.addfile(info, payload)
    return buf.getvalue()


def busybox_with(members: list[Member]) -> bytes:
    return tar_bytes(members, base=busybox_rootfs_tar())


def load_archive(layer_blob: bytes, diff_id: str, tag: str) -> bytes:
    """A legacy ``docker save`` archive of one layer; ``diff_id`` is what its config claims."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    manifest = json.dumps([{"Config": f"{sha256(config)}.json", "RepoTags": [tag],
                            "Layers": ["layer/layer.tar"]}]).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in ((f"{sha256(config)}.json", config), ("layer/layer.tar", layer_blob),
                           ("manifest.json", manifest)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def load_archive_of(layer: bytes, tag: str) -> bytes:
    return load_archive(layer, f"sha256:{sha256(layer)}", tag)


def _data_root_digest(daemon: Daemon) -> dict[str, str]:
    # The database and the scratch dir change with any request; the store proper must not.
    skip = (daemon.data_root / "tmp", daemon.data_root / "dockyard.db", daemon.data_root / "dockyard.db-wal",
            daemon.data_root / "dockyard.db-shm")
    return {k: v for k, v in tree_digest(daemon.data_root, skip=skip).items()
            if not k.startswith("dockyard.db")}


@dataclass
class HostState:
    """Checksums of a canary directory, /etc and the daemon's store, and the store's listing."""

    canary: dict[str, str]
    etc: dict[str, str]
    data_root: dict[str, str]
    store: tuple[list[str], list[str], list[str]]

    @classmethod
    def of(cls, daemon: Daemon, canary: Path) -> HostState:
        return cls(tree_digest(canary), etc_digest(), _data_root_digest(daemon), daemon.store_state())

    def assert_unchanged(self, daemon: Daemon, canary: Path) -> None:
        after = HostState.of(daemon, canary)
        assert after.canary == self.canary, "the canary directory changed"
        assert after.etc == self.etc, "/etc changed"
        assert after.store == self.store, "an image, container or blob was left"
        assert after.data_root == self.data_root, "the data root changed"

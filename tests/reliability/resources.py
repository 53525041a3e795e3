"""What a dockyardd holds on the host, to compare before and after a test: leaks show as differences."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from conformance.daemon import Daemon


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def open_fds(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


@dataclass(frozen=True)
class Holdings:
    containers: frozenset[str]
    mounts: frozenset[str]
    netns: frozenset[str]
    veths: frozenset[str]
    nft: str  # the table without counters: published ports and endpoints are its elements

    def leaks_against(self, before: Holdings) -> dict[str, object]:
        found: dict[str, object] = {}
        for name in ("containers", "mounts", "netns", "veths"):
            extra = getattr(self, name) - getattr(before, name)
            if extra:
                found[name] = sorted(extra)
        if self.nft != before.nft:
            found["nft"] = self.nft
        return found


def holdings(d: Daemon) -> Holdings:
    bridge, table = d.host_network_names
    mounts = frozenset(line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()
                       if line.split()[4].startswith((str(d.data_root), str(d.exec_root))))
    netns_dir = d.exec_root / "netns"
    netns = frozenset(p.name for p in netns_dir.iterdir()) if netns_dir.is_dir() else frozenset()
    links = subprocess.run(["ip", "-o", "link", "show", "master", bridge], capture_output=True, text=True)
    veths = frozenset(line.split(":")[1].strip().split("@")[0] for line in links.stdout.splitlines())
    nft = subprocess.run(["nft", "-s", "list", "table", "ip", table], capture_output=True, text=True).stdout
    containers = frozenset(d.docker_ok("ps", "-a", "-q", "--no-trunc").split())
    return Holdings(containers, mounts, netns, veths, nft)

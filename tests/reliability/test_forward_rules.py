"""iptables FORWARD accept rules after kill -9: a daemon starting again keeps one pair per bridge
it needs and removes the ones a crash left for bridges no network needs any more."""

from __future__ import annotations

import signal
import sqlite3
import subprocess

import pytest
from conformance.daemon import Daemon


def _forward() -> str:
    return subprocess.run(["iptables", "-w", "-S", "FORWARD"], capture_output=True, text=True,
                          timeout=10).stdout


def _has_forward_chain() -> bool:
    return subprocess.run(["nft", "list", "chain", "ip", "filter", "FORWARD"],
                          capture_output=True, timeout=10).returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(not _has_forward_chain(), reason="no iptables filter FORWARD chain here")
def test_forward_rules_left_by_kill_9_do_not_accumulate(daemon_factory) -> None:
    d: Daemon = daemon_factory(busybox=False)
    kept = "dy-" + d.docker_ok("network", "create", "kept").strip()[:12]
    gone_id = d.docker_ok("network", "create", "gone").strip()
    gone = "dy-" + gone_id[:12]
    assert d.stop(signal.SIGKILL) is not None
    # While it was down the network's record went and its bridge too (removed by hand), and an
    # older daemon's rule (bare "dockyard" comment) names a bridge that no longer exists.
    with sqlite3.connect(d.data_root / "dockyard.db") as db:
        db.execute("DELETE FROM networks WHERE id = ?", (gone_id,))
    subprocess.run(["ip", "link", "del", gone], check=True, timeout=10)
    legacy = ["FORWARD", "-i", "dy-0ldc0ffee0ld", "-m", "comment", "--comment", "dockyard",
              "-j", "ACCEPT"]
    subprocess.run(["iptables", "-w", "-I", *legacy], check=True, timeout=10)
    try:
        for _ in range(2):  # twice: nothing piles up across crashes either
            d.start()
            assert d.stop(signal.SIGKILL) is not None
        d.start()
        rules = _forward()
        assert gone not in rules and "dy-0ldc0ffee0ld" not in rules
        for direction in ("-i", "-o"):
            assert len([r for r in rules.splitlines() if f"{direction} {kept} " in r]) == 1, rules
    finally:
        subprocess.run(["iptables", "-w", "-D", *legacy], capture_output=True, timeout=10)
    d.docker_ok("network", "rm", "kept")
    assert kept not in _forward()

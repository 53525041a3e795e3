"""Issue 10's start-up budget, checked by what a command imports rather than by a timing: commands
that talk to the daemon load no HTTP library, no rich and no ssl (bench/cli_latency.py has the times).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from .daemon import Daemon

# Each of these cost a command 10–100 ms of imports; ssl is for TLS endpoints only.
HEAVY = ("httpx", "httpcore", "http", "email", "rich", "ssl", "aiohttp", "pydantic", "ruamel", "yaml")
_PROBE = """
import sys
from dockyard.cli.main import main
try:
    main(sys.argv[1:])
finally:
    heavy = sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r})
    print("IMPORTED:" + ",".join(heavy), file=sys.stderr)
"""


@pytest.mark.parametrize("argv", [["ps", "-a"], ["images"], ["inspect", "busybox"],
                                  ["run", "--rm", "busybox", "echo", "hi"], ["version"]])
def test_a_command_imports_nothing_heavy(daemon: Daemon, argv: list[str]) -> None:
    proc = subprocess.run([sys.executable, "-c", _PROBE.format(heavy=set(HEAVY)), *argv],
                          env=daemon.env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    if argv[0] == "run":
        assert proc.stdout == "hi\n"
    imported = proc.stderr.strip().splitlines()[-1]
    assert imported == "IMPORTED:", f"dockyard {' '.join(argv)} imported {imported[9:]}"


def test_a_tls_endpoint_still_loads_ssl(daemon: Daemon) -> None:
    """The lazy import is a real path: tcp with --tlsverify reaches ssl (and fails to connect here,
    nobody listens), not a NameError."""
    proc = subprocess.run([sys.executable, "-c", _PROBE.format(heavy={"ssl"}), "-H", "tcp://127.0.0.1:1",
                           "--tlsverify", "ps"], env=daemon.env(), capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] in ("IMPORTED:", "IMPORTED:ssl")

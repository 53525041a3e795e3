"""Logging drivers through the stock docker CLI: json-file on disk in Docker's format, rotation
bounded, the daemon's bounded default, none, refusals with Docker's texts, and --tail of a large
log read from the end (issue 9)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from .daemon import Daemon

Name = Callable[[str], str]


def inspect(daemon: Daemon, ref: str) -> dict:  # type: ignore[type-arg]
    return json.loads(daemon.docker_ok("inspect", ref))[0]  # type: ignore[no-any-return]


def test_default_is_json_file_bounded(daemon: Daemon, name: Name) -> None:
    info = json.loads(daemon.docker_ok("info", "--format", "{{json .}}"))
    assert info["LoggingDriver"] == "json-file"
    assert {"json-file", "local", "syslog", "gelf", "fluentd"} <= set(info["Plugins"]["Log"])
    ctr = name("jf")
    out = daemon.docker_ok("run", "--name", ctr, "busybox", "sh", "-c", "echo hello; echo oops >&2")
    assert out == "hello\n"
    data = inspect(daemon, ctr)
    # The bound applies (test_logdrivers) but, as dockerd's, HostConfig shows only options given.
    assert data["HostConfig"]["LogConfig"] == {"Type": "json-file", "Config": {}}
    log_path = Path(data["LogPath"])
    assert log_path.name == f"{data['Id']}-json.log"
    lines = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert [(r["log"], r["stream"]) for r in lines] == [("hello\n", "stdout"), ("oops\n", "stderr")]
    assert lines[0]["time"].endswith("Z")
    code, out, err = daemon.docker("logs", ctr)
    assert (code, out, err) == (0, "hello\n", "oops\n")
    assert daemon.docker("logs", "--since", "2100-01-01T00:00:00Z", ctr)[1:] == ("", "")
    assert daemon.docker("logs", "--until", "2000-01-01T00:00:00Z", ctr)[1:] == ("", "")
    assert daemon.docker("logs", "--since", "2000-01-01T00:00:00Z", ctr)[1:] == ("hello\n", "oops\n")
    daemon.docker_ok("rm", ctr)


def test_rotation_is_bounded_on_disk(daemon: Daemon, name: Name) -> None:
    ctr = name("rot")
    daemon.docker_ok("run", "--name", ctr, "--log-opt", "max-size=100k", "--log-opt", "max-file=3",
                     "--log-opt", "labels=team", "--label", "team=blue", "busybox", "sh", "-c",
                     "i=0; while [ $i -lt 20000 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxx; "
                     "i=$((i+1)); done",
                     timeout=120)
    data = inspect(daemon, ctr)
    log_path = Path(data["LogPath"])
    members = sorted(log_path.parent.glob(log_path.name + "*"))
    assert len(members) == 3, members
    assert sum(m.stat().st_size for m in members) <= 3 * 100 * 1024 + 4096
    assert json.loads(log_path.read_text().splitlines()[-1])["attrs"] == {"team": "blue"}
    assert daemon.docker_ok("logs", "--tail", "2", ctr).splitlines() == [
        "line-19998-xxxxxxxxxxxxxxxxxxxxxxxx", "line-19999-xxxxxxxxxxxxxxxxxxxxxxxx"]
    daemon.docker_ok("rm", ctr)


def test_none_refuses_reading(daemon: Daemon, name: Name) -> None:
    ctr = name("none")
    daemon.docker_ok("run", "--name", ctr, "--log-driver", "none", "busybox", "echo", "hi")
    code, _, err = daemon.docker("logs", ctr)
    assert code != 0 and "configured logging driver does not support reading" in err
    assert inspect(daemon, ctr)["LogPath"] == ""
    daemon.docker_ok("rm", ctr)


def test_unknown_driver_and_option_are_refused(daemon: Daemon, name: Name) -> None:
    ctr = name("bad")
    code, _, err = daemon.docker("create", "--name", ctr, "--log-driver", "nosuch", "busybox")
    assert code != 0 and "no log driver named 'nosuch' is registered" in err
    code, _, err = daemon.docker("create", "--name", ctr, "--log-opt", "bogus=1", "busybox")
    assert code != 0 and "unknown log opt 'bogus' for json-file log driver" in err
    code, _, err = daemon.docker("create", "--name", ctr, "--log-driver", "gelf", "busybox")
    assert code != 0 and "gelf-address is a required parameter" in err
    assert daemon.docker("inspect", ctr)[0] != 0  # nothing half-made


def test_tail_of_a_large_log_reads_from_the_end(daemon: Daemon, name: Name) -> None:
    """Issue 9: a few hundred MB of json-file written directly; --tail 10 must not read it all."""
    ctr = name("big")
    daemon.docker_ok("run", "--name", ctr, "--log-opt", "max-size=-1", "busybox", "echo", "last")
    log_path = Path(inspect(daemon, ctr)["LogPath"])
    record = json.dumps({"log": "x" * 200 + "\n", "stream": "stdout",
                         "time": "2024-01-01T00:00:00.000000000Z"}).encode() + b"\n"
    block = record * 4096
    with log_path.open("r+b") as handle:
        tail = handle.read()
        handle.seek(0)
        for _ in range(300 * 1024 * 1024 // len(block)):
            handle.write(block)
        handle.write(tail)
    assert log_path.stat().st_size > 290 * 1024 * 1024
    assert daemon.proc is not None
    pid = daemon.proc.pid
    rss_before = _rss_kb(pid)
    stalls: list[float] = []
    stop = threading.Event()

    def ping() -> None:
        while not stop.is_set():
            started = time.monotonic()
            daemon.request("GET", "/_ping", timeout=10.0)
            stalls.append(time.monotonic() - started)
            time.sleep(0.05)

    pinger = threading.Thread(target=ping)
    pinger.start()
    started = time.monotonic()
    try:
        out = daemon.docker_ok("logs", "--tail", "3", ctr)
    finally:
        stop.set()
        pinger.join()
    elapsed = time.monotonic() - started
    assert out.splitlines()[-1] == "last" and out.splitlines()[0] == "x" * 200
    assert elapsed < 5, elapsed
    assert _rss_kb(pid) - rss_before < 50 * 1024
    assert max(stalls) < 1.0, stalls
    daemon.docker_ok("rm", ctr)


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@pytest.mark.slow
def test_a_fast_writer_loses_nothing_and_the_spool_stays_small(daemon: Daemon, name: Name) -> None:
    """400,000 lines as fast as busybox writes them: every one in json-file, in order, and the
    spool conmon writes is given back as it is shipped (its blocks, not its length)."""
    ctr = name("fast")
    count = 400_000
    daemon.docker_ok("run", "--name", ctr, "--log-opt", "max-size=-1", "busybox", "sh", "-c",
                     f"seq 0 {count - 1}", timeout=180)
    log_path = Path(inspect(daemon, ctr)["LogPath"])
    numbers = [int(json.loads(line)["log"]) for line in log_path.read_text().splitlines()]
    assert numbers == list(range(count))
    spool = log_path.parent / "container.log"
    assert spool.stat().st_blocks * 512 < spool.stat().st_size / 2
    assert daemon.docker_ok("logs", "--tail", "1", ctr) == f"{count - 1}\n"
    daemon.docker_ok("rm", ctr)

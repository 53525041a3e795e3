"""Logging across the daemon's life, on a daemon of this module's own (a daemon.json, restarts):
daemon.json's log-driver/log-opts, containers that keep logging while the daemon is down, and
a restarted daemon that picks up where it left off (no line lost or repeated in json-file)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .daemon import Daemon
from .fixtures import put_busybox


@pytest.fixture(scope="module")
def own_daemon(rootfs_tar: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    config = tmp_path_factory.mktemp("logcfg") / "daemon.json"
    config.write_text(json.dumps({"log-driver": "json-file",
                                  "log-opts": {"max-size": "1m", "max-file": "2", "compress": "true"}}))
    d = Daemon()
    d.extra_args = ["--config-file", str(config)]
    try:
        d.start()
        put_busybox(d, rootfs_tar)
        yield d
    finally:
        d.cleanup()


def test_daemon_json_log_opts_apply(own_daemon: Daemon) -> None:
    info = json.loads(own_daemon.docker_ok("info", "--format", "{{json .}}"))
    assert info["LoggingDriver"] == "json-file"
    cid = own_daemon.docker_ok("create", "--log-opt", "max-file=3", "busybox").strip()
    config = json.loads(own_daemon.docker_ok("inspect", cid))[0]["HostConfig"]["LogConfig"]
    # The container's own option wins; the daemon's others fill in (moby's merge).
    assert config == {"Type": "json-file", "Config": {"max-size": "1m", "max-file": "3", "compress": "true"}}
    local = own_daemon.docker_ok("create", "--log-driver", "local", "busybox").strip()
    config = json.loads(own_daemon.docker_ok("inspect", local))[0]["HostConfig"]["LogConfig"]
    assert config == {"Type": "local", "Config": {}}  # the daemon's options are json-file's
    own_daemon.docker_ok("rm", cid, local)


def test_restart_picks_up_where_it_left_off(own_daemon: Daemon) -> None:
    count = 60
    cid = own_daemon.docker_ok(
        "run", "-d", "busybox", "sh", "-c",
        f"i=0; while [ $i -lt {count} ]; do echo n$i; i=$((i+1)); sleep 0.05; done").strip()
    time.sleep(0.8)
    own_daemon.stop()
    time.sleep(3.5)  # the container finishes its lines while no daemon runs: conmon's spool holds them
    own_daemon.start()
    assert own_daemon.docker_ok("wait", cid).strip() == "0"
    lines = own_daemon.docker_ok("logs", cid).splitlines()
    assert lines == [f"n{i}" for i in range(count)]
    log_path = Path(json.loads(own_daemon.docker_ok("inspect", cid))[0]["LogPath"])
    records = [json.loads(line)["log"] for line in log_path.read_text().splitlines()]
    assert records == [f"n{i}\n" for i in range(count)]
    own_daemon.docker_ok("rm", cid)


def test_local_driver_reads_back_and_follows(own_daemon: Daemon) -> None:
    cid = own_daemon.docker_ok("run", "-d", "--log-driver", "local", "busybox", "sh", "-c",
                               "echo a; sleep 1; echo b").strip()
    out = own_daemon.docker_ok("logs", "-f", "--timestamps", cid, timeout=30)
    stamps, texts = zip(*(line.split(" ", 1) for line in out.splitlines()), strict=True)
    assert texts == ("a", "b") and all(s.endswith("Z") for s in stamps)
    path = Path(json.loads(own_daemon.docker_ok("inspect", cid))[0]["LogPath"])
    assert path.name == "container.log" and path.parent.name == "local-logs"
    own_daemon.docker_ok("rm", cid)

"""The course's lab: a "db" and an "app" container on a custom network, the db's data on the named
volume ``db_data``, surviving removal and re-creation of the db container (busybox roles only: the
db is ``httpd`` serving files from the volume, the app a ``wget`` client).

Two halves, written by two engineers: the data half (volume) and the network half (name resolution
on a user network). Re-read this file before extending it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .daemon import Daemon

DB_CMD = ["httpd", "-f", "-p", "8080", "-h", "/data"]


@pytest.fixture
def lab(daemon: Daemon) -> Iterator[Daemon]:
    """Remove the lab's containers, network and volume whatever a test left."""
    yield daemon
    daemon.docker("rm", "-f", "db", "app", timeout=60)
    daemon.docker("network", "rm", "labnet")
    daemon.docker("volume", "rm", "db_data")


def test_lab_db_data_survives_removal_and_recreation(lab: Daemon) -> None:
    lab.docker_ok("volume", "create", "db_data")
    lab.docker_ok("run", "-d", "--name", "db", "-v", "db_data:/data", "busybox", *DB_CMD)
    lab.docker_ok("exec", "db", "sh", "-c", "echo row1 >> /data/index.html")
    lab.docker_ok("rm", "-f", "-v", "db")  # -v removes anonymous volumes only: db_data stays
    assert "db_data" in lab.docker_ok("volume", "ls", "-q").split()
    lab.docker_ok("run", "-d", "--name", "db", "-v", "db_data:/data", "busybox", *DB_CMD)
    lab.docker_ok("exec", "db", "sh", "-c", "echo row2 >> /data/index.html")
    assert lab.docker_ok("exec", "db", "cat", "/data/index.html") == "row1\nrow2\n"
    code, _, err = lab.docker("volume", "rm", "db_data")
    assert code != 0 and "volume is in use" in err


def test_lab_app_reaches_db_by_name_across_db_recreation(lab: Daemon) -> None:
    lab.docker_ok("network", "create", "labnet")
    lab.docker_ok("volume", "create", "db_data")
    for round_, row in enumerate(("first", "second")):
        lab.docker_ok("run", "-d", "--name", "db", "--network", "labnet", "-v", "db_data:/data",
                      "busybox", *DB_CMD)
        lab.docker_ok("exec", "db", "sh", "-c", f"echo {row} >> /data/index.html")
        out = lab.docker_ok("run", "--rm", "--name", "app", "--network", "labnet", "busybox",
                            "timeout", "10", "wget", "-qO-", "http://db:8080/")
        assert out == ("first\n" if round_ == 0 else "first\nsecond\n")
        lab.docker_ok("rm", "-f", "db")

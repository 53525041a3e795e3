"""``docker inspect`` fields and ``docker ps`` listing and filters, as the stock CLI shows them."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator

import pytest

from .daemon import Daemon

ZERO_TIME = "0001-01-01T00:00:00Z"
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


@pytest.fixture(scope="module")
def inspected(daemon: Daemon) -> Iterator[dict]:
    name = f"insp-{os.getpid()}"
    daemon.docker_ok("run", "-d", "--name", name, "-e", "A=1", "-l", "k=v", "-w", "/tmp", "-u", "65534",
                     "-h", "myhost", "busybox", "sleep", "100")
    try:
        yield json.loads(daemon.docker_ok("inspect", name))[0]
    finally:
        daemon.docker("rm", "-f", name, timeout=60)


def test_inspect_identity(daemon: Daemon, inspected: dict) -> None:
    assert re.fullmatch(r"[0-9a-f]{64}", inspected["Id"])
    assert inspected["Name"] == f"/insp-{os.getpid()}"
    image_id = daemon.docker_ok("image", "inspect", "-f", "{{.Id}}", "busybox").strip()
    assert inspected["Image"] == image_id
    assert (inspected["Path"], inspected["Args"]) == ("sleep", ["100"])
    assert RFC3339.match(inspected["Created"]), inspected["Created"]


def test_inspect_state_of_a_running_container(inspected: dict) -> None:
    state = inspected["State"]
    assert (state["Status"], state["Running"], state["Paused"]) == ("running", True, False)
    assert state["ExitCode"] == 0
    assert state["Pid"] > 0
    # Pid is the host PID of the container's process.
    with open(f"/proc/{state['Pid']}/cmdline", "rb") as f:
        assert f.read().split(b"\0")[:2] == [b"sleep", b"100"]
    assert RFC3339.match(state["StartedAt"]) and state["StartedAt"] != ZERO_TIME
    assert state["FinishedAt"] == ZERO_TIME


def test_inspect_config(inspected: dict) -> None:
    config = inspected["Config"]
    assert "A=1" in config["Env"]
    assert config["Cmd"] == ["sleep", "100"]
    assert config["Image"] == "busybox"
    assert config["Labels"] == {"k": "v"}
    assert config["Hostname"] == "myhost"
    assert config["User"] == "65534"
    assert config["WorkingDir"] == "/tmp"


def test_inspect_host_config_mounts_and_driver(inspected: dict) -> None:
    host = inspected["HostConfig"]
    assert host["AutoRemove"] is False
    assert not host.get("Init")
    assert host["NetworkMode"] in ("bridge", "default")  # Docker 25+ says bridge, older default
    assert inspected["Mounts"] == []
    driver = inspected["GraphDriver"]
    assert driver["Name"] == "overlay2"
    for key in ("LowerDir", "MergedDir", "UpperDir", "WorkDir"):
        assert key in driver["Data"], driver
    assert os.path.isdir(driver["Data"]["MergedDir"])


def test_inspect_settings_are_seen_inside(daemon: Daemon, inspected: dict) -> None:
    out = daemon.docker_ok("exec", inspected["Id"], "sh", "-c", "id -u; pwd; hostname; echo $A")
    assert out == "65534\n/tmp\nmyhost\n1\n"


def test_inspect_init_and_autoremove_flags(daemon: Daemon, container) -> None:
    cid = container("--init", "busybox", "sleep", "100")
    host = json.loads(daemon.docker_ok("inspect", cid))[0]["HostConfig"]
    assert host["Init"] is True
    assert host["AutoRemove"] is False


def test_inspect_format_template(daemon: Daemon, inspected: dict) -> None:
    template = "{{.Name}} {{.State.Status}} {{.Config.Hostname}}"
    out = daemon.docker_ok("inspect", "-f", template, inspected["Id"])
    assert out == f"{inspected['Name']} running myhost\n"


@pytest.fixture(scope="module")
def ps_set(daemon: Daemon) -> Iterator[dict[str, str]]:
    """A running, an exited (3) and a created container with distinct labels."""
    tag = f"ps{os.getpid()}"
    ids = {
        "running": daemon.docker_ok("run", "-d", "--name", f"{tag}-run", "-l", "app=one", "-l", tag,
                                    "busybox", "sleep", "100").strip(),
        "exited": daemon.docker_ok("run", "-d", "--name", f"{tag}-exit", "-l", "app=two", "-l", tag,
                                   "busybox", "sh", "-c", "exit 3").strip(),
        "created": daemon.docker_ok("create", "--name", f"{tag}-created", "-l", tag,
                                    "busybox", "true").strip(),
    }
    daemon.docker_ok("wait", ids["exited"])
    try:
        yield {"tag": tag, **ids}
    finally:
        daemon.docker("rm", "-f", ids["running"], ids["exited"], ids["created"], timeout=60)


def _ps(daemon: Daemon, *args: str) -> set[str]:
    return set(daemon.docker_ok("ps", "-q", "--no-trunc", *args).split())


def test_ps_default_shows_running_only(daemon: Daemon, ps_set: dict[str, str]) -> None:
    ours = {ps_set["running"], ps_set["exited"], ps_set["created"]}
    assert _ps(daemon) & ours == {ps_set["running"]}
    assert _ps(daemon, "-a") & ours == ours


def test_ps_short_ids(daemon: Daemon, ps_set: dict[str, str]) -> None:
    short = daemon.docker_ok("ps", "-q").split()
    assert ps_set["running"][:12] in short
    assert all(len(s) == 12 for s in short)


@pytest.mark.parametrize("flt, expected", [
    ("status=running", {"running"}), ("status=exited", {"exited"}), ("status=created", {"created"}),
    ("exited=3", {"exited"}), ("label=app=one", {"running"}), ("label=app", {"running", "exited"}),
    ("ancestor=busybox", {"running", "exited", "created"}),
])
def test_ps_filters(daemon: Daemon, ps_set: dict[str, str], flt: str, expected: set[str]) -> None:
    ours = {ps_set[k]: k for k in ("running", "exited", "created")}
    got = {ours[i] for i in _ps(daemon, "-a", "--filter", flt) if i in ours}
    assert got == expected


def test_ps_filter_by_name_and_id(daemon: Daemon, ps_set: dict[str, str]) -> None:
    tag = ps_set["tag"]
    assert _ps(daemon, "-a", "--filter", f"name={tag}-run") == {ps_set["running"]}
    everything = {ps_set[k] for k in ("running", "exited", "created")}
    assert _ps(daemon, "-a", "--filter", f"name={tag}") == everything
    assert _ps(daemon, "-a", "--filter", f"id={ps_set['exited'][:12]}") == {ps_set["exited"]}
    assert _ps(daemon, "-a", "--filter", f"label={tag}", "--filter", "status=exited") == {ps_set["exited"]}


def test_ps_table(daemon: Daemon, ps_set: dict[str, str]) -> None:
    out = daemon.docker_ok("ps", "-a", "--filter", f"label={ps_set['tag']}")
    header, *rows = out.splitlines()
    assert header.split() == ["CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]
    by_name = {row.split()[-1]: row for row in rows}
    tag = ps_set["tag"]
    assert set(by_name) == {f"{tag}-run", f"{tag}-exit", f"{tag}-created"}
    assert by_name[f"{tag}-run"].startswith(ps_set["running"][:12])
    assert " Up " in by_name[f"{tag}-run"]
    assert "Exited (3)" in by_name[f"{tag}-exit"]
    assert "Created" in by_name[f"{tag}-created"]
    assert '"sleep 100"' in by_name[f"{tag}-run"]

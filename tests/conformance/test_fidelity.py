"""Issue 10's sweep: settings that were accepted and ignored, and behaviours that differed from
dockerd's, each checked through the stock CLI or docker-py."""

from __future__ import annotations

import asyncio
import io
import json
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import docker
import pytest

from .daemon import Daemon

Run = Callable[..., str]
Name = Callable[[str], str]


def _inspect(daemon: Daemon, *args: str) -> object:
    return json.loads(daemon.docker_ok("inspect", *args))


def test_exec_tty_is_the_one_exec_create_asked_for(client: docker.DockerClient, container: Run) -> None:
    cid = container("busybox", "sleep", "60")
    exec_id = client.api.exec_create(cid, ["tty"], tty=True)["Id"]
    # Start without Tty: the process still gets its terminal; only the stream is framed.
    out = client.api.exec_start(exec_id, tty=False).decode()
    assert out.strip().startswith("/dev/pts/"), out
    no_tty = client.api.exec_create(cid, ["tty"], tty=False)["Id"]
    assert "not a tty" in client.api.exec_start(no_tty, tty=True).decode()


def test_wait_returns_when_a_restarting_container_exits(daemon: Daemon, container: Run) -> None:
    cid = container("--restart", "always", "busybox", "sh", "-c", "sleep 1; exit 3")
    started = time.monotonic()
    code, out, _ = daemon.docker("wait", cid, timeout=30)
    assert code == 0 and out.strip() == "3"
    assert time.monotonic() - started < 20
    status, body = daemon.request_json("POST", f"{daemon.api}/containers/{cid}/wait?condition=next-exit")
    assert status == 200 and body["StatusCode"] == 3


def test_images_repo_lists_only_that_repository(daemon: Daemon, name: Name) -> None:
    other = name("other")
    daemon.docker_ok("tag", "busybox", f"{other}:1")
    try:
        out = daemon.docker_ok("images", "--format", "{{.Repository}}:{{.Tag}}", "busybox")
        assert out.split() == ["busybox:latest"]
        assert daemon.docker_ok("images", "--format", "{{.Repository}}", other).split() == [other]
    finally:
        daemon.docker("rmi", f"{other}:1")


@pytest.mark.parametrize("driver", ["host", "null"])
def test_a_second_host_or_null_network_is_refused(daemon: Daemon, name: Name, driver: str) -> None:
    code, _, err = daemon.docker("network", "create", "-d", driver, name("n"))
    assert code == 1
    assert f'only one instance of "{driver}" network is allowed' in err


def test_legacy_link_sets_dockers_environment(daemon: Daemon, container: Run, name: Name) -> None:
    db = name("db")
    container("--name", db, "-e", "SECRET_LEVEL=3", "--expose", "5432", "--expose", "7000-7002/udp",
              "busybox", "sleep", "60")
    ip = _inspect(daemon, "-f", "{{json .NetworkSettings.IPAddress}}", db)
    parent = name("app")
    out = daemon.docker_ok("run", "--rm", "--name", parent, "--link", f"{db}:data", "busybox", "env")
    env = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    assert env["DATA_PORT"] == f"tcp://{ip}:5432"
    assert env["DATA_PORT_5432_TCP"] == f"tcp://{ip}:5432"
    assert env["DATA_PORT_5432_TCP_ADDR"] == ip
    assert env["DATA_PORT_5432_TCP_PORT"] == "5432"
    assert env["DATA_PORT_5432_TCP_PROTO"] == "tcp"
    assert env["DATA_PORT_7000_UDP_START"] == f"udp://{ip}:7000"
    assert env["DATA_PORT_7000_UDP_END"] == f"udp://{ip}:7002"
    assert env["DATA_PORT_7000_UDP_PORT_END"] == "7002"
    assert env["DATA_NAME"] == f"/{parent}/data"
    assert env["DATA_ENV_SECRET_LEVEL"] == "3"
    assert "DATA_ENV_PATH" not in env


def test_rm_link_removes_the_link_from_the_parent(daemon: Daemon, container: Run, name: Name) -> None:
    db, app = name("db"), name("app")
    container("--name", db, "busybox", "sleep", "60")
    container("--name", app, "--link", f"{db}:data", "busybox", "sleep", "60")
    daemon.docker_ok("rm", "--link", f"/{app}/data")
    assert _inspect(daemon, "-f", "{{json .HostConfig.Links}}", app) is None
    code, _, err = daemon.docker("rm", "--link", f"/{app}/data")
    assert code == 1 and "No such container" in err
    # The linked container itself is untouched.
    assert _inspect(daemon, "-f", "{{json .State.Running}}", db) is True


def test_oom_score_adj_reaches_the_process(daemon: Daemon) -> None:
    out = daemon.docker_ok("run", "--rm", "--oom-score-adj", "500", "busybox",
                           "cat", "/proc/self/oom_score_adj")
    assert out.strip() == "500"


def test_gpus_are_refused_without_a_driver(daemon: Daemon) -> None:
    before = daemon.store_state()
    code, _, err = daemon.docker("run", "--rm", "--gpus", "all", "busybox", "true")
    assert code == 125
    assert 'could not select device driver "" with capabilities: [[gpu]]' in err
    assert daemon.store_state() == before


def test_storage_opt_size_is_refused_without_quotas(daemon: Daemon) -> None:
    code, _, err = daemon.docker("create", "--storage-opt", "size=1G", "busybox", "true")
    assert code != 0
    assert "--storage-opt is supported only for overlay over xfs with 'pquota' mount option" in err


def test_mac_address_is_applied_to_the_interface(daemon: Daemon, name: Name) -> None:
    net = name("net")
    daemon.docker_ok("network", "create", net)
    try:
        for network in ("bridge", net):
            out = daemon.docker_ok("run", "--rm", "--network", network, "--mac-address", "02:42:ac:11:00:99",
                                   "busybox", "cat", "/sys/class/net/eth0/address")
            assert out.strip() == "02:42:ac:11:00:99"
        # The CLI checks the form itself; the API refuses what another client sends.
        status, body = daemon.request_json("POST", f"{daemon.api}/containers/create", {
            "Image": "busybox", "HostConfig": {"NetworkMode": net},
            "NetworkingConfig": {"EndpointsConfig": {net: {"MacAddress": "zz:42"}}}})
        assert status == 400 and "invalid MAC address" in body["message"]
    finally:
        daemon.docker("network", "rm", net)


def test_network_ipam_aux_addresses_and_options(daemon: Daemon, name: Name) -> None:
    net = name("net")
    daemon.docker_ok("network", "create", "--subnet", "10.231.7.0/29", "--aux-address", "router=10.231.7.2",
                     net)
    try:
        ipam = _inspect(daemon, "-f", "{{json .IPAM}}", net)
        assert isinstance(ipam, dict)
        assert ipam["Options"] is None
        assert ipam["Config"][0]["AuxiliaryAddresses"] == {"router": "10.231.7.2"}
        # The auxiliary address is never handed to a container.
        out = daemon.docker_ok("run", "--rm", "--network", net, "busybox",
                               "ip", "-4", "-o", "addr", "show", "eth0")
        assert "10.231.7.2/" not in out
    finally:
        daemon.docker("network", "rm", net)
    code, _, err = daemon.docker("network", "create", "--subnet", "10.231.8.0/29", "--aux-address",
                                 "x=10.99.0.1", name("net"))
    assert code == 1 and "no matching subnet for aux-address" in err
    code, _, err = daemon.docker("network", "create", "--ipam-driver", "nosuch", name("net"))
    assert code == 1 and 'plugin "nosuch" not found' in err


def test_endpoint_driver_opts_and_links_are_kept(client: docker.DockerClient, name: Name) -> None:
    net = client.networks.create(name("net"))
    try:
        cname = name("c")
        endpoint = client.api.create_endpoint_config(driver_opt={"com.example.opt": "1"},
                                                     links={"other": "o"})
        networking = client.api.create_networking_config({net.name: endpoint})
        cid = client.api.create_container("busybox", "true", name=cname, networking_config=networking,
                                          host_config=client.api.create_host_config(network_mode=net.name))["Id"]
        try:
            settings = client.api.inspect_container(cid)["NetworkSettings"]["Networks"][net.name]
            assert settings["DriverOpts"] == {"com.example.opt": "1"}
            assert settings["Links"] == ["other:o"]
        finally:
            client.api.remove_container(cid, force=True)
    finally:
        net.remove()


def test_info_lists_the_bridge_network_driver(daemon: Daemon) -> None:
    plugins = json.loads(daemon.docker_ok("info", "--format", "{{json .Plugins.Network}}"))
    assert plugins[0] == "bridge" and {"host", "null"} <= set(plugins)


def test_build_with_a_dockerfile_outside_the_context(daemon: Daemon, tmp_path: Path, name: Name) -> None:
    ctx, elsewhere = tmp_path / "ctx", tmp_path / "elsewhere"
    ctx.mkdir()
    elsewhere.mkdir()
    (ctx / "f").write_text("from the context\n")
    (elsewhere / "Dockerfile").write_text("FROM busybox\nCOPY f /f\n")
    tag = name("outside")
    daemon.docker_ok("build", "-q", "-t", tag, "-f", str(elsewhere / "Dockerfile"), str(ctx))
    try:
        assert daemon.docker_ok("run", "--rm", tag, "cat", "/f") == "from the context\n"
    finally:
        daemon.docker("rmi", tag)
    (elsewhere / "Bad").write_text("FROM busybox\n\nBOGUS x\n")
    code, _, err = daemon.docker("build", "-f", str(elsewhere / "Bad"), str(ctx))
    assert code != 0 and "line 3" in err and "unknown instruction" in err.lower()


def test_build_errors_before_any_output_are_http_errors(daemon: Daemon, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("")
    body = _context_tar(tmp_path)
    status, _, raw = daemon.request("POST", f"{daemon.api}/build", body,
                                    {"Content-Type": "application/x-tar"})
    assert status == 400, raw
    assert "file with no instructions" in json.loads(raw)["message"]


def test_build_stream_sends_the_image_id_before_success(daemon: Daemon, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox\nENV A=1\n")
    status, _, raw = daemon.request("POST", f"{daemon.api}/build", _context_tar(tmp_path),
                                    {"Content-Type": "application/x-tar"})
    assert status == 200
    messages = [json.loads(line) for line in raw.splitlines() if line.strip()]
    aux = next(i for i, m in enumerate(messages) if "aux" in m)
    built = next(i for i, m in enumerate(messages) if "Successfully built" in m.get("stream", ""))
    assert aux < built
    daemon.docker("rmi", messages[aux]["aux"]["ID"])


def _context_tar(root: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in root.iterdir():
            tar.add(path, arcname=path.name)
    return buffer.getvalue()


def test_load_of_a_corrupt_archive_is_an_error_in_the_stream(daemon: Daemon,
                                                             client: docker.DockerClient) -> None:
    before = daemon.store_state()
    status, _, raw = daemon.request("POST", f"{daemon.api}/images/load", b"garbage" * 200,
                                    {"Content-Type": "application/x-tar"})
    assert status == 200
    assert "error" in json.loads(raw.splitlines()[-1])
    with pytest.raises(docker.errors.ImageLoadError):
        client.images.load(b"garbage" * 200)
    code, _, err = daemon.docker("load", input=b"garbage" * 200)
    assert code == 1 and err.strip()
    assert daemon.store_state() == before


def test_load_reports_each_layer(daemon: Daemon, tmp_path: Path) -> None:
    archive = tmp_path / "bb.tar"
    daemon.docker_ok("save", "-o", str(archive), "busybox")
    status, _, raw = daemon.request("POST", f"{daemon.api}/images/load?quiet=0", archive.read_bytes(),
                                    {"Content-Type": "application/x-tar"})
    messages = [json.loads(line) for line in raw.splitlines() if line.strip()]
    layers = [m for m in messages if m.get("status") == "Loading layer"]
    assert status == 200 and layers and len(layers[0]["id"]) == 12
    assert layers[0]["progressDetail"]["total"] > 0
    assert messages[-1]["stream"] == "Loaded image: busybox:latest\n"
    status, _, raw = daemon.request("POST", f"{daemon.api}/images/load?quiet=1", archive.read_bytes(),
                                    {"Content-Type": "application/x-tar"})
    assert b"Loading layer" not in raw


def test_volume_created_without_a_name_is_anonymous(daemon: Daemon, name: Name) -> None:
    status, body = daemon.request_json("POST", f"{daemon.api}/volumes/create", {})
    assert status == 201
    named = name("vol")
    daemon.docker_ok("volume", "create", named)
    pruned = daemon.docker_ok("volume", "prune", "-f")
    assert body["Name"] in pruned and named not in pruned
    # Before API 1.42, prune took every unused volume.
    status, report = daemon.request_json("POST", "/v1.41/volumes/prune")
    assert status == 200 and named in (report["VolumesDeleted"] or [])


def test_image_prune_keeps_the_steps_of_tagged_images(daemon: Daemon, tmp_path: Path, name: Name) -> None:
    (tmp_path / "Dockerfile").write_text(f"FROM busybox\nRUN echo {name('a')} > /a\nRUN echo b > /b\n")
    tag = name("steps")
    before = set(daemon.docker_ok("images", "-a", "-q").split())
    daemon.docker_ok("build", "-t", tag, str(tmp_path))
    try:
        steps = set(daemon.docker_ok("images", "-a", "-q").split()) - before
        assert len(steps) == 2  # the RUN step's image and the tagged one
        daemon.docker_ok("image", "prune", "-f")
        for step in steps:  # every step image of the tagged one survives the prune
            assert daemon.docker("image", "inspect", step)[0] == 0, step
        out = daemon.docker_ok("build", "-t", tag, str(tmp_path))
        assert out.count("Using cache") == 2
    finally:
        daemon.docker("rmi", tag)


def test_system_df_counts_listed_images_and_sizes_add_up(daemon: Daemon, tmp_path: Path,
                                                         name: Name) -> None:
    (tmp_path / "Dockerfile").write_text(f"FROM busybox\nRUN echo {name('a')} > /a\nRUN echo b > /b\n")
    tag = name("df")
    daemon.docker_ok("build", "-t", tag, str(tmp_path))
    try:
        status, df = daemon.request_json("GET", f"{daemon.api}/system/df")
        assert status == 200
        listed = set(daemon.docker_ok("images", "-q", "--no-trunc").split())
        assert {i["Id"] for i in df["Images"]} == listed
        for image in df["Images"]:
            assert image["Size"] >= image["SharedSize"] >= 0
        verbose = daemon.docker_ok("system", "df", "-v").split("Containers space usage")[0]
        assert " -" not in verbose  # no negative UNIQUE SIZE
        images_line = next(line for line in daemon.docker_ok("system", "df").splitlines()
                           if line.startswith("Images"))
        assert int(images_line.split("(")[1].split("%")[0]) <= 100
    finally:
        daemon.docker("rmi", tag)


def test_builder_prune_reports_what_it_freed(daemon: Daemon, tmp_path: Path, name: Name) -> None:
    (tmp_path / "Dockerfile").write_text(
        f"FROM busybox\nRUN head -c 2000000 /dev/urandom > /blob && echo {name('x')}\n")
    image_id = daemon.docker_ok("build", "-q", str(tmp_path)).strip()
    assert image_id
    out = daemon.docker_ok("builder", "prune", "-f")
    freed = out.strip().splitlines()[-1]
    assert freed.startswith("Total reclaimed space:") and ("MB" in freed or "kB" in freed), out
    assert daemon.docker("image", "inspect", image_id)[0] != 0


def test_attach_over_a_websocket(daemon: Daemon, container: Run) -> None:
    cid = container("-i", "busybox", "sh", "-c", "read line; echo got $line; echo err >&2")

    async def talk() -> bytes:
        connector = aiohttp.UnixConnector(path=str(daemon.sock))
        async with aiohttp.ClientSession(connector=connector) as session:
            url = (f"http://localhost{daemon.api}/containers/{cid}/attach/ws"
                   "?stream=1&stdin=1&stdout=1&stderr=1")
            async with session.ws_connect(url) as ws:
                await ws.send_bytes(b"hello\n")
                received = b""
                async for msg in ws:
                    if msg.type == aiohttp.WSMsgType.BINARY:
                        received += msg.data
                    if b"err" in received:
                        break
                return received

    received = asyncio.run(asyncio.wait_for(talk(), 30))
    assert b"got hello\n" in received and b"err\n" in received
    assert b"\x01\x00\x00\x00" not in received  # bare bytes, no stream frames


def test_host_config_fields_that_were_ignored(daemon: Daemon, client: docker.DockerClient) -> None:
    api = client.api
    host = api.create_host_config(network_mode="bridge")
    host.update({"Annotations": {"com.example.note": "kept"}, "MaskedPaths": ["/etc/hostname"],
                 "ReadonlyPaths": []})
    cid = api.create_container("busybox", ["cat", "/etc/hostname"],
                               host_config=host)["Id"]
    try:
        api.start(cid)
        api.wait(cid, timeout=30)
        assert cid[:12] not in api.logs(cid).decode()  # masked: /etc/hostname reads as empty
        bundle = json.loads((daemon.data_root / "containers" / cid / "config.json").read_text())
        assert bundle["annotations"]["com.example.note"] == "kept"
        assert bundle["linux"]["maskedPaths"] == ["/etc/hostname"]
        assert bundle["linux"]["readonlyPaths"] == []
    finally:
        api.remove_container(cid, force=True)
    cid = api.create_container("busybox", ["ls", "/sys/class/net"], network_disabled=True)["Id"]
    try:
        api.start(cid)
        api.wait(cid, timeout=30)
        assert api.logs(cid).decode().split() == ["lo"]
    finally:
        api.remove_container(cid, force=True)
    for extra, text in (({"KernelMemoryTCP": 1 << 20}, "KernelMemoryTCP"),
                        ({"CpuCount": 2}, "Windows containers only"),
                        ({"Isolation": "hyperv"}, "invalid isolation")):
        status, body = daemon.request_json("POST", f"{daemon.api}/containers/create",
                                           {"Image": "busybox", "HostConfig": extra})
        assert status == 400 and text in body["message"]
    # --volume-driver is applied to the volumes -v names (tests/plugins/test_volume_plugins.py).
    status, body = daemon.request_json("POST", f"{daemon.api}/containers/create", {
        "Image": "busybox", "HostConfig": {"VolumeDriver": "nosuch", "Binds": ["nosuchvol:/d"]}})
    assert status == 404
    assert 'error looking up volume plugin nosuch: plugin "nosuch" not found' in body["message"]
    status, body = daemon.request_json("POST", f"{daemon.api}/containers/create", {
        "Image": "busybox", "NetworkingConfig": {"EndpointsConfig": {"bridge": {"GwPriority": 5}}}})
    assert status == 400 and "GwPriority" in body["message"]


def _build_stream(daemon: Daemon, root: Path, query: str = "") -> list[dict[str, object]]:
    status, _, raw = daemon.request("POST", f"{daemon.api}/build?{query}", _context_tar(root),
                                    {"Content-Type": "application/x-tar"})
    assert status == 200, raw
    return [json.loads(line) for line in raw.splitlines() if line.strip()]


def _text(messages: list[dict[str, object]]) -> str:
    return "".join(str(m.get("stream", "")) for m in messages)


def test_build_run_gets_the_builds_host_settings(daemon: Daemon, tmp_path: Path, name: Name) -> None:
    marker = name("m")
    (tmp_path / "Dockerfile").write_text(
        f"FROM busybox\nRUN echo {marker}; grep gateway.example /etc/hosts; ulimit -n; "
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max; "
        "echo to-stderr >&2\n")
    ulimits = '[{"Name":"nofile","Soft":123,"Hard":123}]'
    text = _text(_build_stream(daemon, tmp_path, "extrahosts=gateway.example:10.9.8.7&memory=67108864"
                               f"&ulimits={ulimits}&labels=%7B%22a%22%3A%22b%22%7D"))
    assert "10.9.8.7\tgateway.example" in text or "10.9.8.7 gateway.example" in text
    assert "\n123\n" in text and "67108864" in text
    assert "\x1b[91mto-stderr\n\x1b[0m" in text
    assert "Step 3/3 : LABEL a=b" in text


def test_build_rm_false_keeps_the_step_containers(daemon: Daemon, tmp_path: Path, name: Name) -> None:
    (tmp_path / "Dockerfile").write_text(f"FROM busybox\nRUN echo {name('keep')}\n")
    before = set(daemon.docker_ok("ps", "-aq").split())
    code, out, _ = daemon.docker("build", "--rm=false", str(tmp_path))
    kept = set(daemon.docker_ok("ps", "-aq").split()) - before
    try:
        assert code == 0 and len(kept) == 1 and "Removed intermediate container" not in out
    finally:
        if kept:
            daemon.docker("rm", "-f", *kept)


def test_build_pull_and_buildkit_only_settings_are_refused(daemon: Daemon, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox\n")
    for query, text in (("pull=1", "--pull is not supported"), ("squash=1", "squash"),
                        ("outputs=x", "outputs are only supported with BuildKit")):
        status, _, raw = daemon.request("POST", f"{daemon.api}/build?{query}", _context_tar(tmp_path),
                                        {"Content-Type": "application/x-tar"})
        assert status in (400, 501) and text in json.loads(raw)["message"]


def test_multi_stage_steps_come_in_file_order(daemon: Daemon, tmp_path: Path, name: Name) -> None:
    (tmp_path / "Dockerfile").write_text(
        f"FROM busybox AS slow\nRUN sleep 1; echo {name('s')} > /s\n"
        f"FROM busybox AS fast\nRUN echo {name('f')} > /f\n"
        "FROM busybox\nCOPY --from=slow /s /s\nCOPY --from=fast /f /f\n")
    text = _text(_build_stream(daemon, tmp_path))
    steps = [line for line in text.splitlines() if line.startswith("Step ")]
    assert [s.split(" :")[0] for s in steps] == [f"Step {i}/7" for i in range(1, 8)]
    assert steps[1].startswith("Step 2/7 : RUN sleep 1") and steps[3].startswith("Step 4/7 : RUN echo")


def test_cgroup_parent_is_applied(daemon: Daemon, name: Name) -> None:
    parent = name("parent")
    try:
        out = daemon.docker_ok("run", "--rm", "--cgroup-parent", f"/{parent}", "busybox",
                               "cat", "/proc/self/cgroup")
        assert f"/{parent}/" in out
    finally:
        # Where a parent goes: under each v1 controller, the hybrid cgroup2 mount, or a v2 root. A
        # recursive walk would race the container's own cgroup, which --rm removes after exit.
        roots = Path("/sys/fs/cgroup")
        for left in [*roots.glob(f"*/{parent}"), roots / parent]:
            for _ in range(50):  # until the container's cgroup inside it is gone
                try:
                    left.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)
    code, _, err = daemon.docker("create", "--cgroup-parent", "../escape", "busybox", "true")
    assert code != 0 and "invalid cgroup parent" in err


def test_cache_from_means_only_those_images(daemon: Daemon, tmp_path: Path, name: Name) -> None:
    (tmp_path / "Dockerfile").write_text(f"FROM busybox\nRUN echo {name('c')} > /c\n")
    tag = name("cached")
    daemon.docker_ok("build", "-t", tag, str(tmp_path))
    try:
        assert "Using cache" in daemon.docker_ok("build", str(tmp_path))
        # An unrelated image as the only candidate: the local cache is not consulted.
        out = daemon.docker_ok("build", "--cache-from", "busybox", str(tmp_path))
        assert "Using cache" not in out
        assert "Using cache" in daemon.docker_ok("build", "--cache-from", tag, str(tmp_path))
    finally:
        daemon.docker("rmi", tag)


def test_cpu_realtime_needs_and_gets_a_budget(daemon: Daemon) -> None:
    if not Path("/sys/fs/cgroup/cpu/cpu.rt_runtime_us").exists():
        code, _, err = daemon.docker("create", "--cpu-rt-runtime", "1000", "busybox", "true")
        assert code != 0 and "does not support cgroup cpu real-time runtime" in err
        return
    code, _, err = daemon.docker("create", "--cpu-rt-runtime", "2000", "--cpu-rt-period", "1000",
                                 "busybox", "true")
    assert code != 0 and "cpu real-time runtime cannot be higher than cpu real-time period" in err
    budgeted = Daemon()
    budgeted.extra_args = ["--cpu-rt-runtime", "50000"]
    budgeted.start()
    try:
        budgeted.docker_ok("import", str(_busybox_tar(budgeted)), "busybox")
        cid = budgeted.docker_ok("run", "-d", "--cpu-rt-runtime", "10000", "busybox", "sleep", "30").strip()
        rt = next(Path("/sys/fs/cgroup/cpu").glob(f"dockyard/{cid}/cpu.rt_runtime_us")).read_text()
        assert rt.strip() == "10000"
        budgeted.docker("rm", "-f", cid)
    finally:
        budgeted.cleanup()


def _busybox_tar(daemon: Daemon) -> Path:
    from .images import busybox_rootfs_tar

    path = daemon.root / "rootfs.tar"
    path.write_bytes(busybox_rootfs_tar())
    return path


def test_mtu_of_a_network_and_of_the_default_bridge(daemon: Daemon, name: Name) -> None:
    net = name("mtu")
    daemon.docker_ok("network", "create", "-o", "com.docker.network.driver.mtu=1400", net)
    try:
        out = daemon.docker_ok("run", "--rm", "--network", net, "busybox", "cat", "/sys/class/net/eth0/mtu")
        assert out.strip() == "1400"
    finally:
        daemon.docker("network", "rm", net)
    code, _, err = daemon.docker("network", "create", "-o", "com.docker.network.driver.mtu=12", name("m"))
    assert code != 0 and "invalid MTU" in err
    small = Daemon()
    small.extra_args = ["--mtu", "1300"]
    small.start()
    try:
        small.docker_ok("import", str(_busybox_tar(small)), "busybox")
        out = small.docker_ok("run", "--rm", "busybox", "cat", "/sys/class/net/eth0/mtu")
        assert out.strip() == "1300"
    finally:
        small.cleanup()

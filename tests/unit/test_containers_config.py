"""Image/request config merging, process environment, list filters."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_containers_fakes import FakeImages, Harness, busybox_image

from dockyard.core.containers.configs import merge_config, process_env
from dockyard.core.containers.model import ContainerConfig, CreateRequest, HostOptions
from dockyard.errors import InvalidArgument

IMAGE = {"Cmd": ["nginx", "-g", "daemon off;"], "Entrypoint": ["/entry.sh"], "Env": ["PATH=/x", "A=img"],
         "WorkingDir": "/srv", "User": "www", "StopSignal": "SIGQUIT", "Labels": {"l": "img", "m": "1"},
         "ExposedPorts": {"80/tcp": {}}}


def req(**config: object) -> CreateRequest:
    given = "entrypoint" in config
    return CreateRequest(image="nginx", config=ContainerConfig(image="nginx", **config),  # type: ignore[arg-type]
                         entrypoint_given=given)


def test_image_config_fills_what_the_request_leaves_out() -> None:
    merged = merge_config(req(), IMAGE)
    assert merged.cmd == ["nginx", "-g", "daemon off;"] and merged.entrypoint == ["/entry.sh"]
    assert merged.working_dir == "/srv" and merged.user == "www" and merged.stop_signal == "SIGQUIT"
    assert merged.env == ["PATH=/x", "A=img"] and merged.exposed_ports == {"80/tcp": {}}


def test_request_wins_and_env_and_labels_merge() -> None:
    merged = merge_config(req(cmd=["sh"], env=["A=req", "B=2"], user="0", working_dir="/tmp",
                              labels={"l": "req"}), IMAGE)
    assert merged.cmd == ["sh"] and merged.entrypoint == ["/entry.sh"]
    assert merged.env == ["A=req", "B=2", "PATH=/x"]
    assert merged.labels == {"l": "req", "m": "1"}
    assert (merged.user, merged.working_dir) == ("0", "/tmp")


def test_entrypoint_resets_image_cmd() -> None:
    merged = merge_config(req(entrypoint=["echo"]), IMAGE)
    assert merged.entrypoint == ["echo"] and merged.cmd is None
    merged = merge_config(req(entrypoint=[""], cmd=["ls"]), IMAGE)
    assert merged.entrypoint is None and merged.cmd == ["ls"]


def test_no_command_is_rejected() -> None:
    with pytest.raises(InvalidArgument, match="no command specified"):
        merge_config(req(), {"Env": []})
    with pytest.raises(InvalidArgument, match="no command specified"):
        merge_config(req(entrypoint=[""]), IMAGE)


def test_process_env_defaults() -> None:
    env = process_env(ContainerConfig(image="x", env=["A=1"], tty=True), "host1", "/root")
    assert env == ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                   "HOSTNAME=host1", "TERM=xterm", "A=1", "HOME=/root"]
    env = process_env(ContainerConfig(image="x", env=["PATH=/bin", "HOME=/h"]), "h", "/root")
    assert env == ["PATH=/bin", "HOSTNAME=h", "HOME=/h"]


def test_a_bare_name_unsets_the_variable() -> None:
    # Compose v2 sends ``NAME`` for ``environment: [NAME]`` with no value anywhere: moby drops it.
    env = process_env(ContainerConfig(image="x", env=["A=1", "UNSET", "HOSTNAME"]), "h", "/root")
    assert env == ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "A=1", "HOME=/root"]


@pytest.mark.asyncio
async def test_list_filters(tmp_path: Path) -> None:
    other = busybox_image()
    other = type(other)(id="sha256:" + "d" * 64, config=other.config, chain_ids=other.chain_ids,  # type: ignore[arg-type]
                        repo_tags=(), repo_digests=(), created=other.created, size=0)
    h = Harness(tmp_path, FakeImages(("busybox", busybox_image()), ("alpine", other)))
    svc = h.service
    await svc.open()

    def mk(name: str, image: str = "busybox", **labels: str) -> CreateRequest:
        return CreateRequest(image=image, name=name, host=HostOptions(),
                             config=ContainerConfig(image=image, labels=labels))

    a = await svc.create(mk("alpha", env="prod"))
    b = await svc.create(mk("beta", "alpine", env="dev"))
    c = await svc.create(mk("gamma"))
    await svc.start("alpha")
    await svc.start("beta")
    await svc.stop("beta")

    async def names(**kw: object) -> list[str]:
        return [x.name for x in await svc.list(**kw)]  # type: ignore[arg-type]

    assert await names() == ["/alpha"]
    assert await names(all=True) == ["/gamma", "/beta", "/alpha"]
    assert await names(filters={"status": ["exited"]}) == ["/beta"]
    assert await names(filters={"exited": ["143"]}) == ["/beta"]
    assert await names(filters={"exited": ["0"]}) == []
    assert await names(all=True, filters={"label": ["env=prod"]}) == ["/alpha"]
    assert await names(all=True, filters={"label": ["env"]}) == ["/beta", "/alpha"]
    assert await names(all=True, filters={"name": ["gam"]}) == ["/gamma"]
    assert await names(all=True, filters={"id": [b.id[:8]]}) == ["/beta"]
    assert await names(all=True, filters={"ancestor": ["alpine"]}) == ["/beta"]
    assert await names(all=True, filters={"before": ["gamma"]}) == ["/beta", "/alpha"]
    assert await names(all=True, filters={"since": ["alpha"]}) == ["/gamma", "/beta"]
    assert await names(limit=1) == ["/gamma"]
    assert await names(all=True, filters={"status": ["created"]}) == ["/gamma"]
    with pytest.raises(InvalidArgument, match="invalid filter 'bogus'"):
        await svc.list(filters={"bogus": ["1"]})
    with pytest.raises(InvalidArgument):
        await svc.list(filters={"status": ["sleepy"]})
    assert a.id != c.id
    report = await svc.prune()
    assert set(report.deleted) == {b.id, c.id}
    assert await names(all=True) == ["/alpha"]

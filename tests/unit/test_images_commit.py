"""ImageService.commit over the copy snapshotter: a child image from a parent and a changed tree."""

from __future__ import annotations

import asyncio
import tarfile
from pathlib import Path

import pytest
from test_images_service import make_service, small_tar, store_state

from dockyard.core.images.commit import CommitOptions
from dockyard.core.layers.diff import write_layer
from dockyard.errors import InvalidArgument


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_commit_adds_a_layer_and_a_history_entry(tmp_path: Path) -> None:
    svc = make_service(tmp_path / "store")
    run(svc.open())
    base = run(svc.import_(small_tar(tmp_path / "b.tar", {"keep": "k", "gone": "g"}), repo="base",
                           tag="v1", changes=['CMD ["sh"]'], message="", platform=None))
    # A container's view of the tree (copy snapshotter: the whole tree), changed by a "RUN".
    snapshots = svc._snapshotter  # noqa: SLF001 - the test plays the container service's part
    snapshots.prepare("ctr", base.top_layer)
    tree = snapshots.upper_dir("ctr")
    (tree / "gone").unlink()
    (tree / "new").write_text("n")
    layer = tmp_path / "layer.tar"
    write_layer(tree, snapshots.parent_dirs("ctr"), layer, full_tree=True)
    with tarfile.open(layer) as tar:
        assert sorted(tar.getnames()) == [".wh.gone", "new"]

    child = run(svc.commit(base, layer, CommitOptions(config={"Cmd": ["cat", "/new"]},
                                                     created_by="/bin/sh -c touch new", author="me",
                                                     comment="msg"), repo="child", tag="v2"))
    assert child.id != base.id and len(child.chain_ids) == 2
    assert child.chain_ids[0] == base.chain_ids[0]
    assert child.config["config"] == {"Cmd": ["cat", "/new"]} and child.config["author"] == "me"
    history = child.config["history"]
    assert len(history) == 2 and history[1]["created_by"] == "/bin/sh -c touch new"
    assert run(svc.inspect("child:v2")).id == child.id
    snapshots.prepare("check", child.top_layer)
    files = sorted(p.name for p in snapshots.upper_dir("check").iterdir())
    assert files == ["keep", "new"]


def test_config_only_commit_is_an_empty_layer(tmp_path: Path) -> None:
    svc = make_service(tmp_path / "store")
    run(svc.open())
    base = run(svc.import_(small_tar(tmp_path / "b.tar", {"f": "x"}), repo="base", tag=None, changes=[],
                           message="", platform=None))
    child = run(svc.commit(base, None, CommitOptions(config={"Env": ["A=1"]}, created_by="ENV A=1")))
    assert child.chain_ids == base.chain_ids
    assert child.config["history"][-1]["empty_layer"] is True
    assert child.repo_tags == ()


def test_failed_commit_leaves_the_store_as_it_was(tmp_path: Path) -> None:
    svc = make_service(tmp_path / "store")
    run(svc.open())
    base = run(svc.import_(small_tar(tmp_path / "b.tar", {"f": "x"}), repo="base", tag=None, changes=[],
                           message="", platform=None))
    before = store_state(tmp_path / "store")
    with pytest.raises(InvalidArgument):
        run(svc.commit(base, small_tar(tmp_path / "c.tar", {"g": "y"}), CommitOptions(config={}),
                       repo="Bad Name"))
    evil = tmp_path / "evil.tar"
    with tarfile.open(evil, "w") as tar:
        tar.addfile(tarfile.TarInfo("../escape"))
    with pytest.raises(InvalidArgument):
        run(svc.commit(base, evil, CommitOptions(config={})))
    assert store_state(tmp_path / "store") == before


def test_untagged_parents_are_listed_only_with_all(tmp_path: Path) -> None:
    svc = make_service(tmp_path / "store")
    run(svc.open())
    base = run(svc.import_(small_tar(tmp_path / "b.tar", {"f": "x"}), repo=None, tag=None, changes=[],
                           message="", platform=None))
    step = run(svc.commit(base, None, CommitOptions(config={"Env": ["A=1"]}, created_by="ENV A=1")))
    final = run(svc.commit(step, None, CommitOptions(config={"Cmd": ["sh"]}, created_by="CMD sh"),
                           repo="app", tag="v1"))
    assert [i.id for i in run(svc.list())] == [final.id]
    assert {i.id for i in run(svc.list(all=True))} == {base.id, step.id, final.id}
    # Once the child is gone (rmi --no-prune), the untagged parent is a plain dangling image again.
    run(svc.remove("app:v1", prune=False))
    assert step.id in [i.id for i in run(svc.list(filters={"dangling": ["true"]}))]

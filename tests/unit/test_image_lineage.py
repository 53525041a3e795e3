"""Image parents come from an index, not from comparing every image with every other.

A chain of config-only commits (as a long build makes) is listed and removed while counting how many
image configs the store parses: the old search read all of them for every parent question
(quadratic: about n² reads for the rmi below), the index reads each at most a few times.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_images_service import make_service, run, small_tar

from dockyard.core.images.commit import CommitOptions
from dockyard.core.images.model import Image
from dockyard.core.images.service import ImageService
from dockyard.core.images.store import ImageStore

CHAIN = 200


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[ImageService]:
    service = make_service(tmp_path / "root")
    run(service.open())
    yield service
    run(service.close())


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The IDs of the image configs the store parses, in order."""
    seen: list[str] = []
    original = ImageStore._image

    def counting(self: ImageStore, row: Any, **options: Any) -> Image:
        seen.append(row["id"])
        return original(self, row, **options)

    monkeypatch.setattr(ImageStore, "_image", counting)
    return seen


def _chain(svc: ImageService, tmp_path: Path, length: int) -> list[Image]:
    run(svc.import_(small_tar(tmp_path / "base.tar", {"f": "x"}), repo="base", tag="1", changes=[],
                    message="", platform=None))
    images = [svc.resolve("base:1")]
    for step in range(length):
        images.append(run(svc.commit(images[-1], None, CommitOptions(
            config={"Env": [f"STEP={step}"]}, created_by=f"ENV STEP={step}"))))
    run(svc.tag(images[-1].id, "tip", "latest"))
    return images


def test_list_hides_intermediates_reading_each_config_once(
        svc: ImageService, tmp_path: Path, reads: list[str]) -> None:
    _chain(svc, tmp_path, CHAIN)
    reads.clear()
    shown = run(svc.list())
    assert sorted(t for i in shown for t in i.repo_tags) == [
        "docker.io/library/base:1", "docker.io/library/tip:latest"]
    assert len(run(svc.list(all=True))) == CHAIN + 1
    assert len(reads) <= 2 * (CHAIN + 1), "each list reads each config once"
    assert all("history" not in i.config for i in shown), "a listing holds no histories"


def test_rmi_of_a_long_chain_deletes_untagged_parents_without_rereading(
        svc: ImageService, tmp_path: Path, reads: list[str]) -> None:
    images = _chain(svc, tmp_path, CHAIN)
    reads.clear()
    records = run(svc.remove("tip"))
    deleted = {r["Deleted"] for r in records if "Deleted" in r}
    # Every untagged step goes with the tip; the tagged base stays.
    assert {i.id for i in images[1:]} <= deleted
    assert images[0].id not in deleted and svc.resolve("base:1").id == images[0].id
    assert len(reads) < 10 * CHAIN, f"{len(reads)} config reads for {CHAIN} parents"


def test_removing_a_middle_image_moves_its_children_to_its_parent(
        svc: ImageService, tmp_path: Path) -> None:
    images = _chain(svc, tmp_path, 3)
    store = svc._store  # the relation itself, as docker rmi's parent walk reads it
    assert [store.parent_of(i.id) for i in images] == [None, *(i.id for i in images[:-1])]
    store.delete_image(images[2].id)
    assert store.parent_of(images[3].id) == images[1].id
    # Untagged and still a parent: hidden from `docker images`, shown with -a.
    assert images[1].id not in {i.id for i in run(svc.list())}
    assert images[1].id in {i.id for i in run(svc.list(all=True))}


def test_an_existing_store_gets_its_parents_indexed_at_open(svc: ImageService, tmp_path: Path) -> None:
    images = _chain(svc, tmp_path, 5)
    store = svc._store
    # A store written before the columns existed: nothing indexed.
    store._db.execute("UPDATE images SET history_key = NULL, history_len = NULL, parent = NULL")
    assert store.parent_ids() == set()
    store.ensure_schema()
    assert store.parent_ids() == {i.id for i in images[:-1]}
    assert store.parent_of(images[-1].id) == images[-2].id


def test_a_base_added_after_its_child_becomes_the_childs_parent(svc: ImageService, tmp_path: Path) -> None:
    images = _chain(svc, tmp_path, 2)
    store = svc._store
    row = store._db.query_one("SELECT config, chain_ids FROM images WHERE id = ?", (images[1].id,))
    assert row is not None
    store.delete_image(images[1].id)
    assert store.parent_of(images[2].id) == images[0].id
    # Loaded back later (as `docker load` of the middle image would): it sits between them again.
    store.add_image(images[1].id, row["config"].encode(), [store.layer(c) for c in images[1].chain_ids
                                                            if store.layer(c) is not None], [])
    assert store.parent_of(images[2].id) == images[1].id
    assert store.parent_of(images[1].id) == images[0].id


def test_history_names_each_step_reading_one_config(svc: ImageService, tmp_path: Path,
                                                    reads: list[str]) -> None:
    images = _chain(svc, tmp_path, CHAIN)
    run(svc.tag(images[CHAIN // 2].id, "middle", "v1"))
    reads.clear()
    rows = run(svc.history("tip"))
    # Only the image asked about is read: each parent's row comes from the parent index.
    assert reads == [images[-1].id]
    assert [r["Id"] for r in rows] == [i.id for i in reversed(images)]
    assert rows[0]["Tags"] == ["tip:latest"] and rows[-1]["Tags"] == ["base:1"]
    assert rows[CHAIN - CHAIN // 2]["Tags"] == ["middle:v1"]
    assert rows[1]["Tags"] is None and rows[1]["CreatedBy"] == f"ENV STEP={CHAIN - 2}"

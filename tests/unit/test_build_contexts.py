"""The kept build contexts: reuse, what a failed unpack leaves, eviction, prune."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from dockyard.core.builder import contexts
from dockyard.core.builder.contexts import ContextCache


def _filler(calls: list[Path], text: str = "FROM busybox\n"):  # type: ignore[no-untyped-def]
    async def fill(root: Path) -> str:
        calls.append(root)
        (root / "f").write_text("x")
        return text
    return fill


def test_the_same_key_reuses_the_unpacked_context_and_its_digests(tmp_path: Path) -> None:
    async def go() -> None:
        cache, calls = ContextCache(tmp_path), []
        async with cache.use(("d1", "Dockerfile"), 10, _filler(calls)) as first:
            pass
        async with cache.use(("d1", "Dockerfile"), 10, _filler(calls)) as second:
            assert second is first and second.context is first.context
            assert (second.root / "f").read_text() == "x"
        assert len(calls) == 1
        async with cache.use(("d1", "other.Dockerfile"), 10, _filler(calls)) as third:
            assert third.root != first.root
        assert len(calls) == 2
    asyncio.run(go())


def test_a_failed_fill_leaves_nothing(tmp_path: Path) -> None:
    async def go() -> None:
        cache = ContextCache(tmp_path)

        async def bad(root: Path) -> str:
            (root / "half").write_text("x")
            raise ValueError("bad tar")
        with pytest.raises(ValueError):
            async with cache.use(("d", "Dockerfile"), 10, bad):
                pass
        await cache.drain()
        assert list(tmp_path.iterdir()) == []
        calls: list[Path] = []
        async with cache.use(("d", "Dockerfile"), 10, _filler(calls)):
            pass
        assert len(calls) == 1  # the failure was not kept
    asyncio.run(go())


def test_uncached_and_too_big_contexts_go_after_their_build(tmp_path: Path) -> None:
    async def go() -> None:
        cache, calls = ContextCache(tmp_path), []
        async with cache.use(None, 10, _filler(calls)) as one:
            assert one.root.is_dir()
        async with cache.use(("big", "Dockerfile"), contexts.MAX_BYTES + 1, _filler(calls)) as two:
            assert two.root.is_dir()
        await cache.drain()
        assert not one.root.exists() and not two.root.exists()
        async with cache.use(("big", "Dockerfile"), contexts.MAX_BYTES + 1, _filler(calls)):
            pass
        assert len(calls) == 3
    asyncio.run(go())


def test_idle_entries_are_evicted_oldest_first_but_never_one_in_use(tmp_path: Path) -> None:
    async def go() -> None:
        cache, calls = ContextCache(tmp_path), []
        async with cache.use(("a", "D"), 1, _filler(calls)) as a:
            for name in "bcd":  # more than MAX_ENTRIES while "a" is in use
                async with cache.use((name, "D"), 1, _filler(calls)):
                    pass
            await cache.drain()
            assert a.root.is_dir()
        async with cache.use(("e", "D"), 1, _filler(calls)):
            pass
        await cache.drain()
        kept = sorted(p.name for p in tmp_path.iterdir())
        assert len(kept) == contexts.MAX_ENTRIES
        assert not a.root.exists()  # the oldest idle one went once it was idle
    asyncio.run(go())


def test_clear_drops_idle_entries_and_those_in_use_when_their_build_ends(tmp_path: Path) -> None:
    async def go() -> None:
        cache, calls = ContextCache(tmp_path), []
        async with cache.use(("idle", "D"), 1, _filler(calls)) as idle:
            pass
        async with cache.use(("busy", "D"), 1, _filler(calls)) as busy:
            cache.clear()
            await cache.drain()
            assert not idle.root.exists() and busy.root.is_dir()
        await cache.drain()
        assert list(tmp_path.iterdir()) == []
    asyncio.run(go())

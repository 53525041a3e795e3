"""The builder service: ``docker build`` (dockerd's classic builder semantics) and ``builder prune``.

context tar → unpack, ``.dockerignore`` → parse the Dockerfile → only the stages the target needs,
independent ones concurrently → each step through the cache or executed → tag the result.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

from dockyard.config import DaemonConfig
from dockyard.core.builder import context as build_context
from dockyard.core.builder.cache import BuildCache
from dockyard.core.builder.contexts import ContextCache
from dockyard.core.builder.dockerfile import Dockerfile, Instruction, Stage, parse
from dockyard.core.builder.instructions import PROXY_ARGS, StageState, set_env
from dockyard.core.builder.model import BuildOptions, BuildResult, Emit
from dockyard.core.builder.mounts import CacheDirs, stage_refs
from dockyard.core.builder.ordering import OrderedOutput, step_offsets
from dockyard.core.builder.shell import expand
from dockyard.core.builder.solver import Images, Solver, StageRun, cleanup
from dockyard.core.builder.steps import Containers, StepRunner
from dockyard.core.downloads import Fetcher
from dockyard.core.images import platform as image_platform
from dockyard.core.images.model import Image
from dockyard.core.images.reference import parse_repository
from dockyard.core.layers.snapshots import Mounter, Snapshotter
from dockyard.core.metadata import Metadata
from dockyard.core.rootfs.root import Root
from dockyard.core.system import go_arch
from dockyard.errors import DockyardError, InvalidArgument, NotFound

log = logging.getLogger(__name__)

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class Taggable(Images, Protocol):
    async def tag(self, ref: str, repo: str, tag: str | None) -> None: ...
    async def remove(self, ref: str, *, force: bool = False, prune: bool = True) -> list[dict[str, str]]: ...
    async def history(self, ref: str) -> list[dict[str, Any]]: ...


class BuilderService:
    def __init__(self, *, config: DaemonConfig, db: Metadata, images: Taggable, containers: Containers,
                 snapshotter: Snapshotter, mounter: Mounter, fetcher: Fetcher | None = None) -> None:
        self._config = config
        self._images = images
        self._cache = BuildCache(db)
        self._caches = CacheDirs(config.data_root / "builder" / "cache")
        self._contexts = ContextCache(config.tmp_dir / "build-contexts")
        self._fetcher = fetcher
        self._opened = False
        self._cleanups: set[asyncio.Task[None]] = set()  # scratch dirs being deleted after replies
        self._steps = StepRunner(config=config, containers=containers, snapshotter=snapshotter,
                                 mounter=mounter)

    async def open(self) -> None:
        """Create the cache table; also done on first use, so the daemon need not call it."""
        if not self._opened:
            self._cache.ensure_schema()
            self._opened = True

    async def build(self, context_tar: Path, options: BuildOptions, emit: Emit, *,
                    on_built: Callable[[str], Awaitable[None]] | None = None,
                    context_digest: str | None = None) -> BuildResult:
        """Build; ``emit`` receives Docker's stream text, ``on_built`` the image ID before the
        success lines (the classic builder's ``aux`` message). Errors raise (nothing half-made is
        kept: every committed step is a complete image, reused by the next build's cache).
        ``context_digest``, the sha256 of ``context_tar`` when the caller took it, lets a build of
        the same context reuse its unpacked copy (:mod:`dockyard.core.builder.contexts`)."""
        await self.open()
        for tag in options.tags:
            parse_repository(*_split_tag(tag))  # a bad -t fails before any work
        given = options.dockerfile_text

        async def fill(root: Path) -> str:
            await asyncio.to_thread(build_context.extract, context_tar, root, self._config.max_unpack_size)
            text = ""
            if given is None:
                text = await asyncio.to_thread(_read_dockerfile, root, options.dockerfile)
            await asyncio.to_thread(build_context.apply_dockerignore, root, options.dockerfile)
            return text

        # The Dockerfile's name is in the key: it decides which file is read and what .dockerignore
        # removes. A Dockerfile given as text is not the context's: such builds keep nothing.
        key = (context_digest, options.dockerfile) if context_digest and given is None else None
        work = self._steps.scratch_dir()
        try:
            async with self._contexts.use(key, context_tar.stat().st_size, fill) as unpacked:
                dockerfile = parse(unpacked.dockerfile_text if given is None else given, options.dockerfile)
                quiet_emit = _quiet if options.quiet else emit
                image = await self._solve(dockerfile, unpacked.context, work, options, quiet_emit)
        finally:
            self._discard(work)
        if image is None:
            raise InvalidArgument("no image was built: the target stage is FROM scratch with no steps")
        if on_built is not None:
            await on_built(image.id)
        return await self._finish(image, options, emit)

    def _discard(self, work: Path) -> None:
        """Remove a build's scratch directory (its context copy) after the reply, not before: a
        rename takes it out of the way now, a worker thread deletes it (the daemon's start cleans
        the tmp dir of whatever a crash left)."""
        trash = work.with_name(f".trash-{work.name}")
        try:
            os.rename(work, trash)
        except OSError:
            trash = work
        task = asyncio.get_running_loop().create_task(asyncio.to_thread(cleanup, trash))
        self._cleanups.add(task)
        task.add_done_callback(self._cleanups.discard)

    async def _finish(self, image: Image, options: BuildOptions, emit: Emit) -> BuildResult:
        if options.quiet:
            await emit(f"{image.id}\n")
        else:
            await emit(f"Successfully built {image.id[7:19]}\n")
        for tag in options.tags:
            repo, name = _split_tag(tag)
            await self._images.tag(image.id, repo, name)
            if not options.quiet:
                shown = tag if ":" in tag.rsplit("/", 1)[-1] else tag + ":latest"
                await emit(f"Successfully tagged {shown}\n")
        return BuildResult(image.id, options.tags)

    async def _solve(self, dockerfile: Dockerfile, ctx: build_context.Context, work: Path,
                     options: BuildOptions, emit: Emit) -> Image | None:
        build_args = {k: v for k, v in options.build_args.items() if v is not None}
        meta = _meta_args(dockerfile.meta_args, build_args, dockerfile.escape, options.platform)
        target = _target_index(dockerfile, options.target)
        needed = _needed(dockerfile, target, meta)
        # Each --label is one more step, a LABEL at the end of the target stage (the classic builder's).
        counts = {i: 1 + len(dockerfile.stages[i].instructions) + (len(options.labels) if i == target else 0)
                  for i in needed}
        total = sum(counts.values())
        offsets = step_offsets(counts)
        output = OrderedOutput(emit, sorted(needed))
        solver = Solver(images=self._images, cache=self._cache, steps=self._steps, context=ctx,
                        fetcher=self._fetcher, build_args=build_args, meta_args=meta, caches=self._caches,
                        secrets=options.secrets)
        solver.cache_from = await self._cache_from(options.cache_from, emit)
        solver.run_host, solver.keep_containers = dict(options.run_host), not options.remove
        solver.cache_from_only = bool(options.cache_from)
        results: dict[int, asyncio.Future[Image | None]] = {
            i: asyncio.get_running_loop().create_future() for i in needed}
        used: set[str] = set()

        async def stage_task(index: int) -> None:
            stage = dockerfile.stages[index]
            try:
                body = list(stage.instructions)
                if index == target and options.labels:
                    body += _labels_instructions(options.labels)
                run = await self._from(stage, dockerfile, meta, results, output.emitter(index),
                                       itertools.count(offsets[index]), total, work, options)
                results[index].set_result(await solver.run_stage(run, body))
                used.update(run.used_args)
            except BaseException as exc:
                results[index].set_exception(exc)
                raise
            await output.finish(index)

        tasks = [asyncio.create_task(stage_task(i)) for i in needed]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await output.flush_all()
            raise
        finally:
            for future in results.values():
                if future.done() and not future.cancelled():
                    future.exception()  # consumed: a sibling's failure is reported once
        unused = sorted(set(build_args) - used - set(meta) - PROXY_ARGS)
        if unused:
            await emit(f"[Warning] One or more build-args [{' '.join(unused)}] were not consumed\n")
        return results[target].result()

    async def _cache_from(self, refs: tuple[str, ...], emit: Emit) -> list[Image]:
        """The ``--cache-from`` images present here; a missing one is skipped, as dockerd does."""
        found: list[Image] = []
        for ref in refs:
            try:
                found.append(await self._images.inspect(ref))
            except NotFound:
                log.info("cache-from image %s not found; ignored", ref)
        return found

    async def _from(self, stage: Stage, dockerfile: Dockerfile, meta: dict[str, str],
                    results: dict[int, asyncio.Future[Image | None]], emit: Emit,
                    numbers: itertools.count[int], total: int, work: Path, options: BuildOptions) -> StageRun:
        def counter() -> str:
            return f"Step {next(numbers)}/{total}"

        base_name = expand(stage.base, meta, dockerfile.escape)
        await emit(f"{counter()} : FROM {base_name}{' AS ' + stage.name if stage.name else ''}\n")
        other = _stage_index(dockerfile, base_name, stage.index)
        image: Image | None
        if other is not None:
            image = await results[other]
        elif base_name.lower() == "scratch":
            image = None
        else:
            image = await self._images.inspect(base_name)
            wanted = expand(stage.platform, meta, dockerfile.escape) or options.platform
            image_platform.check(image, base_name, wanted)
        if image is not None:
            await emit(f" ---> {image.id[7:19]}\n")
        config: dict[str, Any] = dict(image.container_config) if image else {}
        if not any(e.startswith("PATH=") for e in config.get("Env") or []):
            set_env(config, "PATH", DEFAULT_PATH[5:])

        async def stage_image(ref: str) -> Image | None:
            found = _stage_index(dockerfile, ref, stage.index)
            if found is not None:
                return await results[found]
            return await self._images.inspect(ref)

        state = StageState(config=config, escape=dockerfile.escape)
        run = StageRun(image=image, key=image.id if image else "scratch", state=state, work=work,
                       no_cache=options.no_cache, network=options.network_mode, emit=emit,
                       stage_image=stage_image, counter=counter)
        triggers = list(config.pop("OnBuild", None) or [])
        if triggers:
            await emit(f"# Executing {len(triggers)} build trigger{'s' if len(triggers) > 1 else ''}\n")
            config["OnBuild"] = None
            run.state.config = config
            trigger_file = parse("FROM scratch\n" + "\n".join(triggers))
            stage.instructions[:0] = trigger_file.stages[0].instructions
        return run

    async def prune(self) -> tuple[list[str], int]:
        """``docker builder prune``: forget every cache record, delete the untagged images only the
        cache kept and the idle ``RUN --mount=type=cache`` directories. Returns (cache IDs removed,
        bytes reclaimed: the layers deleted and the cache directories' blocks)."""
        await self.open()
        ids = self._cache.image_ids()
        self._cache.clear()
        removed: list[str] = []
        reclaimed = 0
        for image_id in reversed(ids):
            with contextlib.suppress(DockyardError):
                image = await self._images.inspect(image_id)
                if image.repo_tags:
                    continue
                sizes = await self._layer_sizes(image)
                records = await self._images.remove(image_id, prune=False)
                reclaimed += sum(sizes.get(r.get("Deleted", ""), 0) for r in records)
                removed.append(image_id)
        self._contexts.clear()
        freed = await asyncio.to_thread(self._caches.clear)
        if freed:
            removed.append("cache-mounts")
        return removed, reclaimed + freed

    async def _layer_sizes(self, image: Image) -> dict[str, int]:
        """Chain ID -> size of each layer of ``image`` (what deleting that layer frees)."""
        history = [h for h in reversed(await self._images.history(image.id)) if h.get("Size")]
        return {chain: int(h["Size"]) for chain, h in zip(image.chain_ids, history, strict=False)}


async def _quiet(text: str) -> None:
    return None


def _split_tag(tag: str) -> tuple[str, str | None]:
    name, sep, value = tag.rpartition(":")
    if sep and "/" not in value:
        return name, value
    return tag, None


def _read_dockerfile(root: Path, name: str) -> str:
    """The Dockerfile, looked up inside the context (a symlinked one is followed there only)."""
    missing = NotFound(f"Cannot locate specified Dockerfile: {name}")
    try:
        with Root.at(root) as tree:
            fd = tree.open(name, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError as exc:
        raise missing from exc
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise missing  # a directory, a FIFO or a device node is no Dockerfile
        return f.read().decode()


def _meta_args(args: list[Instruction], given: dict[str, str], escape: str, platform: str) -> dict[str, str]:
    arch = go_arch()
    target = platform or f"linux/{arch}"
    os_name, _, rest = target.partition("/")
    values = {"TARGETPLATFORM": target, "TARGETOS": os_name, "TARGETARCH": rest.split("/")[0] or arch,
              "BUILDPLATFORM": f"linux/{arch}", "BUILDOS": "linux", "BUILDARCH": arch}
    for ins in args:
        for item in ins.args:
            name, eq, default = item.partition("=")
            if name in given:
                values[name] = given[name]
            elif eq:
                values[name] = expand(default, values, escape)
    return values


def _target_index(dockerfile: Dockerfile, target: str) -> int:
    if not target:
        return len(dockerfile.stages) - 1
    for stage in dockerfile.stages:
        if stage.name == target.lower():
            return stage.index
    raise InvalidArgument(f"failed to reach build target {target} in Dockerfile")


def _stage_index(dockerfile: Dockerfile, ref: str, before: int) -> int | None:
    for stage in dockerfile.stages[:before]:
        if stage.name and stage.name == ref.lower():
            return stage.index
    if ref.isdigit() and int(ref) < before:
        return int(ref)
    return None


def _needed(dockerfile: Dockerfile, target: int, meta: dict[str, str]) -> list[int]:
    """The stages ``target`` depends on (FROM a stage, COPY --from), itself included, in order."""
    seen: set[int] = set()
    pending = [target]
    while pending:
        index = pending.pop()
        if index in seen:
            continue
        seen.add(index)
        stage = dockerfile.stages[index]
        refs = [expand(stage.base, meta, dockerfile.escape)]
        refs += [v for ins in stage.instructions for v in ins.flag_all("from")]
        refs += [v for ins in stage.instructions for v in stage_refs(ins.flag_all("mount"))]
        for ref in refs:
            found = _stage_index(dockerfile, ref, index)
            if found is not None:
                pending.append(found)
    return sorted(seen)


def _labels_instructions(labels: dict[str, str]) -> list[Instruction]:
    """One ``LABEL k=v`` per label in key order, echoed as written, as moby's buildLabelOptions;
    the words are quoted so that nothing in a value expands."""
    return [Instruction("LABEL", (_quoted(key), _quoted(labels[key])), (), False, 0,
                        f"LABEL {key}={labels[key]}") for key in sorted(labels)]


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"

"""Running one stage: each instruction becomes an image through a cache lookup or execution.

A step's key is :func:`cache_key` of the previous key (the base image ID for the first step),
the instruction after substitution and what it reads (file digests, the run environment). A hit
reuses the recorded image; a miss runs the step and commits its layer (or only the config).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import posixpath
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from dockyard.core.builder import cachefrom, instructions
from dockyard.core.builder.cache import BuildCache, cache_key
from dockyard.core.builder.context import Context
from dockyard.core.builder.dockerfile import Instruction
from dockyard.core.builder.files import CopyOptions, copy_sources, dest_path, is_dir, write_file
from dockyard.core.builder.instructions import StageState
from dockyard.core.builder.model import Emit
from dockyard.core.builder.mounts import CacheDirs, MountSources, RunMount, parse_mount
from dockyard.core.builder.mounts import resolve as resolve_mounts
from dockyard.core.builder.shell import expand_heredoc
from dockyard.core.builder.source import Source, glob
from dockyard.core.builder.steps import StepRunner
from dockyard.core.downloads import Fetcher
from dockyard.core.images.commit import CommitOptions
from dockyard.core.images.model import Image
from dockyard.core.layers.diff import LayerTar
from dockyard.core.runtime.users import resolve_user
from dockyard.errors import DockyardError, InvalidArgument, NotFound, Unimplemented

log = logging.getLogger(__name__)

CONFIG_ONLY = frozenset({"ENV", "LABEL", "CMD", "ENTRYPOINT", "EXPOSE", "VOLUME", "USER", "STOPSIGNAL",
                         "HEALTHCHECK", "SHELL", "ONBUILD", "MAINTAINER"})


class Images(Protocol):
    async def inspect(self, ref: str) -> Image: ...
    async def commit(self, parent: Image | None, layer_tar: Path | None, options: CommitOptions, *,
                     repo: str | None = None, tag: str | None = None,
                     snapshot: str | None = None, diff_id: str | None = None) -> Image: ...


StageLookup = Callable[[str], Awaitable[Image | None]]  # COPY --from: a stage's result, or raise


@dataclass(slots=True)
class StageRun:
    """One stage's progress: the image reached so far and the key that leads to it."""

    image: Image | None
    key: str
    state: StageState
    work: Path
    no_cache: bool
    network: str
    emit: Emit
    stage_image: StageLookup
    counter: Callable[[], str]  # "Step 3/9"
    used_args: set[str] = field(default_factory=set)


class Solver:
    def __init__(self, *, images: Images, cache: BuildCache, steps: StepRunner, context: Context,
                 fetcher: Fetcher | None, build_args: dict[str, str], meta_args: dict[str, str],
                 caches: CacheDirs, secrets: dict[str, bytes]) -> None:
        self.build_args = build_args  # --build-arg values given (None values already dropped)
        self.meta_args = meta_args  # ARGs before the first FROM, with their values
        self._images = images
        self._cache = cache
        self._steps = steps
        self._context = context
        self._fetcher = fetcher
        self._caches = caches
        self.cache_from: list[Image] = []  # --cache-from images found locally
        self.run_host: dict[str, Any] = {}  # HostConfig settings of every RUN container
        self.keep_containers = False  # --rm=false
        self.cache_from_only = False  # --cache-from given: the local cache is not consulted
        self._secrets = secrets

    async def run_stage(self, run: StageRun, body: list[Instruction]) -> Image | None:
        for ins in body:
            await run.emit(f"{run.counter()} : {ins.original.splitlines()[0]}\n")
            try:
                await self._step(run, ins)
            except DockyardError as exc:
                if getattr(exc, "code", None) is not None:
                    raise
                raise type(exc)(f"Dockerfile:{ins.line}: {ins.cmd}: {exc}") from exc
        return run.image

    async def _step(self, run: StageRun, ins: Instruction) -> None:
        if ins.cmd == "ARG":
            text = self._arg(run, ins)  # a step of its own in dockerd's history, as other config
            await self._commit_cached(run, text, None, None, instructions.history_text(text, run.state.shell))
            return
        if ins.cmd in CONFIG_ONLY:
            text = instructions.apply(ins, run.state)
            await self._commit_cached(run, text, None, None, instructions.history_text(text, run.state.shell))
            return
        if ins.cmd == "WORKDIR":
            text = instructions.apply(ins, run.state)
            path = run.state.config["WorkingDir"]
            await self._commit_cached(run, text, None, lambda root: _mkdir(root, path),
                                      instructions.history_text(text, run.state.shell, joined=True))
            return
        if ins.cmd == "RUN":
            await self._run(run, ins)
            return
        await self._copy(run, ins)

    def _arg(self, run: StageRun, ins: Instruction) -> str:
        """Declare the arguments; moby's commit text (``ARG A B=two``: defaults, never the values
        given with --build-arg, so those do not change the step's image)."""
        shown = []
        for item in ins.args:
            name, eq, default = item.partition("=")
            shown.append(f"{name}={run.state.word(default)}" if eq else name)
            value = run.state.args.get(name) if not eq else None
            provided = self.build_args.get(name)
            if provided is not None:
                run.state.args[name] = provided
                run.used_args.add(name)
            elif eq:
                run.state.args[name] = run.state.word(default)
            elif name in self.meta_args:
                run.state.args[name] = self.meta_args[name]
            elif value is not None:
                run.state.args[name] = value
        return "ARG " + " ".join(shown)

    async def _commit_cached(self, run: StageRun, text: str, extra: Any,
                             work: Callable[[Path], None] | None, created_by: str) -> None:
        config = dict(run.state.config)
        key = cache_key(run.key, text, {"config": config, "extra": extra})
        if await self._hit(run, key, created_by):
            return
        if work is None:
            await self._commit(run, key, None, created_by)
            return
        dest = run.work / f"{key[7:]}.tar"
        layer, snapshot = await asyncio.to_thread(self._steps.fs_step, run.image, work, dest)
        try:
            # The step's snapshot already holds the layer's files on the parent: it becomes the
            # layer's snapshot, so the layer is not unpacked again.
            await self._commit(run, key, layer, created_by, snapshot=snapshot)
        finally:
            await asyncio.to_thread(self._steps.discard, snapshot)

    async def _hit(self, run: StageRun, key: str, created_by: str) -> bool:
        run.key = key
        if run.no_cache:
            return False  # --no-cache wins over the local cache and --cache-from alike
        # As the classic builder: with --cache-from, only those images' layers are candidates.
        image_id = None if self.cache_from_only else self._cache.get(key)
        if image_id is None:
            log.debug("[BUILDER] Cache miss: %s", key)
            return await self._hit_cache_from(run, key, created_by)
        try:
            image = await self._images.inspect(image_id)
        except NotFound:
            self._cache.drop(key)
            return False
        run.image = image
        await run.emit(f" ---> Using cache\n ---> {image.id[7:19]}\n")
        return True

    async def _hit_cache_from(self, run: StageRun, key: str, created_by: str) -> bool:
        found = cachefrom.match(run.image, self.cache_from, created_by)
        if found is None:
            return False
        log.debug("[BUILDER] Cache hit from --cache-from: %s", key)
        await self._commit_restored(run, key, found)
        return True

    async def _commit_restored(self, run: StageRun, key: str, found: cachefrom.Restored) -> None:
        """The step's image from layers already stored: the parent's history plus ``found.entry``."""
        options = CommitOptions(config=dict(run.state.config), created_by=str(found.entry.get("created_by")),
                                created=str(found.entry.get("created") or ""),
                                extra={"history": [*(run.image.config.get("history") or [] if run.image
                                                     else []), found.entry],
                                       "rootfs": {"type": "layers", "diff_ids": found.diff_ids}})
        image = await self._images.commit(run.image, None, options)
        self._cache.put(key, image.id)
        run.image = image
        await run.emit(f" ---> Using cache\n ---> {image.id[7:19]}\n")

    async def _commit(self, run: StageRun, key: str, layer: LayerTar | None, created_by: str, *,
                      snapshot: str | None = None,
                      before_id: Callable[[], Awaitable[None]] | None = None) -> None:
        options = CommitOptions(config=dict(run.state.config), created_by=created_by)
        try:
            image = await self._images.commit(run.image, layer.path if layer else None, options,
                                              snapshot=snapshot, diff_id=layer.diff_id if layer else None)
        finally:
            if layer is not None:
                layer.path.unlink(missing_ok=True)
        self._cache.put(key, image.id)
        run.image = image
        if before_id is not None:
            await before_id()  # the classic builder's "Removed intermediate container" comes first
        await run.emit(f" ---> {image.id[7:19]}\n")

    # ---- RUN ----
    async def _run(self, run: StageRun, ins: Instruction) -> None:
        state = run.state
        argv = _run_argv(ins, state)
        workdir = state.config.get("WorkingDir") or ""
        mounts = [parse_mount(state.word(m), workdir) for m in ins.flag_all("mount")]
        network = ins.flag("network") or ""
        if network not in ("", "default", "none", "host"):
            raise InvalidArgument(f"unsupported network mode {network!r}: use default, none or host")
        args = {k: v for k, v in state.args.items() if k not in _env_keys(state.config)}
        env = [*(state.config.get("Env") or []), *(f"{k}={v}" for k, v in sorted(args.items()))]
        shown = " ".join(argv)
        created_by = (f"|{len(args)} " + " ".join(f"{k}={v}" for k, v in sorted(args.items())) + " "
                      if args else "") + shown
        inputs = await self._mount_inputs(run, mounts)
        key = cache_key(run.key, created_by, {"config": state.config, "network": network or None,
                                              **({"mounts": inputs} if mounts else {})})
        if await self._hit(run, key, created_by):
            return
        if run.image is None:
            raise InvalidArgument("no such file or directory: RUN needs a shell in the image (FROM scratch)")
        dest = run.work / f"{key[7:]}.tar"
        async with contextlib.AsyncExitStack() as stack:
            host_mounts = await resolve_mounts(mounts, self._mount_sources(run, stack), stack)
            result = await self._steps.run(run.image, argv, env=env, workdir=workdir,
                                          user=state.config.get("User") or "",
                                          network=run.network if network in ("", "default") else network,
                                          shown=shown, emit=run.emit, layer_dest=dest, mounts=host_mounts,
                                          host=self.run_host, keep=self.keep_containers)
        try:
            await self._commit(run, key, result.layer, created_by, snapshot=result.snapshot,
                               before_id=result.done)
        except BaseException:
            await result.done()
            raise

    async def _mount_inputs(self, run: StageRun, mounts: list[RunMount]) -> list[Any]:
        """Each mount's part of the cache key: what a bind reads (content digest or image ID)."""
        inputs: list[Any] = []
        for mount in mounts:
            digest: str | None = None
            if mount.type == "bind" and mount.from_:
                image = await run.stage_image(mount.from_)
                digest = image.id if image else "scratch"
            elif mount.type == "bind":
                found = await asyncio.to_thread(self._context.find, mount.source or "/")
                digest = await asyncio.to_thread(self._context.digest, found) if found else None
            inputs.append([*mount.cache_part(), digest])
        return inputs

    def _mount_sources(self, run: StageRun, stack: contextlib.AsyncExitStack) -> MountSources:
        mounted = contextlib.ExitStack()
        stack.push_async_callback(asyncio.to_thread, mounted.close)

        async def mount_image(image: Image | None) -> Path:
            return await asyncio.to_thread(mounted.enter_context, self._steps.mounted_image(image))

        async def bind(source: Source) -> Path:
            return await asyncio.to_thread(mounted.enter_context, self._steps.bound(source))

        return MountSources(context=self._context, caches=self._caches, secrets=self._secrets,
                            scratch=run.work, stage_image=run.stage_image, mount_image=mount_image,
                            bind=bind)

    # ---- COPY / ADD ----
    async def _copy(self, run: StageRun, ins: Instruction) -> None:
        state = run.state
        words = [state.word(a) for a in ins.args]
        dest = dest_path(words[-1], state.config.get("WorkingDir") or "/")
        chmod = ins.flag("chmod")
        mode = int(state.word(chmod), 8) if chmod else None
        chown = state.word(ins.flag("chown") or "")
        source_from = state.word(ins.flag("from") or "")
        parents = ins.flag("parents") in ("true", "")
        heredocs = _heredocs(ins, state)
        exclude = tuple(state.word(e) for e in ins.flag_all("exclude"))
        link = ins.flag("link") in ("true", "")
        names = [w for w in words[:-1]
                 if not (w.startswith("<<") and w.lstrip("<-").strip("'\"") in heredocs)]
        urls = [n for n in names if n.startswith(("http://", "https://"))] if ins.cmd == "ADD" else []
        digests: list[Any] = [["heredoc", n, c] for n, c in heredocs.items()]
        fetched = await self._fetch(run, urls)
        digests += [["url", u, d] for u, (d, _) in fetched.items()]
        local = [n for n in names if n not in urls]
        from_image: Image | None = None
        if source_from:
            from_image = await run.stage_image(source_from)
            digests.append(["from", from_image.id if from_image else "scratch", local])
            sources: list[Source] = []
        else:
            sources = await asyncio.to_thread(lambda: [s for n in local for s in self._context.glob(n)])
            digests += await asyncio.to_thread(
                lambda: [[s.path.lstrip("/") or ".", self._context.digest(s)] for s in sources])
        shown = [*names, *(f"<<{n}" for n in heredocs)]
        text = f"{ins.cmd} {'--chown=' + chown + ' ' if chown else ''}" \
               f"{'--chmod=' + chmod + ' ' if chmod else ''}" \
               f"{'--from=' + source_from + ' ' if source_from else ''}" \
               f"{''.join(f'--exclude={e} ' for e in exclude)}{'--parents ' if parents else ''}" \
               f"{' '.join(shown)} {dest}"
        count = len(local) + len(urls) + len(heredocs)

        def work(rootfs: Path) -> None:
            owner = _owner(rootfs, chown) if chown else None
            options = CopyOptions(owner=owner, mode=mode, extract=ins.cmd == "ADD" and not source_from,
                                  parents=parents and not source_from,
                                  exclude=exclude)
            if count > 1 and not dest.endswith("/"):
                from dockyard.core.builder.files import MULTI_SOURCE_ERROR
                raise InvalidArgument(MULTI_SOURCE_ERROR)
            target_dir = dest.endswith("/") or is_dir(rootfs, dest)
            for name, content in heredocs.items():
                out = posixpath.join(dest, name) if target_dir else dest
                write_file(rootfs, content.encode(), out, options)
            for url, (_, path) in fetched.items():
                out = posixpath.join(dest, _url_name(url)) if target_dir else dest
                write_file(rootfs, path.read_bytes(), out, options, mode=0o600)
            if from_image is not None or source_from:
                with self._steps.mounted_image(from_image) as other:
                    found = [s for n in local for s in glob(other, n)]
                    copy_sources(rootfs, found, dest, options)
            elif sources:
                copy_sources(rootfs, sources, dest, options)

        kind = "multi" if count > 1 else "dir" if len(sources) == 1 and sources[0].is_dir() else "file"
        # moby: the --chown flag written against the source hash, and a space at the end.
        created_by = instructions.history_text(
            f"{ins.cmd} {'--chown=' + chown if chown else ''}{kind}:{cache_key('', text, digests)[7:]} "
            f"in {dest} ", run.state.shell, joined=True)
        if link:
            await self._copy_linked(run, text, digests, work, created_by)
        else:
            await self._commit_cached(run, text, digests, work, created_by)

    async def _copy_linked(self, run: StageRun, text: str, digests: Any, work: Callable[[Path], None],
                           created_by: str) -> None:
        """COPY --link: the layer is made on an empty root, so it is cached under a key that does
        not depend on the parent; a new parent reuses it without copying again (BuildKit's rebase)."""
        key = cache_key(run.key, text, {"config": dict(run.state.config), "extra": digests})
        if await self._hit(run, key, created_by):
            return
        link_key = cache_key("link", text, digests)
        linked = None if run.no_cache else self._cache.get(link_key)
        source = None
        if linked is not None:
            with contextlib.suppress(NotFound):
                source = await self._images.inspect(linked)
        entry = ((source.config.get("history") or [{}])[-1]) if source else {}
        if source is not None and not entry.get("empty_layer") and source.config["rootfs"]["diff_ids"]:
            parent_layers = list((run.image.config.get("rootfs") or {}).get("diff_ids") or []
                                 if run.image else [])
            restored = cachefrom.Restored(dict(entry), [*parent_layers,
                                                         source.config["rootfs"]["diff_ids"][-1]])
            await self._commit_restored(run, key, restored)
            return
        # COPY --link: the snapshot is on no parent, so it cannot be the layer's over run.image.
        layer, snapshot = await asyncio.to_thread(self._steps.fs_step, None, work,
                                                  run.work / f"{key[7:]}.tar")
        try:
            await self._commit(run, key, layer, created_by)
        finally:
            await asyncio.to_thread(self._steps.discard, snapshot)
        if run.image is not None:
            self._cache.put(link_key, run.image.id)

    async def _fetch(self, run: StageRun, urls: list[str]) -> dict[str, tuple[str, Path]]:
        fetched: dict[str, tuple[str, Path]] = {}
        for i, url in enumerate(urls):
            if self._fetcher is None:
                raise Unimplemented("this engine was built without a URL fetcher")
            path = run.work / f"download-{i}"
            await self._fetcher.fetch(url, path)
            digest = await asyncio.to_thread(_sha256_file, path)
            fetched[url] = (digest, path)
        return fetched


def _heredocs(ins: Instruction, state: StageState) -> dict[str, str]:
    """COPY/ADD heredocs by name; an unquoted delimiter expands variables, as Docker does."""
    quoted = {a.lstrip("<-").strip("'\""): a.lstrip("<-")[:1] in ("'", '"')
              for a in ins.args if a.startswith("<<")}
    return {h.name: h.content if quoted.get(h.name, True) else expand_heredoc(h.content, state.env,
                                                                              state.escape)
            for h in ins.heredocs}


def _run_argv(ins: Instruction, state: StageState) -> list[str]:
    if ins.json:
        return list(ins.args)
    if ins.heredocs and ins.args == (f"<<{ins.heredocs[0].name}",) or (
            ins.heredocs and ins.args[0].lstrip("<-").strip("'\"") == ins.heredocs[0].name):
        return [*state.shell, ins.heredocs[0].content]
    if ins.heredocs:
        return [*state.shell, ins.args[0] + "\n" + "".join(h.content + h.name + "\n" for h in ins.heredocs)]
    return [*state.shell, " ".join(ins.args)]


def _sha256_file(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def _env_keys(config: dict[str, Any]) -> set[str]:
    return {e.partition("=")[0] for e in config.get("Env") or []}


def _mkdir(root: Path, path: str) -> None:
    """WORKDIR's directory, made inside the rootfs (symlinks an earlier step left followed in it)."""
    from dockyard.core.rootfs.root import Root

    with Root.at(root) as tree:
        tree.directory(path, create=True)


def _owner(rootfs: Path, chown: str) -> tuple[int, int]:
    user = resolve_user(rootfs, chown)
    if ":" not in chown:
        return user.uid, user.uid  # a user without group: the UID is the GID too (Docker's docs)
    return user.uid, user.gid


def _url_name(url: str) -> str:
    name = posixpath.basename(url.split("?", 1)[0].split("#", 1)[0].rstrip("/"))
    return name or "index.html"


def cleanup(work: Path) -> None:
    with contextlib.suppress(OSError):
        shutil.rmtree(work)


def describe(value: Any) -> str:
    return json.dumps(value)

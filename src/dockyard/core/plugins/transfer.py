"""Plugins to and from registries: ``plugin install`` (pull), ``push``, ``upgrade``, privileges.

A plugin is fetched as moby's ``fetch``: the manifest by tag or digest (its config must have the
plugin media type, else moby's ``did not find plugin config for specified reference``), the config
blob and the layers, each verified against its digest, into a scratch dir under ``plugins/tmp``;
the privileges its config needs must equal what the client accepted (``incorrect privileges``);
only then does it join the store. Push uploads what ``create`` or a pull kept under
``plugins/<id>/blobs`` and puts the manifest by the plugin's tag.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Any

from dockyard.core.distribution.manifests import is_index, media_type_of, parse_manifest
from dockyard.core.distribution.model import DOCKER_MANIFEST, AuthConfig, Descriptor, Repository
from dockyard.core.distribution.progress import ProgressEvent, ProgressSink, short_id
from dockyard.core.distribution.registry import Registry
from dockyard.core.images.reference import Reference, parse
from dockyard.core.plugins import artefact
from dockyard.core.plugins.config import (
    CONFIG_MEDIA_TYPE,
    check_privileges,
    initial_settings,
    normalise,
    privileges,
)
from dockyard.core.plugins.managed import ManagedPlugins
from dockyard.core.plugins.store import ManagedPlugin, local_name
from dockyard.errors import InvalidArgument, WrongState

log = logging.getLogger(__name__)


def remote_reference(remote: str) -> Reference:
    """``remote`` as moby's ``parseRemoteRef``: a digest wins over a tag, else ``latest``."""
    ref = parse(remote)
    if ref.digest is not None:
        return Reference(ref.domain, ref.path, None, ref.digest)
    return ref.with_default_tag()


def install_name(ref: Reference, name: str) -> str:
    """The local name of a pulled plugin (moby's ``getName``): ``name`` or the remote's."""
    if name:
        return local_name(name)
    return Reference(ref.domain, ref.path, ref.tag or "latest").familiar()


class _Fetched:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.blobs = workdir / "blobs"
        self.rootfs = workdir / "rootfs"
        self.config: dict[str, Any] = {}
        self.manifest = ""
        self.config_digest = ""
        self.layers: list[str] = []


class PluginTransfer:
    def __init__(self, *, plugins: ManagedPlugins, registry: Registry) -> None:
        self._plugins = plugins
        self._registry = registry

    async def close(self) -> None:
        await self._registry.close()

    def _repo(self, ref: Reference, auth: AuthConfig, push: bool = False) -> Repository:
        return Repository(ref.domain, ref.path, auth, push)

    async def _manifest(self, ref: Reference, auth: AuthConfig
                        ) -> tuple[bytes, Descriptor, list[Descriptor]]:
        repo = self._repo(ref, auth)
        data, declared = await self._registry.get_manifest(repo, ref.digest or ref.tag or "latest")
        media = media_type_of(data, declared)
        if is_index(media):
            raise InvalidArgument(f"did not find plugin config for specified reference {ref}")
        manifest = parse_manifest(data, media)
        if manifest.config.media_type != CONFIG_MEDIA_TYPE:
            raise InvalidArgument(f"did not find plugin config for specified reference {ref}")
        return data, manifest.config, list(manifest.layers)

    async def _blob(self, ref: Reference, auth: AuthConfig, desc: Descriptor) -> bytes:
        chunks = [chunk async for chunk in self._registry.fetch_blob(self._repo(ref, auth), desc.digest)]
        data = b"".join(chunks)
        if "sha256:" + hashlib.sha256(data).hexdigest() != desc.digest:
            raise InvalidArgument(f"digest mismatch for blob {desc.digest} of {ref}")
        return data

    async def privileges(self, remote: str, auth: AuthConfig) -> list[dict[str, Any]]:
        """``GET /plugins/privileges?remote=``: what installing ``remote`` would grant."""
        ref = remote_reference(remote)
        _, config_desc, _ = await self._manifest(ref, auth)
        return privileges(_parse_config(await self._blob(ref, auth, config_desc)))

    async def _fetch(self, ref: Reference, auth: AuthConfig, granted: Any, sink: ProgressSink) -> _Fetched:
        fetched = _Fetched(Path(tempfile.mkdtemp(dir=self._plugins.store.tmp)))
        try:
            # Before the first message: an unknown plugin or refused privileges is a plain 4xx.
            data, config_desc, layers = await self._manifest(ref, auth)
            config = _parse_config(await self._blob(ref, auth, config_desc))
            check_privileges(privileges(config), granted)
            sink.status(f"{ref.tag or ref.digest}: Pulling from {ref.familiar_name}")
            for desc in layers:
                sink(ProgressEvent("Downloading", short_id(desc.digest), 0, desc.size))
                blob = await self._blob(ref, auth, desc)
                await asyncio.to_thread(artefact.put_blob, fetched.blobs, blob)
                sink(ProgressEvent("Download complete", short_id(desc.digest)))
            fetched.layers = [d.digest for d in layers]
            await asyncio.to_thread(artefact.unpack_layers, fetched.blobs, fetched.layers, fetched.rootfs,
                                    limit=self._plugins.unpack_limit)
            fetched.config_digest = artefact.put_blob(fetched.blobs, await self._blob(ref, auth, config_desc))
            fetched.manifest = artefact.put_blob(fetched.blobs, data)
            fetched.config = config
            sink.status(f"Digest: {fetched.manifest}")
            return fetched
        except BaseException:
            await asyncio.to_thread(shutil.rmtree, fetched.workdir, True)
            raise

    async def pull(self, remote: str, name: str, auth: AuthConfig, granted: Any, sink: ProgressSink) -> str:
        """``POST /plugins/pull?remote=&name=`` (``docker plugin install``); returns the local name."""
        ref = remote_reference(remote)
        local = install_name(ref, name)
        self._plugins.store.check_name(local)
        fetched = await self._fetch(ref, auth, granted, sink)
        try:
            plugin = ManagedPlugin(id=secrets.token_hex(32), name=local, config=fetched.config,
                                   settings=initial_settings(fetched.config), reference=str(ref),
                                   manifest=fetched.manifest, config_digest=fetched.config_digest,
                                   layers=fetched.layers)
            async with self._plugins.locked():
                await asyncio.to_thread(self._plugins.add, plugin, fetched.rootfs, fetched.blobs)
        finally:
            await asyncio.to_thread(shutil.rmtree, fetched.workdir, True)
        sink.status(f"Status: Downloaded newer image for {ref.familiar()}")
        self._plugins.event(plugin, "pull")
        return local

    async def upgrade(self, ref_or_id: str, remote: str, auth: AuthConfig, granted: Any,
                      sink: ProgressSink) -> None:
        """``POST /plugins/{name}/upgrade``: a disabled plugin gets the remote's rootfs and config;
        its settings stay (moby's ``upgradePlugin``)."""
        plugin = self._plugins.store.get(ref_or_id)
        if plugin.enabled:
            raise WrongState(f"plugin must be disabled before upgrading: plugin {plugin.name} is enabled")
        ref = remote_reference(remote)
        fetched = await self._fetch(ref, auth, granted, sink)
        try:
            async with self._plugins.locked():
                plugin = self._plugins.store.get(plugin.id)
                if plugin.enabled:
                    raise WrongState(f"plugin must be disabled before upgrading: plugin {plugin.name} "
                                     "is enabled")
                await asyncio.to_thread(self._swap, plugin, fetched)
                plugin.config, plugin.reference = fetched.config, str(ref)
                plugin.manifest, plugin.config_digest = fetched.manifest, fetched.config_digest
                plugin.layers = fetched.layers
                self._plugins.store.save(plugin)
        finally:
            await asyncio.to_thread(shutil.rmtree, fetched.workdir, True)
        sink.status(f"Status: Downloaded newer image for {ref.familiar()}")
        self._plugins.event(plugin, "upgrade")

    def _swap(self, plugin: ManagedPlugin, fetched: _Fetched) -> None:
        """New rootfs and blobs in place of the old, the old kept until the new are in."""
        target = self._plugins.store.dir(plugin.id)
        for part, new in (("rootfs", fetched.rootfs), ("blobs", fetched.blobs)):
            old = fetched.workdir / f"old-{part}"
            (target / part).rename(old)
            try:
                new.rename(target / part)
            except OSError:
                old.rename(target / part)
                raise

    async def push(self, ref_or_id: str, auth: AuthConfig, sink: ProgressSink) -> None:
        """``POST /plugins/{name}/push`` (``docker plugin push``): to the registry its name names."""
        plugin = self._plugins.store.get(ref_or_id)
        ref = parse(plugin.name).with_default_tag()
        repo = self._repo(ref, auth, push=True)
        blobs = self._plugins.store.dir(plugin.id) / "blobs"
        manifest = (blobs / plugin.manifest.removeprefix("sha256:")).read_bytes()
        sink.status(f"The push refers to repository [{ref.familiar_name}]")
        doc = json.loads(manifest)
        for raw in [*doc.get("layers", []), doc["config"]]:
            desc = Descriptor.parse(raw)
            is_layer = desc.media_type != CONFIG_MEDIA_TYPE
            if is_layer:
                sink(ProgressEvent("Preparing", short_id(desc.digest)))
            if await self._registry.blob_size(repo, desc.digest) is None:
                path = blobs / desc.digest.removeprefix("sha256:")
                await self._registry.upload_blob(repo, desc.digest, path, lambda _n: None)
                if is_layer:
                    sink(ProgressEvent("Pushed", short_id(desc.digest)))
            elif is_layer:
                sink(ProgressEvent("Layer already exists", short_id(desc.digest)))
        tag = ref.tag or "latest"
        await self._registry.put_manifest(repo, tag, manifest, DOCKER_MANIFEST)
        sink.status(f"{tag}: digest: {plugin.manifest} size: {len(manifest)}")
        sink(ProgressEvent("", aux={"Tag": tag, "Digest": plugin.manifest, "Size": len(manifest)}))
        self._plugins.event(plugin, "push")


def _parse_config(blob: bytes) -> dict[str, Any]:
    try:
        return normalise(json.loads(blob))
    except ValueError as exc:
        raise InvalidArgument(f"failed to parse config: {exc}") from exc

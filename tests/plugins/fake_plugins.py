"""Plugin servers for tests: Docker's plugin protocol (JSON POSTs) on a UNIX socket in a temp dir.

Each server runs its own asyncio loop in a thread, so synchronous tests (the docker CLI in a
subprocess) and async ones alike can talk to the daemon while the plugin answers. Every call is
recorded (``calls``) so a test can see what the daemon sent; ``fail`` makes a method answer
moby-style ``500 {"Err": …}``.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

Reply = dict[str, Any]
Handler = Callable[[Reply], Reply]


class FakePlugin:
    """A legacy plugin listening on ``socket`` (``<plugin dir>/<name>.sock``)."""

    def __init__(self, socket: Path, implements: list[str],
                 handlers: dict[str, Handler] | None = None) -> None:
        self.socket = socket
        self.name = socket.name.removesuffix(".sock")
        self.implements = implements
        self.handlers: dict[str, Handler] = dict(handlers or {})
        self.calls: list[tuple[str, Reply]] = []
        self.fail: dict[str, str] = {}
        self.activations = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    # ---- protocol ----
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        raw = await request.read()
        payload: Reply = json.loads(raw) if raw.strip() else {}
        self.calls.append((method, payload))
        if method == "Plugin.Activate":
            self.activations += 1
            return web.json_response({"Implements": self.implements})
        if method in self.fail:
            return web.json_response({"Err": self.fail[method]}, status=500)
        handler = self.handlers.get(method)
        if handler is None:
            return web.json_response({"Err": f"{method} not implemented"}, status=404)
        return web.json_response(handler(payload),
                                 content_type="application/vnd.docker.plugins.v1.2+json")

    def methods(self) -> list[str]:
        return [method for method, _ in self.calls]

    # ---- life ----
    def start(self) -> FakePlugin:
        self.socket.parent.mkdir(parents=True, exist_ok=True)
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError(f"fake plugin {self.name} did not start")
        return self

    def _serve(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        app = web.Application()
        app.router.add_post("/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        loop.run_until_complete(self._runner.setup())
        self.socket.unlink(missing_ok=True)
        loop.run_until_complete(web.UnixSite(self._runner, str(self.socket)).start())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(self._runner.cleanup())
        loop.close()

    def stop(self, *, keep_socket: bool = False) -> None:
        """Stop answering; ``keep_socket`` leaves the socket file (a crashed plugin's)."""
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop = self._thread = None
        if not keep_socket:
            self.socket.unlink(missing_ok=True)

    def __enter__(self) -> FakePlugin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class FakeVolumePlugin(FakePlugin):
    """A VolumeDriver keeping its volumes as directories under ``data`` (``Mountpoint`` there)."""

    def __init__(self, socket: Path, data: Path, *, scope: str = "local") -> None:
        super().__init__(socket, ["VolumeDriver"])
        self.data = data
        self.scope = scope
        self.volumes: dict[str, dict[str, str]] = {}  # name -> Opts
        self.mounted: dict[str, set[str]] = {}  # name -> mount IDs
        # A Mount reply's path other than the volume's own (to test the daemon's checks).
        self.mount_path: str | None = None
        self.handlers.update({
            "VolumeDriver.Create": self._create, "VolumeDriver.Remove": self._remove,
            "VolumeDriver.Mount": self._mount, "VolumeDriver.Unmount": self._unmount,
            "VolumeDriver.Path": self._path, "VolumeDriver.Get": self._get,
            "VolumeDriver.List": self._list, "VolumeDriver.Capabilities": self._capabilities})

    def path_of(self, name: str) -> Path:
        return self.data / name

    def _create(self, req: Reply) -> Reply:
        name = str(req["Name"])
        self.volumes[name] = dict(req.get("Opts") or {})
        self.path_of(name).mkdir(parents=True, exist_ok=True)
        return {}

    def _remove(self, req: Reply) -> Reply:
        name = str(req["Name"])
        if self.mounted.get(name):
            return {"Err": f"volume {name} is mounted"}
        self.volumes.pop(name, None)
        shutil.rmtree(self.path_of(name), ignore_errors=True)
        return {}

    def _mount(self, req: Reply) -> Reply:
        name = str(req["Name"])
        if name not in self.volumes:
            return {"Err": f"no such volume {name}"}
        self.mounted.setdefault(name, set()).add(str(req["ID"]))
        return {"Mountpoint": self.mount_path if self.mount_path is not None else str(self.path_of(name))}

    def _unmount(self, req: Reply) -> Reply:
        self.mounted.get(str(req["Name"]), set()).discard(str(req["ID"]))
        return {}

    def _path(self, req: Reply) -> Reply:
        name = str(req["Name"])
        return {"Mountpoint": str(self.path_of(name)) if self.mounted.get(name) else ""}

    def _get(self, req: Reply) -> Reply:
        name = str(req["Name"])
        if name not in self.volumes:
            return {"Err": f"no such volume {name}"}
        return {"Volume": {"Name": name, "Mountpoint": str(self.path_of(name)),
                           "Status": {"mounts": len(self.mounted.get(name, ())),
                                      "opts": self.volumes[name]}}}

    def _list(self, req: Reply) -> Reply:
        return {"Volumes": [{"Name": n, "Mountpoint": str(self.path_of(n))} for n in sorted(self.volumes)]}

    def _capabilities(self, req: Reply) -> Reply:
        return {"Capabilities": {"Scope": self.scope}}


class FakeAuthzPlugin(FakePlugin):
    """An authz plugin: ``deny(request) -> message or None`` decides AuthZReq; ``deny_response`` AuthZRes."""

    def __init__(self, socket: Path) -> None:
        super().__init__(socket, ["authz"])
        self.deny: Callable[[Reply], str | None] = lambda req: None
        self.deny_response: Callable[[Reply], str | None] = lambda req: None
        self.handlers.update({"AuthZPlugin.AuthZReq": self._req, "AuthZPlugin.AuthZRes": self._res})

    def _req(self, req: Reply) -> Reply:
        message = self.deny(req)
        return {"Allow": message is None, "Msg": message or ""}

    def _res(self, req: Reply) -> Reply:
        message = self.deny_response(req)
        return {"Allow": message is None, "Msg": message or ""}


def short_dir(prefix: str = "dyp-") -> Path:
    """A directory short enough for AF_UNIX socket paths (108 bytes)."""
    import tempfile

    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    os.chmod(path, 0o755)
    return path

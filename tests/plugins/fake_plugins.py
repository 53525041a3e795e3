"""Plugin servers for tests: Docker's plugin protocol (JSON POSTs) on a UNIX socket in a temp dir.

Each server runs its own asyncio loop in a thread, so synchronous tests (the docker CLI in a
subprocess) and async ones alike can talk to the daemon while the plugin answers. Every call is
recorded (``calls``) so a test can see what the daemon sent; ``fail`` makes a method answer
moby-style ``500 {"Err": …}``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import secrets
import shutil
import subprocess
import threading
import uuid
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
        try:
            reply = handler(payload)
        except Exception as exc:  # noqa: BLE001 - a handler's refusal is the plugin's Err
            return web.json_response({"Err": str(exc)}, status=500)
        return web.json_response(reply, content_type="application/vnd.docker.plugins.v1.2+json")

    def methods(self) -> list[str]:
        return [method for method, _ in self.calls]

    def last(self, method: str) -> Reply:
        """The body of the latest ``method`` call."""
        return [body for name, body in self.calls if name == method][-1]

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


def fresh_socket(directory: Path, kind: str) -> Path:
    """A plugin socket under a new name: the daemon keeps an activated plugin by name."""
    return directory / f"dyt-{kind}-{secrets.token_hex(3)}.sock"


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10, check=check)


class FakeNetworkPlugin(FakePlugin):
    """A NetworkDriver: a bridge per network (the gateway on it), a veth pair per endpoint, whose
    one end it names in ``Join`` for the daemon to move into the container."""

    def __init__(self, socket: Path) -> None:
        super().__init__(socket, ["NetworkDriver"])
        self.bridges: dict[str, str] = {}
        # A gateway of the plugin's own for Join to name (an address it adds to its bridge),
        # and the Value its EndpointOperInfo answers.
        self.join_gateway: str | None = None
        self.oper_info: Reply = {}
        self.handlers.update({
            "NetworkDriver.GetCapabilities": lambda _: {"Scope": "local"},
            "NetworkDriver.CreateNetwork": self.create_network,
            "NetworkDriver.DeleteNetwork": self.delete_network,
            "NetworkDriver.CreateEndpoint": lambda _: {},
            "NetworkDriver.EndpointOperInfo": lambda _: {"Value": self.oper_info},
            "NetworkDriver.Join": self.join,
            "NetworkDriver.Leave": lambda _: {},
            "NetworkDriver.DeleteEndpoint": self.delete_endpoint,
        })

    def create_network(self, body: Reply) -> Reply:
        bridge = "dtb" + body["NetworkID"][:12]
        ip("link", "add", bridge, "type", "bridge")
        ip("addr", "add", body["IPv4Data"][0]["Gateway"], "dev", bridge)
        ip("link", "set", bridge, "up")
        self.bridges[body["NetworkID"]] = bridge
        return {}

    def delete_network(self, body: Reply) -> Reply:
        ip("link", "del", self.bridges.pop(body["NetworkID"]))
        return {}

    def join(self, body: Reply) -> Reply:
        host, inner = "dtv" + body["EndpointID"][:8], "dtc" + body["EndpointID"][:8]
        ip("link", "add", host, "type", "veth", "peer", "name", inner)
        ip("link", "set", host, "master", self.bridges[body["NetworkID"]], "up")
        gateway = self.last("NetworkDriver.CreateNetwork")["IPv4Data"][0]["Gateway"]
        gateway, prefixlen = gateway.split("/")
        if self.join_gateway is not None:
            gateway = self.join_gateway
            ip("addr", "replace", f"{gateway}/{prefixlen}", "dev", self.bridges[body["NetworkID"]])
        return {"InterfaceName": {"SrcName": inner, "DstPrefix": "plg"}, "Gateway": gateway,
                "StaticRoutes": [{"Destination": "10.251.0.0/24", "RouteType": 0,
                                  "NextHop": gateway}]}

    def delete_endpoint(self, body: Reply) -> Reply:
        ip("link", "del", "dtv" + body["EndpointID"][:8], check=False)
        return {}

    def stop(self, *, keep_socket: bool = False) -> None:
        super().stop(keep_socket=keep_socket)
        for bridge in self.bridges.values():
            ip("link", "del", bridge, check=False)


class FakeIpamPlugin(FakePlugin):
    """An IpamDriver: /24 pools under 10.241.0.0/16 (or the one asked for), addresses in order."""

    def __init__(self, socket: Path) -> None:
        super().__init__(socket, ["IpamDriver"])
        self.pools: dict[str, ipaddress.IPv4Network] = {}
        self.given: dict[str, set[str]] = {}
        self.handlers.update({
            "IpamDriver.GetCapabilities": lambda _: {"RequiresMACAddress": False},
            "IpamDriver.GetDefaultAddressSpaces": lambda _: {
                "LocalDefaultAddressSpace": "dyt-local", "GlobalDefaultAddressSpace": "dyt-global"},
            "IpamDriver.RequestPool": self.request_pool,
            "IpamDriver.ReleasePool": self.release_pool,
            "IpamDriver.RequestAddress": self.request_address,
            "IpamDriver.ReleaseAddress": self.release_address,
        })

    def request_pool(self, body: Reply) -> Reply:
        pool = ipaddress.IPv4Network(body["Pool"] or f"10.241.{len(self.pools) + 1}.0/24")
        pool_id = f"pool-{uuid.uuid4().hex[:6]}"
        self.pools[pool_id], self.given[pool_id] = pool, set()
        return {"PoolID": pool_id, "Pool": str(pool), "Data": {}}

    def release_pool(self, body: Reply) -> Reply:
        self.pools.pop(body["PoolID"])
        return {}

    def request_address(self, body: Reply) -> Reply:
        pool, given = self.pools[body["PoolID"]], self.given[body["PoolID"]]
        wanted = body.get("Address") or next(str(a) for a in pool.hosts() if str(a) not in given)
        if wanted in given:
            raise ValueError(f"address {wanted} already allocated")
        given.add(wanted)
        return {"Address": f"{wanted}/{pool.prefixlen}", "Data": {}}

    def release_address(self, body: Reply) -> Reply:
        self.given[body["PoolID"]].discard(body["Address"])
        return {}

"""The UI API for images (pull, build, tag, push, history, remove, prune), volumes and networks."""

from __future__ import annotations

import asyncio
import io
import json
import tarfile
import time
from typing import Any

from aiohttp import web

from dockyard.cli import credentials
from dockyard.cli.client import CliError
from dockyard.ui.context import engine_of, json_body, json_error, text_field
from dockyard.ui.streams import ndjson, progress


async def _auth_header(ref: str) -> dict[str, str]:
    """``X-Registry-Auth`` from the docker login of the user running the UI; it goes to the engine
    only, never to the browser."""
    try:
        creds = await asyncio.to_thread(credentials.load, credentials.server_of_reference(ref))
    except CliError:
        return {}
    return {"X-Registry-Auth": creds.header()} if creds.username or creds.identity_token else {}


def _split_ref(ref: str) -> tuple[str, str]:
    name, _, digest = ref.partition("@")
    if digest:
        return name, digest
    slash = name.rfind("/")
    colon = name.rfind(":")
    return (name[:colon], name[colon + 1:]) if colon > slash else (name, "latest")


async def pull(request: web.Request) -> web.StreamResponse:
    ref = text_field(await json_body(request), "image", required=True)
    name, tag = _split_ref(ref)
    engine = engine_of(request)
    return await ndjson(request, progress(engine, "POST", "/images/create",
                                          params={"fromImage": name, "tag": tag},
                                          headers=await _auth_header(ref)))


async def push(request: web.Request) -> web.StreamResponse:
    ref = text_field(await json_body(request), "image", required=True)
    name, tag = _split_ref(ref)
    engine = engine_of(request)
    return await ndjson(request, progress(engine, "POST", f"/images/{name}/push", params={"tag": tag},
                                          headers=await _auth_header(ref) or {"X-Registry-Auth": "e30="}))


def dockerfile_context(dockerfile: str) -> bytes:
    """A build context holding only the pasted Dockerfile."""
    data = dockerfile.encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


async def build(request: web.Request) -> web.StreamResponse:
    """Multipart: ``tag``, and either ``dockerfile`` (text) or ``context`` (an uploaded tar)."""
    form = await request.post()
    tag = str(form.get("tag") or "").strip()
    upload = form.get("context")
    if isinstance(upload, web.FileField):
        context = upload.file.read()
    elif str(form.get("dockerfile") or "").strip():
        context = dockerfile_context(str(form["dockerfile"]))
    else:
        return json_error(400, "paste a Dockerfile or upload a build context")
    params = {"t": tag, "rm": "1"} if tag else {"rm": "1"}
    engine = engine_of(request)
    return await ndjson(request, progress(engine, "POST", "/build", params=params, content=context,
                                          headers={"Content-Type": "application/x-tar"}))


async def tag(request: web.Request) -> web.StreamResponse:
    target = text_field(await json_body(request), "target", required=True)
    repo, tag_ = _split_ref(target)
    await engine_of(request).request("POST", f"/images/{request.match_info['id']}/tag",
                                     params={"repo": repo, "tag": tag_})
    return web.json_response({"ok": True}, status=201)


async def history(request: web.Request) -> web.StreamResponse:
    return web.json_response(await engine_of(request).get_json(f"/images/{request.match_info['id']}/history"))


async def remove_image(request: web.Request) -> web.StreamResponse:
    force = "1" if request.query.get("force") == "1" else "0"
    answer = await engine_of(request).request("DELETE", f"/images/{request.match_info['id']}",
                                              params={"force": force})
    return web.json_response(json.loads(answer or b"[]"))


async def prune(request: web.Request) -> web.StreamResponse:
    kind = request.match_info["kind"]
    params: dict[str, str] = {}
    if kind == "images" and request.query.get("all") == "1":
        params["filters"] = json.dumps({"dangling": ["false"]})
    return web.json_response(await engine_of(request).post_json(f"/{kind}/prune", params=params))


async def create_volume(request: web.Request) -> web.StreamResponse:
    body = await json_body(request)
    spec: dict[str, Any] = {"Name": text_field(body, "name"), "Driver": text_field(body, "driver") or "local",
                            "Labels": _labels(body.get("labels"))}
    return web.json_response(await engine_of(request).post_json("/volumes/create", body=spec), status=201)


def _labels(value: Any) -> dict[str, str]:
    text = value if isinstance(value, str) else ""
    return dict(line.strip().partition("=")[::2] for line in text.splitlines() if line.strip())


async def remove_named(request: web.Request) -> web.StreamResponse:
    kind = request.match_info["kind"]
    await engine_of(request).request("DELETE", f"/{kind}/{request.match_info['id']}")
    return web.json_response({"ok": True})


async def create_network(request: web.Request) -> web.StreamResponse:
    body = await json_body(request)
    spec: dict[str, Any] = {"Name": text_field(body, "name", required=True),
                            "Driver": text_field(body, "driver") or "bridge",
                            "Internal": bool(body.get("internal")), "Labels": _labels(body.get("labels"))}
    subnet = text_field(body, "subnet")
    if subnet:
        spec["IPAM"] = {"Config": [{"Subnet": subnet}]}
    return web.json_response(await engine_of(request).post_json("/networks/create", body=spec), status=201)


async def connect(request: web.Request) -> web.StreamResponse:
    verb = request.match_info["verb"]
    body = await json_body(request)
    payload: dict[str, Any] = {"Container": text_field(body, "container", required=True)}
    if verb == "disconnect":
        payload["Force"] = bool(body.get("force"))
    await engine_of(request).request("POST", f"/networks/{request.match_info['id']}/{verb}", body=payload)
    return web.json_response({"ok": True})


def setup(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/e/{env}/images/pull", pull)
    r.add_post("/api/e/{env}/images/push", push)
    r.add_post("/api/e/{env}/images/build", build)
    r.add_post("/api/e/{env}/images/{id}/tag", tag)
    r.add_get("/api/e/{env}/images/{id}/history", history)
    r.add_delete("/api/e/{env}/images/{id}", remove_image)
    r.add_post("/api/e/{env}/{kind:images|volumes|networks|containers}/prune", prune)
    r.add_post("/api/e/{env}/volumes", create_volume)
    r.add_post("/api/e/{env}/networks", create_network)
    r.add_delete("/api/e/{env}/{kind:volumes|networks}/{id}", remove_named)
    r.add_post("/api/e/{env}/networks/{id}/{verb:connect|disconnect}", connect)

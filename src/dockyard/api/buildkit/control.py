"""BuildKit's ``moby.buildkit.v1.Control`` and ``moby.buildkit.v1.frontend.LLBBridge`` services, as
dockerd serves them on ``POST /grpc``, over our builder.

A client (buildx, and so Compose v2) builds in two halves joined by the build's ref:

- ``Control.Solve`` carries the session, the exporters (``moby``/``image`` with a ``name``) and no
  frontend; it returns when the build's result has been handed back and exported.
- meanwhile, as the "gateway", the client calls ``LLBBridge.Ping`` (capabilities), then
  ``LLBBridge.Solve`` with ``Frontend: dockerfile.v0`` and the frontend's options (the build
  itself), then ``LLBBridge.Return`` with the result's ref (or the error). Each of these names its
  build in the ``buildkit-controlapi-buildid`` metadata.
- ``Control.Status`` streams the progress of that ref until the build ends.

``Control.Solve`` with a frontend (buildctl's way) runs the same build in one call. LLB
definitions other than the Dockerfile frontend's are refused: this engine has no LLB solver.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import platform
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

from dockyard import __version__
from dockyard.api.buildkit import frontend
from dockyard.api.buildkit import wire_pb2 as pb
from dockyard.api.buildkit.grpc import CANCELED, GrpcError, Method, ServerCall, server_stream, unary
from dockyard.api.buildkit.progress import BuildStatus
from dockyard.api.buildkit.session import Sessions
from dockyard.core.builder.service import BuilderService
from dockyard.core.system import go_arch
from dockyard.errors import InvalidArgument, Unimplemented

log = logging.getLogger(__name__)

BUILD_ID_KEY = "buildkit-controlapi-buildid"
KEEP_FINISHED = 30.0  # a finished build's Status stays readable this long (a late Status call)
EXPORTERS = ("moby", "image")
# The gateway capabilities we implement (frontend/gateway/pb/caps.go); LLB caps are left to the
# client's defaults, as we only run the Dockerfile frontend.
GATEWAY_CAPS = ("solve.base", "solve.inlinereturn", "readfile", "return", "proto.refarray",
                "frontend.caps", "frontend.inputs")


@dataclass
class Build:
    ref: str
    status: BuildStatus
    session: str = ""
    tags: tuple[str, ...] = ()
    started: asyncio.Event = field(default_factory=asyncio.Event)  # Control.Solve has arrived
    returned: asyncio.Future[str | None] = field(default_factory=asyncio.Future)
    results: dict[str, str] = field(default_factory=dict)  # result ref -> image ID


class BuildKit:
    """The BuildKit API of one engine: its sessions and the builds in flight."""

    def __init__(self, builder: Callable[[], BuilderService | None], tmp_dir: Path) -> None:
        self._builder = builder
        self._tmp_dir = tmp_dir
        self.sessions = Sessions()
        self._builds: dict[str, Build] = {}

    def methods(self) -> dict[str, Method]:
        control, bridge = "/moby.buildkit.v1.Control/", "/moby.buildkit.v1.frontend.LLBBridge/"
        return {
            control + "ListWorkers": unary(pb.ListWorkersRequest, self.list_workers),
            control + "Info": unary(pb.InfoRequest, self.info),
            control + "Solve": unary(pb.SolveRequest, self.solve),
            control + "Status": server_stream(pb.StatusRequest, self.status),
            control + "DiskUsage": unary(pb.DiskUsageRequest, self.disk_usage),
            control + "Prune": server_stream(pb.PruneRequest, self.prune),
            bridge + "Ping": unary(pb.PingRequest, self.ping),
            bridge + "Solve": unary(pb.GatewaySolveRequest, self.gateway_solve),
            bridge + "Return": unary(pb.ReturnRequest, self.gateway_return),
            bridge + "Inputs": unary(pb.InputsRequest, self.inputs),
        }

    def _build(self, ref: str) -> Build:
        build = self._builds.get(ref)
        if build is None:
            build = self._builds[ref] = Build(ref, BuildStatus(ref))
        return build

    def _of_call(self, call: ServerCall) -> Build:
        ref = call.metadata.get(BUILD_ID_KEY, "")
        build = self._builds.get(ref)
        if build is None:
            raise GrpcError(5, f"no such job {ref}")
        return build

    # ---- Control ----
    def _worker(self) -> pb.WorkerRecord:
        labels = {"org.mobyproject.buildkit.worker.executor": "oci",
                  "org.mobyproject.buildkit.worker.hostname": socket.gethostname(),
                  "org.mobyproject.buildkit.worker.network": "host",
                  "org.mobyproject.buildkit.worker.moby.host-gateway-ip": ""}
        return pb.WorkerRecord(ID=socket.gethostname(), Labels=labels,
                               platforms=[pb.Platform(OS="linux", Architecture=go_arch())],
                               BuildkitVersion=self._version())

    def _version(self) -> pb.BuildkitVersion:
        return pb.BuildkitVersion(package="github.com/dockyard/dockyard", version=__version__,
                                  revision="python" + platform.python_version())

    async def list_workers(self, request: pb.ListWorkersRequest, call: ServerCall) -> pb.ListWorkersResponse:
        return pb.ListWorkersResponse(record=[self._worker()])

    async def info(self, request: pb.InfoRequest, call: ServerCall) -> pb.InfoResponse:
        return pb.InfoResponse(buildkitVersion=self._version())

    async def disk_usage(self, request: pb.DiskUsageRequest, call: ServerCall) -> pb.DiskUsageResponse:
        raise Unimplemented("build cache disk usage is not reported through BuildKit's API: "
                            "use docker system df")

    async def prune(self, request: pb.PruneRequest, call: ServerCall) -> AsyncIterator[pb.UsageRecord]:
        """``buildx prune``: the whole cache (as ``docker builder prune -a``); one record per entry
        removed, the bytes freed on the last (we do not know them per entry)."""
        if request.filter or request.keepDuration:
            raise Unimplemented("prune filters and --keep-duration are not supported by this engine")
        builder = self._builder()
        if builder is None:
            raise Unimplemented("this engine was built without a builder")
        removed, reclaimed = await builder.prune()
        for index, ident in enumerate(removed):
            yield pb.UsageRecord(ID=ident, Size=reclaimed if index == len(removed) - 1 else 0,
                                 RecordType="regular")

    async def status(self, request: pb.StatusRequest, call: ServerCall) -> AsyncIterator[pb.StatusResponse]:
        build = self._build(request.Ref)
        try:
            async for update in build.status.updates():
                yield update
        finally:
            if not build.started.is_set():  # the client went away before its Solve came
                self._builds.pop(request.Ref, None)

    async def solve(self, request: pb.SolveRequest, call: ServerCall) -> pb.SolveResponse:
        build = self._build(request.Ref or uuid.uuid4().hex)
        try:
            build.session, build.tags = request.Session, _tags(request)
            _refuse(request)
            build.started.set()
            if request.Frontend:
                if request.Frontend not in frontend.DOCKERFILE_FRONTEND:
                    raise Unimplemented(f"frontend {request.Frontend} is not supported by this engine: "
                                        "only the Dockerfile frontend (dockerfile.v0)")
                image_id: str | None = await self._run(build, dict(request.FrontendAttrs),
                                                       list(request.FrontendInputs))
            elif request.Definition:
                raise Unimplemented("LLB definitions are not supported by this engine: "
                                    "build with the Dockerfile frontend")
            else:
                image_id = await build.returned
            response = pb.SolveResponse()
            if image_id is not None and build.tags:
                response.ExporterResponse.update({"containerimage.config.digest": image_id,
                                                  "containerimage.digest": image_id,
                                                  "image.name": ",".join(build.tags)})
            return response
        finally:
            build.started.set()  # a gateway call waiting for it sees the build is over
            if not build.returned.done():
                build.returned.cancel()
            await build.status.close()
            asyncio.get_running_loop().call_later(KEEP_FINISHED, self._builds.pop, build.ref, None)

    async def _run(self, build: Build, attrs: dict[str, str], inputs: list[str]) -> str:
        builder = self._builder()
        if builder is None:
            raise Unimplemented("this engine was built without a builder")
        if inputs:
            raise Unimplemented(f"named build contexts are not supported by this engine: {', '.join(inputs)}")
        session = await self.sessions.get(build.session)
        self._tmp_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="buildkit-", dir=self._tmp_dir) as scratch:
            return await frontend.solve(builder, session, attrs, build.tags, Path(scratch), build.status)

    # ---- LLBBridge (the client's gateway) ----
    async def ping(self, request: pb.PingRequest, call: ServerCall) -> pb.PongResponse:
        caps = [pb.APICap(ID=cap, Enabled=True) for cap in GATEWAY_CAPS]
        return pb.PongResponse(FrontendAPICaps=caps, Workers=[self._worker()])

    async def inputs(self, request: pb.InputsRequest, call: ServerCall) -> pb.InputsResponse:
        return pb.InputsResponse()

    async def gateway_solve(self, request: pb.GatewaySolveRequest,
                            call: ServerCall) -> pb.GatewaySolveResponse:
        build = self._of_call(call)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(build.started.wait(), 10)
        if build.returned.done():  # Control.Solve refused the build or ended already
            raise GrpcError(CANCELED, "the build was canceled")
        if request.Definition and not request.Frontend:
            raise Unimplemented("LLB definitions are not supported by this engine: "
                                "build with the Dockerfile frontend")
        if not request.Frontend:
            return pb.GatewaySolveResponse(result=pb.Result())
        if request.Frontend not in frontend.DOCKERFILE_FRONTEND:
            raise Unimplemented(f"frontend {request.Frontend} is not supported by this engine")
        image_id = await self._run(build, dict(request.FrontendOpt), list(request.FrontendInputs))
        result_ref = uuid.uuid4().hex
        build.results[result_ref] = image_id
        if request.Final and not build.returned.done():
            build.returned.set_result(image_id)  # the pre-"return" clients' way to hand back
        return pb.GatewaySolveResponse(ref=result_ref, result=pb.Result(ref=pb.Ref(id=result_ref)))

    async def gateway_return(self, request: pb.ReturnRequest, call: ServerCall) -> pb.ReturnResponse:
        build = self._of_call(call)
        if build.returned.done():
            return pb.ReturnResponse()
        if request.HasField("error") and request.error.code != 0:
            build.returned.set_exception(GrpcError(request.error.code, request.error.message))
            return pb.ReturnResponse()
        result = request.result
        kind = result.WhichOneof("result")
        if kind == "ref":
            ref_id = result.ref.id
        elif kind == "refDeprecated":
            ref_id = result.refDeprecated
        elif kind is None:
            ref_id = ""
        else:
            raise Unimplemented("multi-platform results are not supported by this engine")
        if ref_id and ref_id not in build.results:
            raise InvalidArgument(f"no such result {ref_id}")
        build.returned.set_result(build.results.get(ref_id))
        return pb.ReturnResponse()


def _exporters(request: pb.SolveRequest) -> list[pb.Exporter]:
    if request.Exporters:
        return list(request.Exporters)
    if request.ExporterDeprecated:
        return [pb.Exporter(Type=request.ExporterDeprecated, Attrs=dict(request.ExporterAttrsDeprecated))]
    return []


def _tags(request: pb.SolveRequest) -> tuple[str, ...]:
    exporters = _exporters(request)
    if len(exporters) > 1:
        raise Unimplemented("more than one exporter is not supported by this engine")
    tags: tuple[str, ...] = ()
    for exporter in exporters:
        if exporter.Type not in EXPORTERS:
            raise Unimplemented(f"exporter {exporter.Type!r} is not supported by this engine: the image is "
                                "stored in the engine (--load)")
        attrs = dict(exporter.Attrs)
        if attrs.get("push", "false").lower() in ("1", "true"):
            raise Unimplemented("pushing from the build is not supported: docker push the image after")
        tags = tuple(n.strip() for n in attrs.get("name", "").split(",") if n.strip())
    return tags


def _refuse(request: pb.SolveRequest) -> None:
    cache = request.Cache
    if cache.Exports or cache.ExportRefDeprecated:
        raise Unimplemented("exporting the build cache is not supported by this engine")
    if cache.Imports or cache.ImportRefsDeprecated:
        raise Unimplemented("importing a build cache (--cache-from type=...) is not supported by this engine")
    insecure = [e for e in request.Entitlements if e == "security.insecure"]
    if insecure:
        raise Unimplemented("the security.insecure entitlement is not supported by this engine")


"""A container's side of networking: which networks it asks for, joining them at start, leaving
them at exit or removal, connect/disconnect, and the state ``docker inspect`` shows.

Endpoints exist only while the container runs, as in Docker; the container record keeps what it
asked for (``HostConfig.NetworkMode``, ``NetworkingConfig.EndpointsConfig``) and, while it runs, a
copy of its endpoints in ``network_state`` for inspect and ``ps``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

from dockyard.core.containers.hostfiles import write_network_files
from dockyard.core.containers.links import link_env
from dockyard.core.containers.model import Container, ContainerPaths, CreateRequest
from dockyard.core.containers.store import LiveContainers
from dockyard.core.networks.model import DEFAULT_BRIDGE, Endpoint, EndpointRequest, Network
from dockyard.core.networks.ports import port_bindings
from dockyard.core.networks.service import NetworkService, check_endpoint_request
from dockyard.core.runtime.userns import UsernsRemap
from dockyard.core.trace import span
from dockyard.errors import Forbidden, InvalidArgument, NotFound

log = logging.getLogger(__name__)

_UNBRIDGED = ("none", "host")


@dataclass(frozen=True)
class PendingJoin:
    """What is left of a start's network join once the spec's network is known; done before the
    container's process runs, so its ports and names are ready when the start returns."""

    # Plumbs the endpoints into the sandbox while the runtime creates the container.
    beside_create: Callable[[], Awaitable[None]] | None = None
    # Plumbs them into the netns the runtime made, given the container's pid.
    after_create: Callable[[int], Awaitable[None]] | None = None


def primary_network(mode: str) -> str | None:
    """The network a NetworkMode names, or None for none/host/container:<id>."""
    if mode in ("", "default", "bridge"):
        return DEFAULT_BRIDGE
    if mode in _UNBRIDGED or mode.startswith("container:"):
        return None
    return mode


SEEDED = "DockyardSeeded"  # a stored record's marker (never part of the API's output)


def seed_endpoints(mode: str, networking: dict[str, Any]) -> dict[str, Any]:
    """The NetworkingConfig a container is stored with: the NetworkMode's network is made an entry
    of ``EndpointsConfig`` (taking the settings of a ``default`` entry), as moby's
    ``updateContainerNetworkSettings`` does at create. From then on that map alone says which
    networks the container joins at start, so a disconnect while it is created removes the entry
    and leaves ``NetworkMode`` as it was, and a connect adds one (Compose v1 disconnects then
    reconnects every network of a created container to set its aliases). ``none`` and ``host``
    get their entry too, as in moby, though no endpoint is made for them."""
    if mode.startswith("container:"):
        return {**networking, SEEDED: True}
    primary = primary_network(mode) or mode
    configs = dict(networking.get("EndpointsConfig") or {})
    seeded = configs.pop("default", None)
    configs = {primary: configs.get(primary) or seeded or {},
               **{name: cfg for name, cfg in configs.items() if name != primary}}
    return {**networking, "EndpointsConfig": configs, SEEDED: True}


def stored_networking(container: Container) -> dict[str, Any]:
    """The container's seeded NetworkingConfig. A record from before seeding (no marker) joined
    its NetworkMode's network whatever EndpointsConfig said: seeding it now keeps that, so
    Compose v1's disconnect+connect on an old data root leaves it on the network."""
    networking = container.networking
    return networking if networking.get(SEEDED) else seed_endpoints(container.host.network_mode, networking)


def endpoint_requests(mode: str, networking: dict[str, Any], host: dict[str, Any]) -> list[EndpointRequest]:
    """The endpoints of a stored (seeded) NetworkingConfig: the NetworkMode's network first when
    the container is still attached to it, then the others."""
    primary = primary_network(mode)
    if primary is None:
        return []
    configs = dict(networking.get("EndpointsConfig") or {})
    links = tuple(str(link) for link in host.get("Links") or [])
    ordered = [primary] if primary in configs else []
    ordered += [name for name in configs if name != primary and name != "default"]
    result = []
    for name in ordered:
        cfg = configs.get(name) or {}
        ipam_config = cfg.get("IPAMConfig") or {}
        result.append(EndpointRequest(
            network=name, ip=str(ipam_config.get("IPv4Address") or ""),
            ip6=str(ipam_config.get("IPv6Address") or ""),
            aliases=tuple(str(a) for a in cfg.get("Aliases") or []),
            links=links if name != DEFAULT_BRIDGE else (), mac=str(cfg.get("MacAddress") or ""),
            gw_priority=int(cfg.get("GwPriority") or 0)))
    return result


class ContainerNetworking:
    """Glue between the container service and the network service (absent in unit tests: then a
    bridged container gets a private namespace with loopback only)."""

    def __init__(self, networks: NetworkService | None, live: LiveContainers,
                 userns: UsernsRemap | None = None,
                 defaults: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> None:
        self._networks = networks
        self._live = live
        self._userns = userns
        # The daemon's --dns*/--ip, applied at start rather than recorded (containers/defaults.py).
        self._defaults = defaults or (lambda raw: raw)

    def check_create(self, request: CreateRequest) -> None:
        mode = request.host.network_mode
        requests = endpoint_requests(mode, seed_endpoints(mode, request.networking), request.host.raw)
        config = request.config
        port_bindings(request.host.raw, config.exposed_ports if config else {})
        # A 400, not a 404: the CLI answers a 404 from create by pulling the image (moby too
        # reports a missing network at create as an invalid parameter).
        if self._networks is None:
            if requests and requests[0].network != DEFAULT_BRIDGE:
                raise InvalidArgument(f"network {requests[0].network} not found")
            return
        for endpoint in requests:
            try:
                network = self._networks.inspect(endpoint.network)
            except NotFound as exc:
                raise InvalidArgument(str(exc)) from exc
            check_endpoint_request(network, endpoint)
            if network.driver == "overlay" and not network.attachable and not (
                    config and "com.docker.swarm.task.id" in config.labels):
                raise Forbidden(f"Could not attach to network {network.name}: rpc error: code = "
                                f"PermissionDenied desc = network {network.name} not manually attachable")

    async def prepare(self, container: Container, paths: ContainerPaths,
                      network: str) -> tuple[str, PendingJoin | None]:
        """The spec's network for a start, and the part of the join left for the runtime's create.

        The sandbox (a netns) is made first, for the spec to name; its endpoints (veth, addresses,
        published ports, DNS, /etc/hosts) are plumbed while the runtime creates the container,
        whose process runs only once they are done. With legacy links, the links' variables in the
        spec and their lines in /etc/hosts want the endpoints first, so those join in full before.

        A remapped container's netns must belong to its user namespace: runc 1.1 enters the user
        namespace first on ``exec``, and from there a netns of the host's user namespace is out of
        reach ("setns into net namespace: Operation not permitted"). So, as dockerd does, the
        runtime makes that netns (``private``) and the endpoints are plumbed into
        ``/proc/<pid>/ns/net`` between ``runc create`` and ``runc start``."""
        remapped = self._userns is not None and container.host.raw.get("UsernsMode") != "host"
        requests = endpoint_requests(container.host.network_mode, stored_networking(container),
                                     container.host.raw)
        if not requests or self._networks is None:
            return network, None
        if remapped:
            async def late_join(pid: int) -> None:
                await self.join(container, paths, network, source=f"/proc/{pid}/ns/net")
            return "private", PendingJoin(after_create=late_join)
        if container.host.raw.get("Links"):
            return await self.join(container, paths, network), None
        sandbox = await self._networks.make_sandbox(container.id)

        async def plumb() -> None:
            await self.join(container, paths, network, sandbox=sandbox)
        return f"ns:{sandbox}", PendingJoin(beside_create=plumb)

    async def join(self, container: Container, paths: ContainerPaths, network: str, *,
                   source: str = "", sandbox: str = "") -> str:
        """Set up the container's endpoints (in ``source``, an existing netns, or ``sandbox``, one
        made for it, when given); returns the spec's network (``ns:<sandbox>``)."""
        requests = endpoint_requests(container.host.network_mode, stored_networking(container),
                                     container.host.raw)
        if not requests or self._networks is None:
            return network
        ports = port_bindings(self._defaults(container.host.raw), container.config.exposed_ports)
        name = container.name.lstrip("/")
        with span("net.join", container.id):
            sandbox = await self._networks.join(container.id, name, requests, ports,
                                                short_id=container.id[:12], source=source,
                                                sandbox=sandbox)
        try:
            container.network_state = self.state(container, sandbox)
            with span("net.files", container.id):
                await asyncio.to_thread(self._write_files, container, paths)
        except BaseException:
            await self.leave(container)
            raise
        return f"ns:{sandbox}"

    def _write_files(self, container: Container, paths: ContainerPaths) -> None:
        assert self._networks is not None
        mine = self._networks.endpoints(container_id=container.id)
        user_network = any(self._networks.inspect(e.network_id).has_dns for e in mine)
        write_network_files(
            paths, hostname=container.config.hostname, domainname=container.config.domainname,
            ip=mine[0].ip if mine else "", host=self._defaults(container.host.raw),
            embedded_dns=user_network,
            host_gateway=self._networks.default_gateway(),
            links=[] if user_network else self._legacy_links(container))

    def _legacy_links(self, container: Container) -> list[tuple[str, str, str]]:
        """(ip, alias, name) of each --link target on the default bridge, for /etc/hosts."""
        assert self._networks is not None
        result = []
        for spec in container.host.raw.get("Links") or []:
            target_name = str(spec).partition(":")[0].strip("/").split("/")[-1]
            alias = _link_alias(str(spec))
            try:
                other = self._live.get(target_name)
            except NotFound as exc:
                raise InvalidArgument(f"could not get container for {target_name}") from exc
            ips = [e.ip for e in self._networks.endpoints(container_id=other.id)]
            if not ips:
                raise InvalidArgument(f"cannot link to a non running container: /{target_name} "
                                      f"AS {container.name}/{alias}")
            result.append((ips[0], alias, target_name))
        return result

    def link_env(self, container: Container) -> list[str]:
        """The legacy links' variables (core/containers/links.py); none on user networks."""
        if self._networks is None or not container.host.raw.get("Links"):
            return []
        mine = self._networks.endpoints(container_id=container.id)
        if any(self._networks.inspect(e.network_id).has_dns for e in mine):
            return []
        env: list[str] = []
        for ip, alias, name in self._legacy_links(container):
            child = self._live.get(name)
            env += link_env(alias, container.name.lstrip("/"), ip, child.config.exposed_ports,
                            child.config.env)
        return env

    async def leave(self, container: Container) -> None:
        """Tear the endpoints down (idempotent); never raises, so an exit is always recorded."""
        if self._networks is None:
            return
        try:
            await self._networks.leave(container.id)
        except Exception:  # noqa: BLE001 - the exit must be recorded whatever the teardown does
            log.exception("network teardown of %s", container.id[:12])
        if container.network_state:
            container.network_state = {}
            if container.id in self._live.by_id:
                self._live.save(container)

    def deferrable(self, container: Container) -> bool:
        """Whether the endpoints may outlive the container's record for a moment (a teardown
        after the answer, core/containers/teardown.py): not while they hold a published host port
        or a name the embedded DNS answers, which a new container may want at once."""
        if self._networks is None:
            return True
        for endpoint in self._networks.endpoints(container_id=container.id):
            if endpoint.ports or self._networks.inspect(endpoint.network_id).has_dns:
                return False
        return True

    async def leave_orphan(self, container_id: str) -> None:
        """The endpoints and sandbox of a container whose record is gone (never raises)."""
        if self._networks is None:
            return
        try:
            await self._networks.leave(container_id)
        except Exception:  # noqa: BLE001 - what cannot go now is logged; the daemon serves on
            log.exception("network teardown of orphan %s", container_id[:12])

    async def connect(self, container: Container, request: EndpointRequest) -> None:
        """``docker network connect``: now for a running container, at its next start otherwise."""
        assert self._networks is not None
        network = self._networks.inspect(request.network)
        check_endpoint_request(network, request)
        configs = dict(stored_networking(container).get("EndpointsConfig") or {})
        if primary_network(container.host.network_mode) is None:
            raise InvalidArgument("container cannot be connected to multiple networks with one of the "
                                  "networks in private (none) mode"
                                  if container.host.network_mode == "none" else
                                  "container sharing network namespace with another container or a "
                                  "host network namespace cannot be connected to any other network")
        if network.name in configs:
            if not container.state.is_active:
                raise InvalidArgument(f"endpoint with name {container.name.lstrip('/')} already "
                                      f"exists in network {network.name}")
        sandbox = str(container.network_state.get("sandbox") or "")
        if container.state.is_active:
            if not sandbox:
                raise InvalidArgument("container sharing network namespace with another container "
                                      "or a host network namespace cannot be connected to any other "
                                      "network")
            await self._networks.connect(container.id, container.name.lstrip("/"), sandbox, request,
                                         short_id=container.id[:12])
            container.network_state = self.state(container, sandbox)
        ipam_config = {k: v for k, v in (("IPv4Address", request.ip), ("IPv6Address", request.ip6)) if v}
        configs[network.name] = {"IPAMConfig": ipam_config or None,
                                 "Aliases": list(request.aliases) or None}
        container.networking = {**stored_networking(container), "EndpointsConfig": configs}
        self._live.save(container)

    async def disconnect(self, container: Container, network_ref: str) -> None:
        assert self._networks is not None
        network = self._networks.inspect(network_ref)
        configs = dict(stored_networking(container).get("EndpointsConfig") or {})
        attached = network.name in configs
        if container.state.is_active:
            await self._networks.disconnect(container.id, network.id)
            container.network_state = self.state(container, str(container.network_state.get("sandbox")))
        elif not attached:
            raise NotFound(f"container {container.id} is not connected to network {network.name}")
        configs.pop(network.name, None)
        container.networking = {**stored_networking(container), "EndpointsConfig": configs}
        self._live.save(container)

    def unlink(self, name: str) -> None:
        """``docker rm --link /parent/alias``: the parent forgets the link (moby's rmLink)."""
        parent_name, _, alias = ("/" + name.lstrip("/")).rpartition("/")
        if not parent_name:
            raise InvalidArgument("Conflict, cannot remove the default link name of the container")
        try:
            parent = self._live.get(parent_name.lstrip("/"))
        except NotFound as exc:
            raise NotFound(f"Cannot get parent {parent_name} for link name {name}") from exc
        links = [str(spec) for spec in parent.host.raw.get("Links") or []]
        kept = [spec for spec in links if _link_alias(spec) != alias]
        if len(kept) == len(links):
            raise NotFound(f"No such container: {name}")
        parent.host.raw["Links"] = kept or None
        self._live.save(parent)

    def rename(self, container: Container, old: str) -> None:
        """After ``docker rename``: the embedded DNS answers to the new name, not the old."""
        if self._networks is None or not container.network_state:
            return
        self._networks.rename(container.id, old.lstrip("/"), container.name.lstrip("/"))
        container.network_state = self.state(container, str(container.network_state.get("sandbox")))
        self._live.save(container)

    def state(self, container: Container, sandbox: str) -> dict[str, Any]:
        assert self._networks is not None
        networks: dict[str, Any] = {}
        ports: list[dict[str, Any]] = []
        for endpoint in self._networks.endpoints(container_id=container.id):
            network = self._networks.inspect(endpoint.network_id)
            networks[network.name] = endpoint_view(endpoint, network)
            ports += [asdict(p) for p in endpoint.ports]
        return {"sandbox": sandbox, "networks": networks, "ports": ports}


def _link_alias(spec: str) -> str:
    """The alias of a ``--link`` entry (``name:alias``, or the target's own name without one)."""
    target, _, alias = spec.partition(":")
    return (alias or target).strip("/").split("/")[-1]


def endpoint_view(endpoint: Endpoint, network: Network) -> dict[str, Any]:
    """One endpoint as the container record keeps it for inspect (api/wire.py renders it)."""
    return {"network_id": endpoint.network_id, "endpoint_id": endpoint.id, "ip": endpoint.ip,
            "prefixlen": network.prefixlen, "mac": endpoint.mac,
            "gateway": network.gateway if endpoint.gateway is None else endpoint.gateway,
            "ip6": endpoint.ip6, "prefixlen6": network.prefixlen6 if endpoint.ip6 else 0,
            "gateway6": (network.gateway6 if endpoint.ip6 else "") if endpoint.gateway6 is None
            else endpoint.gateway6,
            "aliases": endpoint.aliases, "dns_names": endpoint.dns_names,
            "links": [f"{target}:{alias}" for alias, target in endpoint.links.items()]}

"""NetworkService: Docker's network verbs, and the endpoints of running containers.

The service decides policy — which networks exist, which address an endpoint gets, which names
resolve where — and keeps the records. Each network's driver (core/networks/drivers.py: bridge,
macvlan, a plugin, …) plumbs its endpoints; the host's :class:`NetworkBackend` keeps the sandboxes.
Endpoints exist only while their container runs (as in Docker): start joins, exit or removal leaves.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import ipaddress
import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from contextlib import AsyncExitStack

from dockyard.core.events import EventBus
from dockyard.core.labels import labels_match
from dockyard.core.metadata import Metadata
from dockyard.core.naming import check_name
from dockyard.core.networks import ipam
from dockyard.core.networks.addressing import Addressing
from dockyard.core.networks.backend import NetworkBackend, Resolver
from dockyard.core.networks.drivers import SINGLETONS, NetworkDrivers
from dockyard.core.networks.model import (
    BUILTIN_DRIVERS,
    DEFAULT_BRIDGE,
    Endpoint,
    EndpointRequest,
    NameAnswer,
    Network,
    NetworkCreate,
    PortBinding,
    PortConflict,
)
from dockyard.core.networks.store import NetworkStore
from dockyard.core.timestamps import now_rfc3339
from dockyard.errors import (
    AlreadyExists,
    DockyardError,
    Forbidden,
    InUse,
    InvalidArgument,
    NotFound,
)

log = logging.getLogger(__name__)

BRIDGE_NAME_OPTION = "com.docker.network.bridge.name"


def _new_id() -> str:
    return secrets.token_hex(32)


class NetworkService:
    def __init__(self, *, db: Metadata, backend: NetworkBackend, resolver: Resolver,
                 default_bridge: str, upstreams: Sequence[str] = (),
                 events: EventBus | None = None,
                 default_bridge_options: Mapping[str, str] | None = None,
                 default_subnet: str = "", address_pools: Sequence[tuple[str, int]] = (),
                 drivers: NetworkDrivers | None = None) -> None:
        self._store = NetworkStore(db)
        self._events = events or EventBus()  # a bus nobody reads: events cost nothing
        self._backend = backend
        self._resolver = resolver
        self._default_bridge = default_bridge
        self._upstreams = tuple(upstreams)
        # dockerd's --icc/--mtu (as the bridge's options) and --bip: the daemon's flags win over
        # what the default bridge was created with.
        self._bridge_options = dict(default_bridge_options or {})
        self._default_subnet = default_subnet
        self._pools = tuple(address_pools)  # --default-address-pool
        # Without a driver table (engines built by tests): the host backend is the bridge driver.
        self.drivers = drivers or NetworkDrivers({"bridge": backend, "overlay": backend})
        self._addressing = Addressing(self.drivers, self._pools)
        self._networks: dict[str, Network] = {}
        self._endpoints: dict[str, Endpoint] = {}
        self._lock = asyncio.Lock()
        self.port_conflicts: list[PortConflict] = []
        # Set by the composition when swarm mode exists: overlay networks need an active swarm.
        self.swarm_check: Callable[[], None] | None = None
        # Swarm services' virtual IPs: (network ID, name) -> addresses the name also answers with.
        self.service_names: Callable[[str, str], builtins.list[str]] | None = None

    # ---- lifecycle ----
    async def open(self) -> None:
        self._store.ensure_schema()
        self._networks = {n.id: n for n in self._store.networks()}
        self._endpoints = {e.id: e for e in self._store.endpoints()}
        await self._ensure_builtins()
        # Host ports taken while we were down; the container service reports them (leftovers.py).
        self.port_conflicts = await self._backend.restore(list(self._networks.values()),
                                                          list(self._endpoints.values())) or []
        await self._reopen()
        for key in {e.container_id for e in self._endpoints.values()}:
            await self._serve_dns(key)

    async def close(self) -> None:
        await self._resolver.close()
        await self._backend.close(keep=bool(self._endpoints))

    async def _ensure_builtins(self) -> None:
        names = {n.name for n in self._networks.values()}
        for name in ("host", "none"):
            if name not in names:
                self._add(Network(id=_new_id(), name=name, driver=BUILTIN_DRIVERS[name],
                                  created=now_rfc3339()))
        if DEFAULT_BRIDGE not in names:
            occupied = await self._occupied()
            subnet = (ipaddress.ip_interface(self._default_subnet).network if self._default_subnet
                      else ipam.pick_subnet(occupied, self._pools))
            gateway = (str(ipaddress.ip_interface(self._default_subnet).ip) if self._default_subnet
                       else ipam.gateway_of(subnet))
            self._add(Network(id=_new_id(), name=DEFAULT_BRIDGE, driver="bridge",
                              created=now_rfc3339(), subnet=str(subnet),
                              gateway=gateway, bridge=self._default_bridge,
                              options={BRIDGE_NAME_OPTION: self._default_bridge,
                                       "com.docker.network.bridge.default_bridge": "true"}))
        for network in self._networks.values():
            if network.name == DEFAULT_BRIDGE:
                network.options.update(self._bridge_options)

    async def _reopen(self) -> None:
        """Networks of the other built-in drivers (macvlan's parents) up again after a restart;
        remote drivers keep their own state, as with dockerd."""
        for network in self._networks.values():
            if network.bridged or not network.connectable or not self.drivers.is_builtin(network.driver):
                continue
            try:
                await (await self.drivers.get(network.driver)).create_network(network)
            except DockyardError as exc:
                log.warning("network %s (%s): %s", network.name, network.driver, exc)

    def _add(self, network: Network) -> None:
        self._store.add_network(network)
        self._networks[network.id] = network

    def _mine(self) -> builtins.list[ipam.AnyNet]:
        return [ipaddress.ip_network(s) for n in self._networks.values()
                for s in (n.subnet, n.subnet6) if s]

    async def _occupied(self) -> builtins.list[ipam.AnyNet]:
        return self._mine() + list(await self._backend.occupied_subnets())

    # ---- Docker's verbs ----
    async def create(self, request: NetworkCreate) -> Network:
        check_name("network", request.name)
        if "/" in request.name:
            # A network's name is a path component of the CLI's and compose's references.
            raise InvalidArgument(f"invalid network name {request.name!r}: it may not contain \"/\"")
        if request.name in BUILTIN_DRIVERS:
            raise Forbidden(f"{request.name} is a pre-defined network and cannot be created")
        if request.driver in SINGLETONS:
            # libnetwork's global-scope drivers with a single pre-defined instance.
            raise Forbidden(f'only one instance of "{request.driver}" network is allowed')
        if request.driver == "overlay" and self.swarm_check is not None:
            self.swarm_check()  # Docker's 503 outside a swarm
        driver = await self.drivers.get(request.driver or "bridge")
        await driver.check()
        if any(n.name == request.name for n in self._networks.values()):
            raise AlreadyExists(f"network with name {request.name} already exists")
        async with self._lock:
            network = await self._plan(request)
            self._add(network)
            try:
                await driver.create_network(network)
                self._store.save_network(network)  # with what the driver filled in
            except BaseException:
                self._store.delete_network(network.id)
                self._networks.pop(network.id, None)
                await self._addressing.release_pools(network)
                raise
        log.info("created network %s (%s, %s)", network.name, network.id[:12], network.subnet)
        self._emit(network, "create")
        return network

    async def _plan(self, request: NetworkCreate) -> Network:
        _check_mtu(request.options.get("com.docker.network.driver.mtu"))
        driver = request.driver or "bridge"
        network_id = _new_id()
        bridge = ""
        if driver in ("bridge", "overlay"):
            bridge = request.options.get(BRIDGE_NAME_OPTION) or f"dy-{network_id[:12]}"
            if len(bridge) > 15:
                raise InvalidArgument(f"bridge name {bridge} is longer than 15 characters")
            if any(n.bridge == bridge for n in self._networks.values()):
                raise AlreadyExists(f"bridge name {bridge} is already in use")
        routed = list(await self._backend.occupied_subnets())
        pools = await self._addressing.plan(request, self._mine(), routed, network_id)
        # moby: a macvlan or ipvlan network without a parent link reaches nothing outside.
        internal = request.internal or (driver in ("macvlan", "ipvlan")
                                        and not request.options.get("parent"))
        return Network(id=network_id, name=request.name, driver=driver,
                       created=now_rfc3339(), attachable=request.attachable, ingress=request.ingress,
                       subnet=pools.subnet, gateway=pools.gateway, ip_range=pools.ip_range,
                       internal=internal, ipv6=request.ipv6, labels=dict(request.labels),
                       options=dict(request.options), bridge=bridge, aux_addresses=pools.aux,
                       ipam_options=dict(request.ipam_options), user_subnet=bool(request.subnet),
                       subnet6=pools.subnet6, gateway6=pools.gateway6,
                       ipam_driver=request.ipam_driver, pool_ids=pools.pool_ids)

    def inspect(self, ref: str) -> Network:
        """Docker's lookup: full ID, then name, then a unique ID prefix."""
        if ref in self._networks:
            return self._networks[ref]
        for network in self._networks.values():
            if network.name == ref:
                return network
        matches = [n for n in self._networks.values() if n.id.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise NotFound(f"network {ref} is ambiguous ({len(matches)} matches found based on ID prefix)")
        raise NotFound(f"network {ref} not found")

    def list(self) -> builtins.list[Network]:
        return sorted(self._networks.values(), key=lambda n: n.created)

    def endpoints(self, network: Network | None = None,
                  container_id: str | None = None) -> builtins.list[Endpoint]:
        return [e for e in self._endpoints.values()
                if (network is None or e.network_id == network.id)
                and (container_id is None or e.container_id == container_id)]

    async def remove(self, ref: str) -> None:
        network = self.inspect(ref)
        if network.builtin:
            raise Forbidden(f"{network.name} is a pre-defined network and cannot be removed")
        users = self.endpoints(network)
        if users:
            raise InUse(f"error while removing network: network {network.name} id {network.id} "
                        "has active endpoints")
        async with self._lock:
            await self._remove_from_driver(network)
            self._store.delete_network(network.id)
            self._networks.pop(network.id, None)
            await self._addressing.release_pools(network)
        log.info("removed network %s (%s)", network.name, network.id[:12])
        self._emit(network, "destroy")

    async def _remove_from_driver(self, network: Network) -> None:
        try:
            driver = await self.drivers.get(network.driver)
        except NotFound as exc:
            # A plugin that is gone cannot be asked; its network must still be removable.
            log.warning("removing network %s: %s", network.name, exc)
            return
        await driver.remove_network(network)

    def _emit(self, network: Network, action: str, container_id: str = "") -> None:
        # moby's LogNetworkEventWithAttributes: name and type, and the container for (dis)connect.
        attributes = {"name": network.name, "type": network.driver}
        if container_id:
            attributes["container"] = container_id
        self._events.publish("network", action, network.id, attributes)

    async def prune(self, labels: Sequence[str] = ()) -> builtins.list[str]:
        deleted: builtins.list[str] = []
        for network in list(self._networks.values()):
            if network.builtin or self.endpoints(network) or not labels_match(network.labels, labels):
                continue
            with contextlib.suppress(NotFound, InUse):
                await self.remove(network.id)
                deleted.append(network.name)
        return deleted

    # ---- endpoints of containers ----
    async def make_sandbox(self, container_id: str) -> str:
        """A container's sandbox without endpoints yet (see :meth:`join`); :meth:`leave` removes it."""
        return await self._backend.create_sandbox(container_id)

    async def join(self, container_id: str, name: str, requests: Sequence[EndpointRequest],
                   ports: Sequence[PortBinding], *, short_id: str = "", source: str = "",
                   sandbox: str = "") -> str:
        """Make the container's sandbox (or adopt ``source``, an existing netns, or take
        ``sandbox``, one :meth:`make_sandbox` made) and its endpoints; returns the sandbox path.
        On failure nothing of it is left, the sandbox included."""
        async with AsyncExitStack() as stack:
            if sandbox:
                stack.push_async_callback(self.leave, container_id)
            networks = [self.inspect(r.network) for r in requests]
            if not sandbox:
                sandbox = await self._backend.create_sandbox(container_id, source=source)
                stack.push_async_callback(self.leave, container_id)
            for index, (request, network) in enumerate(zip(requests, networks, strict=True)):
                await self._attach(network, request, container_id=container_id, name=name,
                                   sandbox=sandbox, ifname=f"eth{index}",
                                   ports=ports if index == 0 else (), gateway=index == 0,
                                   short_id=short_id)
            await self._serve_dns(container_id)
            stack.pop_all()
        return sandbox

    async def connect(self, container_id: str, name: str, sandbox: str, request: EndpointRequest,
                      *, short_id: str = "") -> Endpoint:
        """``docker network connect`` of a running container: one more endpoint in its sandbox."""
        network = self.inspect(request.network)
        mine = self.endpoints(container_id=container_id)
        if any(e.network_id == network.id for e in mine):
            raise AlreadyExists(f"endpoint with name {name} already exists in network {network.name}")
        used = {e.ifname for e in mine}
        ifname = next(f"eth{i}" for i in range(len(used) + 1) if f"eth{i}" not in used)
        endpoint = await self._attach(network, request, container_id=container_id, name=name,
                                      sandbox=sandbox, ifname=ifname, ports=(),
                                      gateway=not mine, short_id=short_id)
        await self._serve_dns(container_id)
        return endpoint

    async def _attach(self, network: Network, request: EndpointRequest, *, container_id: str,
                      name: str, sandbox: str, ifname: str, ports: Sequence[PortBinding],
                      gateway: bool, short_id: str) -> Endpoint:
        if not network.connectable:
            raise InvalidArgument(f"container cannot be connected to network {network.name}")
        check_endpoint_request(network, request)
        endpoint_id = _new_id()
        if network.ipam_driver == "default":
            peers = self.endpoints(network)
            ip, ip6 = self._addressing.allocate(network, request, [e.ip for e in peers],
                                                [e.ip6 for e in peers])
        else:
            ip, ip6 = await self._addressing.request(network, request)
        dns_names = [name, *request.aliases] + ([short_id] if short_id else [])
        endpoint = Endpoint(
            id=endpoint_id, network_id=network.id, container_id=container_id, container_name=name,
            ip=ip, mac=ipam.check_mac(request.mac) if request.mac else ipam.mac_of(ip),
            ifname=ifname, veth=f"dyv{endpoint_id[:8]}", sandbox=sandbox,
            aliases=list(request.aliases), dns_names=dns_names if network.has_dns else [],
            links=_links(request.links), ports=list(ports), gateway_endpoint=gateway, ip6=ip6)
        # Recorded before the first await so a concurrent start cannot take the same address.
        self._endpoints[endpoint.id] = endpoint
        try:
            endpoint.ports = await (await self.drivers.get(network.driver)).attach(network, endpoint)
        except BaseException:
            self._endpoints.pop(endpoint.id, None)
            await self._addressing.release(network, ip, ip6)
            raise
        self._store.save_endpoint(endpoint)
        self._emit(network, "connect", container_id)
        return endpoint

    async def disconnect(self, container_id: str, network_ref: str) -> None:
        network = self.inspect(network_ref)
        found = [e for e in self.endpoints(network, container_id)]
        if not found:
            raise NotFound(f"container {container_id} is not connected to network {network.name}")
        for endpoint in found:
            await self._detach(network, endpoint)

    async def leave(self, container_id: str) -> None:
        """Tear down every endpoint and the sandbox of a container; best effort, never raises for
        a part that is already gone, so exit, removal and restore can all call it."""
        await self._resolver.stop(container_id)
        for endpoint in self.endpoints(container_id=container_id):
            network = self._networks.get(endpoint.network_id)
            if network is not None:
                await self._detach(network, endpoint)
            else:
                self._forget(endpoint)
        try:
            await self._backend.remove_sandbox(container_id)
        except DockyardError as exc:
            log.warning("removing the sandbox of %s: %s", container_id[:12], exc)

    async def _detach(self, network: Network, endpoint: Endpoint) -> None:
        try:
            await (await self.drivers.get(network.driver)).detach(network, endpoint)
        except DockyardError as exc:
            log.warning("detaching %s from %s: %s", endpoint.container_id[:12], network.name, exc)
        self._forget(endpoint)
        await self._addressing.release(network, endpoint.ip, endpoint.ip6)
        self._emit(network, "disconnect", endpoint.container_id)

    def _forget(self, endpoint: Endpoint) -> None:
        self._endpoints.pop(endpoint.id, None)
        self._store.delete_endpoint(endpoint.id)

    # ---- names ----
    def rename(self, container_id: str, old: str, new: str) -> None:
        """``docker rename`` of a running container: its endpoints answer to the new name."""
        for endpoint in self.endpoints(container_id=container_id):
            endpoint.container_name = new
            if endpoint.dns_names:
                endpoint.dns_names = [new if n == old else n for n in endpoint.dns_names]
            self._store.save_endpoint(endpoint)

    async def _serve_dns(self, container_id: str) -> None:
        mine = self.endpoints(container_id=container_id)
        if not any(self._networks[e.network_id].has_dns for e in mine if e.network_id in self._networks):
            return
        try:
            await self._resolver.serve(container_id, mine[0].sandbox, self.lookup)
        except DockyardError as exc:
            log.warning("embedded DNS for %s: %s", container_id[:12], exc)

    def lookup(self, container_id: str, name: str) -> NameAnswer:
        """What the embedded resolver of ``container_id`` answers for ``name``: names and aliases
        of containers on the same user networks, this container's --link aliases, else forward
        (or refuse when every network of the container is internal)."""
        wanted = name.rstrip(".").lower()
        addresses: builtins.list[str] = []
        mine = self.endpoints(container_id=container_id)
        for endpoint in mine:
            network = self._networks.get(endpoint.network_id)
            if network is None or not network.has_dns:
                continue
            if self.service_names is not None:
                addresses += self.service_names(network.id, wanted)
            peers = self.endpoints(network)
            target = endpoint.links.get(wanted)
            for peer in peers:
                names = {n.lower() for n in peer.dns_names}
                if wanted in names or (target is not None and peer.container_name == target):
                    addresses += [a for a in (peer.ip, peer.ip6) if a]
        if addresses:
            return NameAnswer(addresses=tuple(dict.fromkeys(addresses)))
        networks = [self._networks[e.network_id] for e in mine if e.network_id in self._networks]
        if not networks or all(n.internal for n in networks) or not self._upstreams:
            return NameAnswer(refuse=True)
        return NameAnswer(forward=self._upstreams)

    async def reserve_address(self, network_ref: str) -> str:
        """An address of the network held out of allocation (a swarm service's VIP): no endpoint
        gets it, even one asking for it with ``--ip``."""
        network = self.inspect(network_ref)
        address = await self._addressing.reserve(network, [e.ip for e in self.endpoints(network)])
        self._store.save_network(network)
        return address

    async def release_address(self, network_ref: str, address: str) -> None:
        try:
            network = self.inspect(network_ref)
        except NotFound:
            return
        await self._addressing.unreserve(network, address)
        self._store.save_network(network)

    def default_gateway(self) -> str:
        """The default bridge's address: what ``--add-host x:host-gateway`` means."""
        return self.inspect(DEFAULT_BRIDGE).gateway


def check_endpoint_request(network: Network, request: EndpointRequest) -> None:
    """Docker's create-time checks of an endpoint config."""
    if request.ip6 and not network.subnet6:
        raise InvalidArgument("user specified IP address is supported only when connecting to "
                              "networks with user configured subnets")
    if request.ip and not network.user_subnet:
        raise InvalidArgument("user specified IP address is supported only when connecting to "
                              "networks with user configured subnets")
    if request.aliases and not network.has_dns:
        raise InvalidArgument("network-scoped alias is supported only for containers in user "
                              "defined networks")
    if request.mac:
        ipam.check_mac(request.mac)
    if request.gw_priority:
        # The gateway comes from the container's first network here; moby's priorities are not kept.
        raise InvalidArgument("EndpointSettings.GwPriority is not supported by this engine")


def _links(specs: Sequence[str]) -> dict[str, str]:
    result: dict[str, str] = {}
    for spec in specs:
        target, _, alias = spec.partition(":")
        target = target.strip("/").split("/")[-1]
        alias = (alias or target).strip("/").split("/")[-1]
        result[alias.lower()] = target
    return result


def _check_mtu(value: str | None) -> None:
    """``-o com.docker.network.driver.mtu``: applied to the bridge and every veth of the network."""
    if value is None:
        return
    if not value.isdigit() or not 68 <= int(value) <= 65535:
        raise InvalidArgument(f"invalid MTU {value!r}: an integer from 68 to 65535")

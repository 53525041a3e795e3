"""Service networking: which networks a task joins, its DNS names, and published ports.

Each task joins the networks of its template (the default bridge when it names none), answering
on them to the service's name and to ``tasks.<service>`` through the embedded DNS. Ports
published in ``ingress`` mode listen on the host and spread connections round-robin over the
service's running tasks; ``host`` mode ports bind the task container's own port. A task that is
shutting down leaves the set of backends before its container is stopped.
"""

from __future__ import annotations

import builtins
import ipaddress
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from dockyard.core.swarm import specs
from dockyard.core.swarm.model import Service, Task, TaskState
from dockyard.core.swarm.state import SwarmState
from dockyard.errors import DockyardError, NotFound

if TYPE_CHECKING:
    from dockyard.core.networks.service import NetworkService

log = logging.getLogger(__name__)

Backends = Callable[[], builtins.list[tuple[str, int]]]
_DYNAMIC = range(30000, 32768)  # swarmkit's dynamic published port range


class IngressPublisher(Protocol):
    """Listens on a host port and relays each connection to one of ``backends()``."""

    async def publish(self, key: str, port: int, backends: Backends) -> None: ...

    async def unpublish(self, key: str) -> None: ...

    async def close(self) -> None: ...


class VirtualIPs(Protocol):
    """A service's virtual IP on one network, load-balanced over ``backends`` (task addresses)."""

    async def open(self) -> None: ...

    async def set(self, key: str, bridge: str, vip: str, backends: builtins.list[str]) -> None: ...

    async def remove(self, key: str, bridge: str, vip: str) -> None: ...

    async def close(self) -> None:
        """Remove every VIP rule (the table goes)."""
        ...


class ServiceNetworks:
    def __init__(self, state: SwarmState, networks: NetworkService | None,
                 publisher: IngressPublisher | None, vips: VirtualIPs | None = None) -> None:
        self.state = state
        self._networks = networks
        self._publisher = publisher
        self._vips = vips
        self._balanced: dict[str, builtins.list[str]] = {}  # VIP key -> backends applied
        if networks is not None:
            networks.service_names = self.answer
        self._listening: dict[str, tuple[str, int, int]] = {}  # key -> (service, published, target)
        self._leaving: set[str] = set()

    # ---- ports, when a spec is recorded ----
    def plan(self, service: Service, new_spec: dict[str, Any] | None) -> None:
        """Fill in the published ports of ``new_spec`` (or the service's own spec); refuse a port
        another service publishes."""
        spec = new_spec if new_spec is not None else service.spec
        endpoint = spec.get("EndpointSpec") or {}
        taken = {int(p["PublishedPort"]): other for other in self.state.services.values()
                 if other.id != service.id for p in other.ports if p.get("PublishMode") == "ingress"}
        ports: builtins.list[dict[str, Any]] = []
        for port in endpoint.get("Ports") or []:
            proto = str(port.get("Protocol") or "tcp")
            mode = str(port.get("PublishMode") or "ingress")
            target = int(port.get("TargetPort") or 0)
            if not 0 < target < 65536:
                raise specs.invalid("EndpointSpec: port target must be between 1 and 65535")
            if mode == "ingress" and proto != "tcp":
                raise specs.invalid(f"EndpointSpec: {proto} ingress ports are not supported by this engine")
            published = int(port.get("PublishedPort") or 0)
            if mode == "ingress":
                if published in taken:
                    other = taken[published]
                    raise specs.invalid(f"port '{published}' is already in use by service '{other.name}' "
                                        f"({other.id}) as an ingress port")
                if not published:
                    used = set(taken) | {int(p["PublishedPort"]) for p in ports}
                    published = next(p for p in _DYNAMIC if p not in used)
            ports.append({"Protocol": proto, "TargetPort": target, "PublishedPort": published,
                          "PublishMode": mode})
        service.ports = ports

    # ---- tasks ----
    def task_networks(self, service: Service, task: Task) -> builtins.list[tuple[str, builtins.list[str]]]:
        """(network, DNS aliases) for each network the task joins; the first carries its ports."""
        result = []
        for attachment in task.spec.get("Networks") or []:
            target = str(attachment.get("Target") or "")
            name = target
            if self._networks is not None:
                try:
                    name = self._networks.inspect(target).name
                except NotFound as exc:
                    raise NotFound(f"network {target} not found") from exc
            # The service's own names are answered by answer() below, from the orchestrator's
            # view, so a task that is stopping drops out of DNS before it stops.
            aliases = [str(a) for a in attachment.get("Aliases") or [] if a != service.name]
            result.append((name, aliases))
        return result

    def host_ports(self, service: Service) -> dict[str, builtins.list[dict[str, str]]]:
        bindings: dict[str, builtins.list[dict[str, str]]] = {}
        for port in service.ports:
            if port["PublishMode"] == "host":
                key = f"{port['TargetPort']}/{port['Protocol']}"
                bindings.setdefault(key, []).append(
                    {"HostIp": "", "HostPort": str(port["PublishedPort"] or "")})
        return bindings

    def leaving(self, task: Task) -> None:
        self._leaving.add(task.id)

    def _backends(self, service_id: str, target: int) -> Backends:
        def pick() -> builtins.list[tuple[str, int]]:
            result = []
            for task in self.state.tasks_of(service_id):
                if (task.desired_state != "running" or task.task_state != TaskState.RUNNING
                        or task.id in self._leaving or not task.container_id):
                    continue
                ip = self._ip_of(task.container_id)
                if ip:
                    result.append((ip, target))
            return result
        return pick

    def _ip_of(self, container_id: str) -> str:
        if self._networks is None:
            return ""
        endpoints = self._networks.endpoints(container_id=container_id)
        return endpoints[0].ip if endpoints else ""

    # ---- virtual IPs ----
    def answer(self, network_id: str, name: str) -> builtins.list[str]:
        """The embedded DNS's answer on one of a service's networks: the service's name gives its
        VIP (every running task with ``endpoint_mode: dnsrr``), ``tasks.<name>`` every running task."""
        for service in self.state.services.values():
            wanted = service.name.lower()
            if name == f"tasks.{wanted}" or (name == wanted and _dnsrr(service)):
                return self._addresses(service, network_id)
            if name == wanted:
                return [v["Addr"].split("/")[0] for v in service.virtual_ips if v["NetworkID"] == network_id]
        return []

    async def open(self) -> None:
        if self._vips is not None:
            await self._vips.open()
        self._balanced.clear()

    async def close(self, *, keep: bool) -> None:
        """Daemon shutdown keeps the VIPs of running services (their tasks keep running)."""
        if self._vips is not None and not keep:
            await self._vips.close()

    async def _balance(self) -> None:
        if self._vips is None or self._networks is None:
            return
        for service in list(self.state.services.values()):
            if _dnsrr(service):
                continue
            for attachment in service.template.get("Networks") or []:
                try:
                    network = self._networks.inspect(str(attachment.get("Target") or ""))
                except NotFound:
                    continue
                vip = await self._vip_of(service, network.id, network.subnet)
                backends = sorted(self._addresses(service, network.id))
                key = f"{service.id}{network.id[:12]}"
                if self._balanced.get(key) == backends:
                    continue
                await self._vips.set(key, network.bridge, vip, backends)
                self._balanced[key] = backends

    async def _vip_of(self, service: Service, network_id: str, subnet: str) -> str:
        for entry in service.virtual_ips:
            if entry["NetworkID"] == network_id:
                return entry["Addr"].split("/")[0]
        assert self._networks is not None
        net = ipaddress.ip_network(subnet)
        # Reserved in the network's IPAM (from the top down), so no container's --ip takes it.
        address = await self._networks.reserve_address(network_id)
        service.virtual_ips.append({"NetworkID": network_id, "Addr": f"{address}/{net.prefixlen}"})
        self.state.stamp(service)
        return address

    def _addresses(self, service: Service, network_id: str) -> builtins.list[str]:
        assert self._networks is not None
        result = []
        for task in self.state.tasks_of(service.id):
            if (task.desired_state != "running" or task.task_state != TaskState.RUNNING
                    or task.id in self._leaving or not task.container_id):
                continue
            result += [e.ip for e in self._networks.endpoints(container_id=task.container_id)
                       if e.network_id == network_id]
        return result

    async def _unbalance(self, service: Service) -> None:
        if self._vips is None or self._networks is None:
            return
        for entry in service.virtual_ips:
            key = f"{service.id}{entry['NetworkID'][:12]}"
            self._balanced.pop(key, None)
            try:
                bridge = self._networks.inspect(entry["NetworkID"]).bridge
            except NotFound:
                continue
            await self._vips.remove(key, bridge, entry["Addr"].split("/")[0])
            await self._networks.release_address(entry["NetworkID"], entry["Addr"].split("/")[0])

    async def sync(self) -> None:
        """Listen on every ingress port of every service, and on nothing else; point every VIP
        at the running tasks."""
        try:
            await self._balance()
        except DockyardError as exc:
            log.warning("updating service VIPs: %s", exc)
        if self._publisher is None:
            return
        wanted = {f"{s.id}/{p['PublishedPort']}": (s.id, int(p["PublishedPort"]), int(p["TargetPort"]))
                  for s in self.state.services.values() for p in s.ports if p["PublishMode"] == "ingress"}
        for key in [k for k in self._listening if self._listening[k] != wanted.get(k)]:
            await self._publisher.unpublish(key)
            self._listening.pop(key, None)
        for key, (service_id, published, target) in wanted.items():
            if key in self._listening:
                continue
            try:
                await self._publisher.publish(key, published, self._backends(service_id, target))
            except DockyardError as exc:
                log.warning("publishing port %d: %s", published, exc)
                continue
            self._listening[key] = (service_id, published, target)

    async def ensure_ingress(self) -> None:
        """The routing-mesh network ``docker swarm init`` makes (``docker network ls`` shows it)."""
        from dockyard.core.networks.model import NetworkCreate

        if self._networks is None or any(n.ingress for n in self._networks.list()):
            return
        try:
            await self._networks.create(NetworkCreate(name="ingress", driver="overlay", ingress=True))
        except DockyardError as exc:
            log.warning("creating the ingress network: %s", exc)

    async def release(self, service: Service) -> None:
        await self._unbalance(service)
        for key in [k for k, v in self._listening.items() if v[0] == service.id]:
            if self._publisher is not None:
                await self._publisher.unpublish(key)
            self._listening.pop(key, None)

    async def remove_all(self) -> None:
        for service in self.state.services.values():
            await self._unbalance(service)
        await self.close(keep=False)
        if self._publisher is not None:
            for key in list(self._listening):
                await self._publisher.unpublish(key)
        self._listening.clear()
        self._leaving.clear()
        if self._networks is None:
            return
        for network in self._networks.list():
            if network.driver == "overlay":
                try:
                    await self._networks.remove(network.id)
                except DockyardError as exc:
                    log.warning("removing swarm network %s: %s", network.name, exc)


def _dnsrr(service: Service) -> bool:
    return bool((service.spec.get("EndpointSpec") or {}).get("Mode") == "dnsrr")

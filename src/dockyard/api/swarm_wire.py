"""Swarm objects as Docker's JSON: Swarm, Node, Service, Task, Secret, Config, and the swarm part
of ``/info``. Specs are stored in Docker's shape already; this adds what the daemon reports."""

from __future__ import annotations

import base64
import platform
from typing import Any

from dockyard import __version__
from dockyard.core.networks.service import NetworkService
from dockyard.core.swarm.model import Blob, Cluster, Node, Service, Task
from dockyard.core.swarm.specs import with_defaults
from dockyard.core.swarm.swarm import Swarm
from dockyard.core.system import HostFacts


def _meta(obj: Cluster | Node | Service | Task | Blob) -> dict[str, Any]:
    return {"ID": obj.id, "Version": {"Index": obj.version}, "CreatedAt": obj.created,
            "UpdatedAt": obj.updated}


def cluster_json(cluster: Cluster, *, tokens: bool) -> dict[str, Any]:
    data = {**_meta(cluster), "Spec": cluster.spec,
            "TLSInfo": {"TrustRoot": "", "CertIssuerSubject": "", "CertIssuerPublicKey": ""},
            "RootRotationInProgress": False, "DefaultAddrPool": cluster.default_addr_pool,
            "SubnetSize": cluster.subnet_size, "DataPathPort": cluster.data_path_port}
    if tokens:
        data["JoinTokens"] = {"Worker": cluster.worker_token, "Manager": cluster.manager_token}
    return data


def node_json(node: Node, cluster: Cluster, facts: HostFacts, hostname: str) -> dict[str, Any]:
    return {**_meta(node), "Spec": node.spec,
            "Description": {
                "Hostname": hostname,
                "Platform": {"Architecture": platform.machine(), "OS": "linux"},
                "Resources": {"NanoCPUs": facts.cpus * 1_000_000_000, "MemoryBytes": facts.memory},
                "Engine": {"EngineVersion": __version__, "Plugins": [
                    {"Type": "Log", "Name": "json-file"}, {"Type": "Network", "Name": "bridge"},
                    {"Type": "Network", "Name": "overlay"}, {"Type": "Volume", "Name": "local"}]},
                "TLSInfo": {"TrustRoot": "", "CertIssuerSubject": "", "CertIssuerPublicKey": ""}},
            "Status": {"State": "ready", "Addr": cluster.node_addr},
            "ManagerStatus": {"Leader": True, "Reachability": "reachable",
                              "Addr": f"{cluster.node_addr}:2377"}}


def service_json(service: Service, *, defaults: bool, status: dict[str, int] | None) -> dict[str, Any]:
    spec = with_defaults(service.spec) if defaults else service.spec
    endpoint_spec = (spec.get("EndpointSpec") or {"Mode": "vip"})
    data: dict[str, Any] = {**_meta(service), "Spec": spec,
                            "Endpoint": {"Spec": endpoint_spec}}
    if service.ports:
        data["Endpoint"]["Ports"] = service.ports
    if service.virtual_ips:
        data["Endpoint"]["VirtualIPs"] = service.virtual_ips
    if service.previous_spec is not None:
        data["PreviousSpec"] = with_defaults(service.previous_spec) if defaults else service.previous_spec
    if service.update_status is not None:
        data["UpdateStatus"] = service.update_status
    if status is not None:
        data["ServiceStatus"] = status
    return data


def task_json(task: Task, networks: NetworkService | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"Timestamp": task.timestamp, "State": task.state, "Message": task.message,
                              "PortStatus": {}}
    if task.err:
        status["Err"] = task.err
    if task.container_id:
        status["ContainerStatus"] = {"ContainerID": task.container_id, "PID": task.pid,
                                     "ExitCode": task.exit_code or 0}
    data = {**_meta(task), "Labels": task.labels, "Spec": task.spec, "ServiceID": task.service_id,
            "Slot": task.slot, "NodeID": task.node_id, "Status": status,
            "DesiredState": task.desired_state}
    if networks is not None and task.container_id:
        data["NetworksAttachments"] = [_attachment(networks, e.network_id, e.ip)
                                       for e in networks.endpoints(container_id=task.container_id)]
    return data


def _attachment(networks: NetworkService, network_id: str, ip: str) -> dict[str, Any]:
    """A task's address on one network, as ``NetworksAttachments`` lists it."""
    network = networks.inspect(network_id)
    return {"Network": {"ID": network.id, "Spec": {"Name": network.name, "Labels": network.labels,
                                                   "DriverConfiguration": {"Name": network.driver},
                                                   "Scope": network.scope, "Attachable": network.attachable}},
            "Addresses": [f"{ip}/{network.prefixlen}"]}


def blob_json(blob: Blob, data: bytes | None = None) -> dict[str, Any]:
    spec = dict(blob.spec)
    if data is not None:  # configs only: Docker shows a config's data, never a secret's
        spec["Data"] = base64.b64encode(data).decode()
    return {**_meta(blob), "Spec": spec}


def info_json(swarm: Swarm | None) -> dict[str, Any]:
    """``/info``'s ``Swarm``: inactive outside a swarm, the cluster and its one node inside."""
    state = swarm.state if swarm is not None else None
    if state is None or state.cluster is None:
        return {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": False,
                "Error": "", "RemoteManagers": None}
    cluster = state.cluster
    data: dict[str, Any] = {"NodeID": cluster.node_id, "NodeAddr": cluster.node_addr,
                            "LocalNodeState": state.local_state, "ControlAvailable": not state.locked,
                            "Error": "", "RemoteManagers": [{"NodeID": cluster.node_id,
                                                             "Addr": f"{cluster.node_addr}:2377"}]}
    if not state.locked:
        data.update({"Nodes": 1, "Managers": 1, "Cluster": cluster_json(cluster, tokens=False)})
    return data

"""Placement on the one node: constraints, max replicas per node and resource reservations.

A task that cannot be placed stays ``pending`` with swarmkit's ``no suitable node (…)`` error
until something changes (a node label, the spec), as a swarm with no fitting node behaves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from dockyard.core.swarm import specs
from dockyard.core.swarm.model import Node

_CONSTRAINT = re.compile(r"^\s*([\w.\-]+)\s*(==|!=)\s*(.+?)\s*$")


@dataclass(frozen=True, slots=True)
class NodeFacts:
    hostname: str
    nano_cpus: int
    memory: int


def _value(key: str, node: Node, facts: NodeFacts) -> str | None:
    labels: dict[str, str] = node.spec.get("Labels") or {}
    fixed = {"node.id": node.id, "node.hostname": facts.hostname,
             "node.role": str(node.spec.get("Role") or "manager"), "node.platform.os": "linux",
             "node.platform.arch": _arch()}
    if key in fixed:
        return fixed[key]
    for prefix in ("node.labels.", "engine.labels."):
        if key.startswith(prefix):
            return labels.get(key[len(prefix):]) if prefix == "node.labels." else None
    raise specs.invalid(f"constraint expected one operator from ==, != (unknown key {key})")


def _arch() -> str:
    import platform

    return platform.machine()


def check_constraints(constraints: list[str]) -> None:
    for constraint in constraints:
        if not _CONSTRAINT.match(constraint):
            raise specs.invalid(f"invalid constraint: {constraint!r}: constraint expected one operator "
                                "from ==, !=")


def unplaceable(template: dict[str, Any], node: Node, facts: NodeFacts, running_on_node: int) -> str:
    """Why a new task of this template cannot go on ``node`` ("" when it can)."""
    placement = template.get("Placement") or {}
    for constraint in placement.get("Constraints") or []:
        match = _CONSTRAINT.match(constraint)
        if match is None:
            return "no suitable node (invalid constraint)"
        key, op, wanted = match.groups()
        actual = _value(key, node, facts)
        if (actual == wanted) != (op == "=="):
            return "no suitable node (scheduling constraints not satisfied on 1 node)"
    limit = int(placement.get("MaxReplicas") or 0)
    if limit and running_on_node >= limit:
        return "no suitable node (max replicas per node limit exceed)"
    reservations = (template.get("Resources") or {}).get("Reservations") or {}
    if int(reservations.get("NanoCPUs") or 0) > facts.nano_cpus or \
            int(reservations.get("MemoryBytes") or 0) > facts.memory:
        return "no suitable node (insufficient resources on 1 node)"
    return ""

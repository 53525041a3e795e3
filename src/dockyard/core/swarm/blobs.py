"""Secrets and configs: ``docker secret`` and ``docker config``.

Both are named data encrypted at rest with the swarm's data key (keys.py). A secret's data never
leaves the daemon except as a file inside a task; a config's data is shown by inspect, as Docker
shows it. Only labels may change after create, and neither can be removed while a service uses it.
"""

from __future__ import annotations

import builtins
import logging
from typing import Any

from dockyard.core.labels import labels_match
from dockyard.core.swarm import specs
from dockyard.core.swarm.keys import open_sealed, seal
from dockyard.core.swarm.model import Blob
from dockyard.core.swarm.state import SwarmState, find, new_object_id
from dockyard.errors import InvalidArgument

log = logging.getLogger(__name__)

Filters = dict[str, list[str]]


class BlobService:
    """The verbs of one kind, ``secret`` or ``config``, plus the task-side read of both."""

    def __init__(self, state: SwarmState, kind: str) -> None:
        self.state = state
        self.kind = kind

    def _all(self, kind: str | None = None) -> builtins.list[Blob]:
        return [b for b in self.state.blobs.values() if b.kind == (kind or self.kind)]

    def create(self, spec: dict[str, Any], data: bytes) -> Blob:
        self.state.manager()
        spec = {k: v for k, v in spec.items() if k != "Data"}
        specs.validate_blob(self.kind, spec, data)
        if any(b.name == spec["Name"] for b in self._all()):
            raise specs.already_exists(f"{self.kind} {spec['Name']} already exists")
        assert self.state.key is not None
        spec.setdefault("Labels", {})
        blob = Blob(kind=self.kind, id=new_object_id(), version=0, created="", updated="", spec=spec,
                    data=seal(self.state.key, data))
        self.state.blobs[blob.id] = blob
        self.state.stamp(blob, created=True)
        self.state.events.publish(self.kind, "create", blob.id, {"name": blob.name})
        return blob

    def inspect(self, ref: str) -> Blob:
        self.state.manager()
        return find(self._all(), ref, self.kind, lambda b: b.name)

    def data(self, blob: Blob) -> bytes:
        assert self.state.key is not None
        return open_sealed(self.state.key, blob.data)

    def list(self, filters: Filters | None = None) -> builtins.list[Blob]:
        self.state.manager()
        filters = filters or {}
        for key in filters:
            if key not in ("id", "label", "name", "names"):
                raise InvalidArgument(f"invalid filter '{key}'")
        result = []
        for blob in self._all():
            if "id" in filters and not any(blob.id.startswith(v) for v in filters["id"]):
                continue
            if "name" in filters and not any(blob.name.startswith(v) for v in filters["name"]):
                continue
            if "names" in filters and blob.name not in filters["names"]:
                continue
            if "label" in filters and not labels_match(blob.spec.get("Labels") or {}, filters["label"]):
                continue
            result.append(blob)
        return sorted(result, key=lambda b: b.created)

    def update(self, ref: str, *, version: int, spec: dict[str, Any]) -> None:
        from dockyard.core.swarm.cluster import out_of_sequence

        blob = self.inspect(ref)
        if version != blob.version:
            raise out_of_sequence()
        given = {k: v for k, v in spec.items() if k not in ("Labels", "Data")}
        kept = {k: v for k, v in blob.spec.items() if k != "Labels"}
        if spec.get("Data") or {k: v for k, v in given.items() if v} != {k: v for k, v in kept.items() if v}:
            raise specs.invalid("only updates to Labels are allowed")
        blob.spec["Labels"] = dict(spec.get("Labels") or {})
        self.state.stamp(blob)
        self.state.events.publish(self.kind, "update", blob.id, {"name": blob.name})

    def remove(self, ref: str) -> None:
        blob = self.inspect(ref)
        users = sorted({s.name for s in self.state.services.values()
                        if any(r.get(f"{self.kind.capitalize()}ID") == blob.id for r in _references(
                            s.template, self.kind))})
        if users:
            noun = "service" if len(users) == 1 else "services"
            raise specs.invalid(f"{self.kind} '{blob.name}' is in use by the following {noun}: "
                                f"{', '.join(users)}")
        self.state.blobs.pop(blob.id, None)
        self.state.store.delete(blob)
        self.state.events.publish(self.kind, "remove", blob.id, {"name": blob.name})

    # ---- for services and tasks ----
    def check_references(self, template: dict[str, Any]) -> None:
        """Every secret and config a service names exists (swarmkit's create-time check)."""
        for kind in ("secret", "config"):
            known = {b.id: b for b in self._all(kind)}
            for ref in _references(template, kind):
                ref_id = str(ref.get(f"{kind.capitalize()}ID") or "")
                name = str(ref.get(f"{kind.capitalize()}Name") or "")
                if ref_id not in known:
                    raise specs.invalid(f"{kind} not found: {name or ref_id}")
                file = ref.get("File") or {}
                if kind == "secret" and not file.get("Name") and not name:
                    raise specs.invalid("malformed secret reference")

    def task_items(self, template: dict[str, Any]) -> builtins.list[tuple[str, dict[str, Any], bytes]]:
        items = []
        for kind in ("secret", "config"):
            for ref in _references(template, kind):
                blob = self.state.blobs.get(str(ref.get(f"{kind.capitalize()}ID") or ""))
                if blob is not None:
                    items.append((kind, ref, self.data(blob)))
        return items


def _references(template: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    container = template.get("ContainerSpec") or {}
    refs: list[dict[str, Any]] = container.get("Secrets" if kind == "secret" else "Configs") or []
    return refs



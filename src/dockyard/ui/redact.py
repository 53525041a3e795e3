"""What the browser must never see: secret values in a container's config, secret and config data,
registry credentials.

Environment variables whose name says they hold a secret (``*PASSWORD*``, ``*SECRET*``, ``*TOKEN*``,
``*_KEY``, …) keep their name and lose their value; swarm secrets never carry ``Spec.Data`` out.
"""

from __future__ import annotations

import re
from typing import Any

MASK = "••••••"
_SECRET_NAME = re.compile(r"(PASS|SECRET|TOKEN|CREDENTIAL|PRIVATE|API_?KEY|AUTH|_KEY$|^KEY$)", re.I)


def env_entry(entry: str) -> str:
    name, sep, _value = entry.partition("=")
    return f"{name}={MASK}" if sep and _SECRET_NAME.search(name) else entry


def container(inspect: dict[str, Any]) -> dict[str, Any]:
    """A container's inspect with secret-looking environment values masked."""
    config = inspect.get("Config")
    if isinstance(config, dict) and isinstance(config.get("Env"), list):
        config = dict(config, Env=[env_entry(str(e)) for e in config["Env"]])
        inspect = dict(inspect, Config=config)
    return inspect


def secret(item: dict[str, Any]) -> dict[str, Any]:
    spec = item.get("Spec")
    if isinstance(spec, dict) and "Data" in spec:
        item = dict(item, Spec={k: v for k, v in spec.items() if k != "Data"})
    return item

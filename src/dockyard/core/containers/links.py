"""Legacy links' environment: what ``--link db:alias`` puts into a container on the default bridge.

The variables follow moby's ``daemon/links``: ``ALIAS_PORT`` for the lowest exposed port,
``ALIAS_PORT_<port>_<PROTO>`` (with ``_ADDR``, ``_PORT``, ``_PROTO``) for each port, and for a run
of consecutive ports ``_START``/``_END`` entries instead, ``ALIAS_NAME=/<parent>/<alias>`` and
``ALIAS_ENV_<var>`` for the linked container's own environment (less ``HOME`` and ``PATH``). On user
networks links are names in the embedded DNS only, as in Docker.
"""

from __future__ import annotations

from collections.abc import Iterable


def _ports(exposed: Iterable[str]) -> list[tuple[int, str]]:
    result = []
    for spec in exposed:
        port, _, proto = spec.partition("/")
        if port.isdigit():
            result.append((int(port), (proto or "tcp").lower()))
    # moby sorts by number, tcp before other protocols of the same number.
    return sorted(set(result), key=lambda p: (p[0], p[1] != "tcp", p[1]))


def _contiguous_end(ports: list[tuple[int, str]], i: int) -> int:
    """Index of the last port of the run of consecutive numbers (same protocol) starting at ``i``."""
    j = i
    while j + 1 < len(ports) and ports[j + 1] == (ports[j][0] + 1, ports[i][1]):
        j += 1
    return j


def link_env(alias: str, parent: str, ip: str, exposed: Iterable[str], child_env: Iterable[str]) -> list[str]:
    """The variables of one link; ``parent`` is the linking container's name without its slash."""
    prefix = alias.upper().replace("-", "_")
    ports = _ports(exposed)
    env: list[str] = []
    if ports:
        port, proto = ports[0]
        env.append(f"{prefix}_PORT={proto}://{ip}:{port}")
    i = 0
    while i < len(ports):
        port, proto = ports[i]
        key = f"{prefix}_PORT_{port}_{proto.upper()}"
        j = _contiguous_end(ports, i)
        if j > i + 1:
            last = ports[j][0]
            env += [f"{key}_START={proto}://{ip}:{port}", f"{key}_ADDR={ip}", f"{key}_PROTO={proto}",
                    f"{key}_PORT_START={port}", f"{key}_END={proto}://{ip}:{last}", f"{key}_PORT_END={last}"]
            i = j + 1
            continue
        env += [f"{key}={proto}://{ip}:{port}", f"{key}_ADDR={ip}", f"{key}_PORT={port}",
                f"{key}_PROTO={proto}"]
        i += 1
    env.append(f"{prefix}_NAME=/{parent}/{alias}")
    for entry in child_env:
        name, sep, value = entry.partition("=")
        if sep and name not in ("HOME", "PATH"):
            env.append(f"{prefix}_ENV_{name}={value}")
    return env

"""Subnets for tests that name one: the first of a given size, from a hint on, that no route of the
host covers. A CI host may route private ranges of its own (a cloud VPC's 10.x); a test's bridge
must not take them over, and the test must not depend on them being free."""

from __future__ import annotations

import ipaddress
import json
import subprocess


def _host_routes() -> list[ipaddress.IPv4Network]:
    out = subprocess.run(["ip", "-j", "-4", "route", "show", "table", "all"], capture_output=True,
                         text=True, check=True, timeout=10).stdout
    routes = []
    for route in json.loads(out or "[]"):
        dst = route.get("dst", "default")
        if dst != "default" and route.get("type", "unicast") in ("unicast", "blackhole"):
            routes.append(ipaddress.IPv4Network(dst, strict=False))
    return routes


def spare_subnet(hint: str) -> ipaddress.IPv4Network:
    """``hint`` itself when the host routes nothing inside or around it, else the next free one of
    the same size."""
    wanted = ipaddress.IPv4Network(hint)
    routes = _host_routes()
    candidate = wanted
    while candidate.network_address < ipaddress.IPv4Address("10.255.255.255"):
        if not any(candidate.overlaps(route) for route in routes):
            return candidate
        candidate = ipaddress.IPv4Network((int(candidate.network_address) + candidate.num_addresses,
                                           candidate.prefixlen))
    raise AssertionError(f"no subnet the size of {hint} is free of the host's routes")

"""What an idle daemon loads (dockyard/imports.py and the lazy imports it serves): aiohttp (only
the plugin transport's client uses it), pyroute2, dnslib, msgpack and zstandard stay out until
used, and each still works, whole, when something asks for it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit


def _run(code: str) -> dict[str, object]:
    """``code`` in a fresh interpreter (this one has imported everything); it prints a JSON object."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


_LOADED = "json.dumps({m: m in sys.modules for m in WATCHED})"
_WATCHED = ["aiohttp.client", "aiohttp.helpers", "multidict", "yarl", "attr", "email.message",
            "http.client", "urllib.request", "pyroute2.iproute.linux", "pyroute2.ndb", "dnslib.dns",
            "msgpack._cmsgpack",
            "zstandard.backend_c", "wsproto"]


def test_the_serving_daemon_imports_only_what_serving_needs() -> None:
    """Every module of the daemon's packages, imported, leaves the watched ones out: only
    backends/pyroute2_iproute.py imports pyroute2, and the API's server (dockyard/api/web) needs
    neither aiohttp nor what aiohttp.web would bring (attrs, email, http.client, urllib.request)."""
    loaded = _run(f"""
import importlib, json, pkgutil, sys
WATCHED = {_WATCHED!r}
import dockyard.daemon
import dockyard.api, dockyard.backends, dockyard.core
for package in (dockyard.api, dockyard.backends, dockyard.core):
    for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if module.name not in ("dockyard.backends.pyroute2_iproute", "dockyard.api.metrics"):
            importlib.import_module(module.name)
print({_LOADED})""")
    assert loaded == dict.fromkeys(_WATCHED, False)


def test_a_deferred_package_is_whole_when_asked() -> None:
    found = _run("""
import json, sys
import dockyard.backends.plugins.transport as transport
before = "aiohttp.client" in sys.modules
session = transport.aiohttp.ClientSession.__module__
from dockyard.backends.pyroute2_iproute import IPRoute
from pyroute2 import IPRoute as Public
print(json.dumps({"before": before, "after": "aiohttp.client" in sys.modules, "session": session,
                  "pyroute2": Public is IPRoute}))""")
    assert found == {"before": False, "after": True, "session": "aiohttp.client", "pyroute2": True}


def test_the_lazy_modules_work_on_first_use() -> None:
    found = _run("""
import json, sys
import dockyard.backends.dns as dns, dockyard.backends.logdrivers.fluentd as fluentd
import dockyard.core.distribution.verify as verify
packed = fluentd.msgpack.packb([1])
print(json.dumps({"dnslib": dns.dnslib.QTYPE.A, "msgpack": fluentd.msgpack.unpackb(packed),
                  "zstd": verify.zstandard.ZstdDecompressor().decompress(
                      verify.zstandard.ZstdCompressor().compress(b"ok")).decode()}))""")
    assert found == {"dnslib": 1, "msgpack": [1], "zstd": "ok"}

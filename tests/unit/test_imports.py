"""What an idle daemon loads (dockyard/imports.py and the lazy imports it serves): the client half
of aiohttp, pyroute2, dnslib, msgpack, zstandard and frozenlist's C++ build stay out until used,
and each still works, whole, when something asks for it."""

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
_WATCHED = ["aiohttp.client", "aiohttp.connector", "pyroute2.iproute.linux", "pyroute2.ndb",
            "dnslib.dns", "msgpack._cmsgpack", "zstandard.backend_c", "frozenlist._frozenlist"]


def test_the_serving_daemon_imports_only_what_serving_needs() -> None:
    """Every module of the daemon's packages, imported, leaves the watched ones out: only
    backends/pyroute2_iproute.py imports pyroute2, and nothing asks aiohttp for its client."""
    loaded = _run(f"""
import importlib, json, pkgutil, sys
WATCHED = {_WATCHED!r}
import dockyard.daemon
dockyard.daemon.light_server_imports()
import dockyard.api, dockyard.backends, dockyard.core
for package in (dockyard.api, dockyard.backends, dockyard.core):
    for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if module.name not in ("dockyard.backends.pyroute2_iproute", "dockyard.api.metrics"):
            importlib.import_module(module.name)
print({_LOADED})""")
    assert loaded == dict.fromkeys(_WATCHED, False)


def test_a_deferred_package_is_whole_when_asked() -> None:
    found = _run("""
import json, sys, re
import dockyard.daemon
dockyard.daemon.light_server_imports()
from aiohttp import web
import aiohttp
before = "aiohttp.client" in sys.modules
from aiohttp import ClientSession, TCPConnector
version = re.search(r'__version__ = "([^"]+)"', open(aiohttp.__file__).read()).group(1)
from dockyard.backends.pyroute2_iproute import IPRoute
from pyroute2 import IPRoute as Public
print(json.dumps({"before": before, "after": "aiohttp.client" in sys.modules,
                  "session": ClientSession.__module__, "version": [aiohttp.__version__, version],
                  "web": aiohttp.web is web, "pyroute2": Public is IPRoute,
                  "all": "ClientSession" in aiohttp.__all__}))""")
    assert found == {"before": False, "after": True, "session": "aiohttp.client",
                     "version": [found["version"][0]] * 2,  # type: ignore[index]
                     "web": True, "pyroute2": True, "all": True}


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


def test_frozenlist_keeps_working_without_its_extension() -> None:
    found = _run("""
import json, os, sys
import dockyard.daemon
dockyard.daemon.light_server_imports()
from aiohttp import web
from frozenlist import FrozenList
signals = FrozenList([1]); signals.freeze()
try:
    signals.append(2)
    frozen = False
except RuntimeError:
    frozen = True
print(json.dumps({"frozen": frozen, "env": "FROZENLIST_NO_EXTENSIONS" in os.environ,
                  "app": type(web.Application().on_startup).__name__}))""")
    assert found == {"frozen": True, "env": False, "app": "Signal"}

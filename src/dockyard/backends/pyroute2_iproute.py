"""pyroute2's rtnetlink pieces, and the only import of pyroute2 in the daemon: for macvlan and
802.1q links and host links moved into sandboxes, imported by those when they first run (the
start path and the default bridge use backends/rtnetlink.py).

``import pyroute2`` runs the package's ``__init__``, which loads every subsystem (NDB, IPDB,
conntrack, ipset, nl80211, unittest.mock...): ~10 MB of an idle daemon for the ~5 MB we use. The
package is registered bare instead, so only the submodules below run.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from types import ModuleType


def _bare_package(name: str) -> None:
    # A package imported normally (a test, a tool) is used as it is.
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.submodule_search_locations is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    package = ModuleType(name)
    package.__spec__ = spec
    package.__path__ = list(spec.submodule_search_locations)
    package.__file__ = spec.origin
    package.__package__ = name
    sys.modules[name] = package


_bare_package("pyroute2")

from pyroute2.iproute.linux import IPRoute  # noqa: E402
from pyroute2.netlink.exceptions import NetlinkError  # noqa: E402

# pyroute2 logs every netlink message at DEBUG: far too much for a daemon's debug log.
logging.getLogger("pyroute2").setLevel(logging.WARNING)

__all__ = ["IPRoute", "NetlinkError"]

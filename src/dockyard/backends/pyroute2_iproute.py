"""pyroute2's rtnetlink pieces, and the only import of pyroute2 in the daemon: for macvlan and
802.1q links and host links moved into sandboxes, imported by those when they first run (the
start path and the default bridge use backends/rtnetlink.py).

``import pyroute2`` runs the package's ``__init__``, which loads every subsystem (NDB, IPDB,
conntrack, ipset, nl80211, unittest.mock...): ~10 MB for the ~5 MB we use. The package's
``__init__`` is deferred instead (dockyard/imports.py), so only the submodules below run.
"""

from __future__ import annotations

import logging

from dockyard.imports import defer_package_init

defer_package_init("pyroute2")

from pyroute2.iproute.linux import IPRoute  # noqa: E402
from pyroute2.netlink.exceptions import NetlinkError  # noqa: E402

# pyroute2 logs every netlink message at DEBUG: far too much for a daemon's debug log.
logging.getLogger("pyroute2").setLevel(logging.WARNING)

__all__ = ["IPRoute", "NetlinkError"]

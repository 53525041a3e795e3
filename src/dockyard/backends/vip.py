"""Service virtual IPs: an address on the service network's bridge whose connections nftables
spreads over the service's tasks (this kernel has no IPVS, which dockerd balances with).

A table of its own (``<our table>_vip``) beside the network table, so rebuilding either never
touches the other. Each service network has a chain holding one rule, ``ip daddr VIP dnat to numgen
inc mod N map { 0 : task1, … }``; a change of backends replaces that rule in one ``nft -f``
transaction (flush and add together), so a connection never sees half a set. The VIP is a /32 on
the bridge, so the host answers ARP for it and routes the packets through the nat hook; the
network table's hairpin rule masquerades them back into the bridge.
"""

from __future__ import annotations

import asyncio
import logging
import re

from dockyard.backends.nftables import NftFirewall
from dockyard.errors import Unavailable

log = logging.getLogger(__name__)

_TIMEOUT = 10.0
_BODY = """\
  chain prerouting {
    type nat hook prerouting priority dstnat - 10; policy accept;
  }
  chain output {
    type nat hook output priority -110; policy accept;
  }
"""


def _chain(key: str) -> str:
    if not re.fullmatch(r"[a-z0-9]+", key):
        raise Unavailable(f"invalid VIP key {key!r}")
    return f"vip_{key}"


class NftVirtualIPs:
    def __init__(self, table: str) -> None:
        self.table = table
        self._nft = NftFirewall(table)
        self._chains: set[str] = set()

    async def open(self) -> None:
        t = self.table
        await self._nft.apply(f"add table ip {t}\ndelete table ip {t}\ntable ip {t} {{\n{_BODY}}}\n")
        self._chains.clear()

    async def set(self, key: str, bridge: str, vip: str, backends: list[str]) -> None:
        chain, t = _chain(key), self.table
        lines = []
        if chain not in self._chains:
            await _ip("addr", "replace", f"{vip}/32", "dev", bridge)
            lines += [f"add chain ip {t} {chain}",
                      f"add rule ip {t} prerouting ip daddr {vip} jump {chain}",
                      f"add rule ip {t} output ip daddr {vip} jump {chain}"]
        lines.append(f"flush chain ip {t} {chain}")
        if backends:
            targets = ", ".join(f"{i} : {ip}" for i, ip in enumerate(backends))
            spread = f"numgen inc mod {len(backends)} map {{ {targets} }}"
            lines.append(f"add rule ip {t} {chain} dnat to {spread}")
        await self._nft.apply("\n".join(lines) + "\n")
        self._chains.add(chain)

    async def remove(self, key: str, bridge: str, vip: str) -> None:
        chain = _chain(key)
        self._chains.discard(chain)
        await _ip("addr", "del", f"{vip}/32", "dev", bridge)
        # The jump rules go with a rebuild of the base chains' contents: cheap, and atomic.
        await self._nft.apply(f"flush chain ip {self.table} {chain}\n")

    async def close(self) -> None:
        await self._nft.delete()


async def _ip(*argv: str) -> None:
    proc = await asyncio.create_subprocess_exec("ip", *argv, stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.PIPE)
    try:
        _, err = await asyncio.wait_for(proc.communicate(), _TIMEOUT)
    except TimeoutError as exc:
        proc.kill()
        raise Unavailable("ip did not answer in time") from exc
    if proc.returncode != 0:
        log.debug("ip %s: %s", " ".join(argv), err.decode(errors="replace").strip())

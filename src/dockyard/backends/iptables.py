"""ACCEPT rules for our bridges in iptables' FORWARD chain, when that chain exists.

In nftables every table's base chain must accept a packet; dockerd sets the iptables FORWARD
policy to DROP, which would cut our containers off however our own table decides. Docker itself
documents inserting ACCEPT rules for other bridges there. Without an iptables filter table
(nothing uses iptables) there is nothing to do and nothing is created.

Each rule's comment names its daemon (``dockyard:<our nftables table>``), so a daemon starting
after a ``kill -9`` can tell its own leftovers — rules of bridges no network needs any more —
from another daemon's, and remove them. Rules of older versions carry the bare comment
``dockyard``: those are removed when their bridge no longer exists on the host at all.
"""

from __future__ import annotations

import asyncio
import logging
import shlex
import shutil
from collections.abc import Iterable

log = logging.getLogger(__name__)

TIMEOUT = 10.0
LEGACY_COMMENT = "dockyard"


class ForwardAccept:
    def __init__(self, comment: str) -> None:
        self._comment = comment

    def _rules(self, bridge: str, comment: str) -> list[list[str]]:
        return [["FORWARD", direction, bridge, "-m", "comment", "--comment", comment, "-j", "ACCEPT"]
                for direction in ("-i", "-o")]

    async def add(self, bridge: str) -> None:
        iptables = await _iptables()
        if iptables is None:
            return
        for rule in self._rules(bridge, self._comment):
            if not await _run([iptables, "-w", "-C", *rule], quiet=True):
                await _run([iptables, "-w", "-I", *rule])

    async def remove(self, bridge: str) -> None:
        iptables = await _iptables()
        if iptables is None:
            return
        for comment in (self._comment, LEGACY_COMMENT):
            for rule in self._rules(bridge, comment):
                await _delete_all(iptables, rule)

    async def sweep(self, wanted: Iterable[str], links: Iterable[str]) -> None:
        """Remove our rules of bridges not in ``wanted``, and legacy rules of bridges not in
        ``links`` (the host's link names)."""
        iptables = await _iptables()
        if iptables is None:
            return
        wanted, links = set(wanted), set(links)
        proc = await asyncio.create_subprocess_exec(iptables, "-w", "-S", "FORWARD",
                                                    stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.DEVNULL)
        out, _ = await asyncio.wait_for(proc.communicate(), TIMEOUT)
        for line in out.decode(errors="replace").splitlines():
            words = shlex.split(line)
            if words[:2] != ["-A", "FORWARD"] or "--comment" not in words:
                continue
            comment = words[words.index("--comment") + 1]
            bridge = next((words[i + 1] for i, w in enumerate(words[:-1]) if w in ("-i", "-o")), "")
            stale = ((comment == self._comment and bridge not in wanted)
                     or (comment == LEGACY_COMMENT and bridge not in links))
            if bridge and stale:
                log.info("removing a FORWARD accept rule left for %s", bridge)
                await _delete_all(iptables, words[1:])


async def _iptables() -> str | None:
    iptables, nft = shutil.which("iptables"), shutil.which("nft")
    if iptables is None or nft is None:
        return None
    # Asked of nft: iptables-nft would create its filter table merely by being listed.
    if not await _run([nft, "list", "chain", "ip", "filter", "FORWARD"], quiet=True):
        return None
    return iptables


async def _delete_all(iptables: str, rule: list[str]) -> None:
    while await _run([iptables, "-w", "-C", *rule], quiet=True):
        if not await _run([iptables, "-w", "-D", *rule]):
            return


async def _run(argv: list[str], *, quiet: bool = False) -> bool:
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.PIPE)
    try:
        _, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        log.warning("%s did not answer in time", argv[0])
        return False
    if proc.returncode != 0 and not quiet:
        log.warning("%s: %s", " ".join(argv), err.decode(errors="replace").strip())
    return proc.returncode == 0

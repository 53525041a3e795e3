"""Many API clients at once: creating, starting, waiting for and removing containers while others
stream ``/events`` and stats, with the daemon holding more than 1024 descriptors (idle keep-alive
connections), where a ``select()`` in the start path used to fail. Every operation must succeed and
leave nothing: containers, mounts, network namespaces, veths, nftables elements; the daemon's RSS
must come back near where it started.

The default run is small (30 clients); the issue's figure (100 clients, 20 event streams, 10 stats
streams) is the ``slow`` test.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conformance.daemon import Daemon

from .resources import holdings, open_fds, rss_kb

IDLE_CONNECTIONS = 1100  # past select()'s 1024 limit inside the daemon
RSS_SLACK_KB = 40 * 1024


async def _lifecycle(session: aiohttp.ClientSession, api: str, i: int, errors: list[str]) -> None:
    body: dict[str, Any] = {"Image": "busybox", "Cmd": ["sh", "-c", "echo hi"]}
    if i % 4 == 0:  # a quarter publish a port: nftables elements and a reserved host socket each
        body["ExposedPorts"] = {"80/tcp": {}}
        body["HostConfig"] = {"PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}}
    steps = (("POST", "/containers/create", body, 201), ("POST", "/containers/{id}/start", None, 204),
             ("POST", "/containers/{id}/wait", None, 200), ("DELETE", "/containers/{id}", None, 204))
    cid = ""
    for method, path, payload, want in steps:
        async with session.request(method, f"http://d{api}{path.format(id=cid)}", json=payload) as resp:
            text = await resp.text()
            if resp.status != want:
                errors.append(f"{method} {path}: {resp.status} {text.strip()}")
                return
            if path == "/containers/create":
                cid = json.loads(text)["Id"]
            if path.endswith("/wait") and json.loads(text).get("StatusCode") != 0:
                errors.append(f"container {cid[:12]} exited with {text.strip()}")


async def _stream(session: aiohttp.ClientSession, url: str, stop: asyncio.Event, counts: list[int],
                  enough: int = 0) -> None:
    """Count lines until ``stop``; with ``enough``, a stop waits (briefly) for that many."""
    async with session.get(url, timeout=aiohttp.ClientTimeout(total=None)) as resp:
        assert resp.status == 200, await resp.text()
        seen = 0
        try:
            while not stop.is_set() or seen < enough:
                try:
                    line = await asyncio.wait_for(resp.content.readline(), 0.5)
                except TimeoutError:
                    continue
                if not line:
                    break
                seen += 1
        finally:
            counts.append(seen)  # a stream cancelled after the grace still reports what it saw


async def _load(d: Daemon, *, clients: int, event_streams: int, stats_streams: int,
                sleepers: list[str]) -> Outcome:
    connector = aiohttp.UnixConnector(path=str(d.sock), limit=0)
    # Idle connections: each one a descriptor in the daemon for the whole run.
    idle = [socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) for _ in range(IDLE_CONNECTIONS)]
    for sock in idle:
        sock.connect(str(d.sock))
    await asyncio.sleep(0.5)  # accepted
    fds = open_fds(d.proc.pid) if d.proc else 0
    try:
        return await _clients(d, connector, clients=clients, event_streams=event_streams,
                              stats_streams=stats_streams, sleepers=sleepers, fds=fds)
    finally:
        for sock in idle:
            sock.close()


Outcome = tuple[list[str], list[int], list[int], int]  # errors, events per stream, stats per stream, fds


async def _clients(d: Daemon, connector: aiohttp.BaseConnector, *, clients: int, event_streams: int,
                   stats_streams: int, sleepers: list[str], fds: int) -> Outcome:
    async with aiohttp.ClientSession(connector=connector) as session:
        stop = asyncio.Event()
        event_counts: list[int] = []
        stats_counts: list[int] = []
        # The last lifecycle's events may still be on their way when it returns: each event stream
        # reads on after the stop until it has them all (or 15 s more, then the assert tells).
        streams = [asyncio.create_task(_stream(session, f"http://d{d.api}/events", stop, event_counts,
                                               enough=4 * clients))
                   for _ in range(event_streams)]
        streams += [asyncio.create_task(_stream(session, f"http://d{d.api}/containers/{cid}/stats?stream=1",
                                                stop, stats_counts))
                    for cid in sleepers[:stats_streams]]
        await asyncio.sleep(0.3)
        errors: list[str] = []
        await asyncio.gather(*(_lifecycle(session, d.api, i, errors) for i in range(clients)))
        stop.set()
        _, late = await asyncio.wait(streams, timeout=15)
        for task in late:
            task.cancel()
        await asyncio.gather(*streams, return_exceptions=True)
    return errors, event_counts, stats_counts, fds


def _run_load(d: Daemon, *, clients: int, event_streams: int, stats_streams: int) -> None:
    sleepers = [d.docker_ok("run", "-d", "busybox", "sleep", "600").strip() for _ in range(stats_streams)]
    # Warm up once (first start loads modules, makes the bridge), then take the baseline.
    d.docker_ok("run", "--rm", "-p", "127.0.0.1::80", "busybox", "true")
    before, rss_before = holdings(d), rss_kb(d.proc.pid if d.proc else 0)
    started = time.monotonic()
    errors, events, stats, fds = asyncio.run(_load(d, clients=clients, event_streams=event_streams,
                                                   stats_streams=stats_streams, sleepers=sleepers))
    elapsed = time.monotonic() - started
    assert errors == [], f"{len(errors)} of {clients} lifecycles failed: {errors[:5]}"
    assert fds > 1024, f"the daemon held only {fds} descriptors: the test would not catch select()"
    # Each lifecycle is at least create, start, die, destroy: every event stream saw them all.
    assert len(events) == event_streams and min(events) >= 4 * clients, events
    assert len(stats) == stats_streams and min(stats) >= 1, stats
    deadline = time.monotonic() + 20
    leaks: dict[str, object] = {}
    while time.monotonic() < deadline:
        leaks = holdings(d).leaks_against(before)
        if not leaks:
            break
        time.sleep(0.5)
    assert leaks == {}, f"left behind after the load: {leaks}"
    rss_after = rss_kb(d.proc.pid if d.proc else 0)
    print(f"{clients} lifecycles in {elapsed:.1f}s; RSS {rss_before // 1024} -> {rss_after // 1024} MB")
    assert rss_after - rss_before < RSS_SLACK_KB, f"RSS grew from {rss_before} to {rss_after} kB"
    for cid in sleepers:
        d.docker_ok("rm", "-f", cid)


def test_30_clients_with_streams_leave_nothing(daemon_factory: Any) -> None:
    _run_load(daemon_factory(), clients=30, event_streams=5, stats_streams=3)


@pytest.mark.slow
def test_100_clients_20_event_and_10_stats_streams(daemon_factory: Any, tmp_path: Path) -> None:
    _run_load(daemon_factory(), clients=100, event_streams=20, stats_streams=10)

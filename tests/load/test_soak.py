"""1,000 connect → join → produce → consume → disconnect cycles leave nothing behind."""

from __future__ import annotations

import asyncio
import gc
import itertools

import aiohttp
import psutil

from sfuctl.server.limits import Limits
from tests.conftest import start_server
from tests.load.helpers import eventually, session_group

PEERS = 1000
GROUP = 4
"""Peers per room: each consumes the other three."""
CONCURRENCY = 8
"""Rooms in session at once."""
RSS_GROWTH_LIMIT = 64 * 1024 * 1024
"""Generous: allocator arenas and caches settle over the first thousands of objects."""


def rss() -> int:
    gc.collect()
    return psutil.Process().memory_info().rss


async def test_soak_leaves_no_media_objects_rooms_or_memory_behind() -> None:
    limits = Limits(room_grace_seconds=0.2, requests_per_second=1000, request_burst=1000)
    running = await start_server(workers=2, limits=limits)
    pool, registry = running.sfu.pool, running.sfu.registry
    groups = itertools.count()
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:

            async def lane(rounds: int) -> None:
                for _ in range(rounds):
                    n = next(groups)
                    await session_group(http, running, f"soak-{n}", GROUP, polite=n % 2 == 0)

            warmup_groups = CONCURRENCY * 2
            await asyncio.gather(*(lane(2) for _ in range(CONCURRENCY)))
            before = rss()
            rounds = -(-(PEERS // GROUP - warmup_groups) // CONCURRENCY)  # rounded up
            await asyncio.gather(*(lane(rounds) for _ in range(CONCURRENCY)))
        done = next(groups)
        assert done * GROUP >= PEERS

        async def rooms_gone() -> bool:
            return not registry.all()

        await eventually(rooms_gone, what="the rooms map to empty after the grace period")
        for worker in pool.workers:
            dump = await worker.dump()
            assert dump["routerIds"] == [], dump
            handlers = dump["channelMessageHandlers"]
            assert handlers["channelRequestHandlers"] == [], handlers
            assert handlers["channelNotificationHandlers"] == [], handlers
            assert not worker.routers
        after = rss()
        worker_rss = [psutil.Process(w.pid).memory_info().rss for w in pool.workers]
        print(
            f"\nsoak: {done * GROUP} peer sessions; server RSS {before / 2**20:.1f} MiB -> "
            f"{after / 2**20:.1f} MiB ({(after - before) / 2**20:+.1f} MiB); "
            f"worker RSS {[round(r / 2**20, 1) for r in worker_rss]} MiB"
        )
        assert after - before < RSS_GROWTH_LIMIT
    finally:
        await running.stop()

"""A burst of node-to-node messages: they go out in a few pipelines, through one connection."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from sfuctl.server.cluster.cluster import Cluster
from sfuctl.server.cluster.settings import ClusterSettings
from tests.redis_server import RedisServer

BURST = 300
"""Messages queued at once (the consume phase of 300 peers), more than the pool's connections."""


async def test_a_burst_of_messages_goes_out_in_a_few_pipelines_and_keeps_redis_up(
    redis_server: RedisServer,
) -> None:
    settings = ClusterSettings(redis_url=redis_server.url, node_id="n1", epoch="e1", public_url="http://n1",
                               node_address="127.0.0.1", key=b"k" * 32, ttl=6.0)  # fmt: skip
    pool: Any = SimpleNamespace(workers=[])
    node = Cluster(settings, pool)
    await node.start()
    try:
        before = node.round_trips
        for n in range(BURST):
            node.send("n2:e2", "pipe-close", {"n": n})
        await asyncio.wait_for(node.writer.drain(), 10)
        assert node.available, "the burst was taken for Redis being unreachable"
        assert await node.redis.xlen("sfuctl:member:n2:e2:inbox") == BURST
        assert node.round_trips - before < 10, "one round trip per message"
    finally:
        await node.close()

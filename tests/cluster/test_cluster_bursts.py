"""A burst of node-to-node messages larger than the Redis client's connection pool."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from sfuctl.server.cluster.cluster import Cluster
from sfuctl.server.cluster.settings import ClusterSettings
from tests.redis_server import RedisServer

BURST = 300
"""More messages at once than the pool's 100 connections (the consume phase of 300 peers)."""


async def test_a_burst_of_messages_waits_for_a_connection_instead_of_marking_redis_down(
    redis_server: RedisServer,
) -> None:
    settings = ClusterSettings(redis_url=redis_server.url, node_id="n1", epoch="e1", public_url="http://n1",
                               node_address="127.0.0.1", key=b"k" * 32, ttl=6.0)  # fmt: skip
    pool: Any = SimpleNamespace(workers=[])
    node = Cluster(settings, pool)
    try:
        await node.redis.ping()
        node.available = True
        await asyncio.gather(*(node._send("n2:e2", "pipe-close", {"n": n}) for n in range(BURST)))
        assert node.available, "a full connection pool was taken for Redis being unreachable"
        assert await node.redis.xlen("sfuctl:member:n2:e2:inbox") == BURST
    finally:
        await node.redis.aclose()
        await node.reader.aclose()

"""What the cluster looks like, read from Redis for the REST API (``GET /nodes``, ``GET /rooms``)
and for placement (``POST /login``); read-only, so a node's view never changes the cluster."""

from __future__ import annotations

import time
from typing import Any

import orjson
import redis.asyncio as aioredis

from sfuctl.server.cluster import keys

PLACE_CPU_PERCENT = 85.0
"""A node hosting a room takes its next peers while its controller uses less of a core than this."""


def text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def live_nodes(redis: aioredis.Redis) -> list[dict[str, Any]]:
    """The nodes whose heartbeat has not expired: id, epoch, URL, node address, load."""
    now = time.time()
    ids = [text(n) for n in await redis.zrangebyscore(keys.nodes(), now, "+inf")]
    async with redis.pipeline(transaction=False) as pipe:
        for node_id in ids:
            pipe.hgetall(keys.node(node_id))
        found = await pipe.execute()
    nodes = []
    for node_id, fields in zip(ids, found, strict=True):
        if not fields:
            continue
        info = {text(k): text(v) for k, v in fields.items()}
        load = orjson.loads(info.get("load") or "{}")
        nodes.append({"node": node_id, "epoch": info.get("epoch"), "url": info.get("url"),
                      "address": info.get("address"), "load": load})  # fmt: skip
    return nodes


async def room_members(redis: aioredis.Redis, room_id: str) -> list[str]:
    """The live members (``node:epoch``) hosting the room."""
    return [text(m) for m in await redis.zrangebyscore(keys.room_nodes(room_id), time.time(), "+inf")]


async def room_peers(redis: aioredis.Redis, room_id: str) -> dict[str, int]:
    """Node id → the room's peers there."""
    members = await room_members(redis, room_id)
    async with redis.pipeline(transaction=False) as pipe:
        for member in members:
            pipe.hlen(keys.peers(room_id, member))
        counts = await pipe.execute()
    return {member.rsplit(":", 1)[0]: int(count) for member, count in zip(members, counts, strict=True)}


def choose(nodes: list[dict[str, Any]], hosting: dict[str, int]) -> dict[str, Any] | None:
    """The node for a room's next peer: the one with most of its peers (``hosting``) while its CPU
    is below ``PLACE_CPU_PERCENT`` (a room on one node needs no pipes between nodes: the cluster
    then costs only its Redis work), else the least-loaded (fewest peers, then CPU), where the
    room spans nodes. None without nodes."""
    if not nodes:
        return None
    fits = [
        n for n in nodes if hosting.get(n["node"], 0) > 0 and n["load"].get("cpu", 0.0) < PLACE_CPU_PERCENT
    ]
    if fits:
        return max(fits, key=lambda n: (hosting[n["node"]], -n["load"].get("cpu", 0.0), n["node"]))
    return min(nodes, key=lambda n: (n["load"].get("peers", 0), n["load"].get("cpu", 0.0), n["node"]))


async def cluster_rooms(redis: aioredis.Redis) -> dict[str, dict[str, Any]]:
    """Every room of the cluster: the nodes it is on and its peers there."""
    now = time.time()
    room_ids = [text(r) for r in await redis.zrangebyscore(keys.rooms(), now, "+inf")]
    async with redis.pipeline(transaction=False) as pipe:
        for room_id in room_ids:
            pipe.zrangebyscore(keys.room_nodes(room_id), now, "+inf")
        members = await pipe.execute()
    async with redis.pipeline(transaction=False) as pipe:
        for room_id, room_members in zip(room_ids, members, strict=True):
            for member in room_members:
                pipe.hlen(keys.peers(room_id, text(member)))
        counts = iter(await pipe.execute())
    result: dict[str, dict[str, Any]] = {}
    for room_id, room_members in zip(room_ids, members, strict=True):
        nodes = [{"node": text(m).rsplit(":", 1)[0], "peers": next(counts)} for m in room_members]
        if nodes:
            result[room_id] = {"nodes": nodes, "peers": sum(n["peers"] for n in nodes)}
    return result

"""The ordered writer: everything a node writes to the cluster (room messages with the state that
goes with them, messages to one node) goes through one queue, one Lua script call per batch, in
the order its peers acted. One call, not about five commands per message: the Redis client's
own cost per command (packing, a read with a timeout per reply) made each message cost ~100 us
of the node's CPU even batched, ~40 us as one script call."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from sfuctl.server.cluster import keys
from sfuctl.server.cluster.envelope import seal
from sfuctl.server.cluster.views import text

INBOX_MAXLEN = keys.STREAM_MAXLEN
"""Entries an inbox keeps (about): a reader that far behind loses the oldest (memory is bounded)."""

WRITE = """
local now, sender, maxlen, ttl, stream_ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local ids = {}
local i = 6
while i <= #ARGV do
  if ARGV[i] == 'room' then
    local order, members, sealed, nops = ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], tonumber(ARGV[i + 4])
    i = i + 5
    for _ = 1, nops do
      local n = tonumber(ARGV[i + 1])
      redis.call(ARGV[i], unpack(ARGV, i + 2, i + 1 + n))
      i = i + 2 + n
    end
    local nkeys = tonumber(ARGV[i])
    for k = i + 1, i + nkeys do redis.call('EXPIRE', ARGV[k], ttl) end
    i = i + 1 + nkeys
    local id = redis.call('XADD', order, 'MAXLEN', '1', '*', 'o', '')
    redis.call('EXPIRE', order, stream_ttl)
    for _, m in ipairs(redis.call('ZRANGEBYSCORE', members, now, '+inf')) do
      if m ~= sender then
        local inbox = ARGV[#ARGV - 1] .. m .. ARGV[#ARGV]
        redis.call('XADD', inbox, 'MAXLEN', '~', maxlen, '*', 'm', sealed, 'i', id)
        redis.call('EXPIRE', inbox, ttl)
      end
    end
    table.insert(ids, id)
  elseif ARGV[i] == 'to' then
    redis.call('XADD', ARGV[i + 1], 'MAXLEN', '~', maxlen, '*', 'm', ARGV[i + 2])
    redis.call('EXPIRE', ARGV[i + 1], ttl)
    i = i + 3
  else
    break
  end
end
return ids
"""
"""A batch of a node's writes in one call (one command, not five per message; atomic). A room
message (``room``): its state writes, the TTL of the keys they touch, its place in the room's
order (an id of the room's order stream, which keeps only its last entry), then a copy, with
that id, in the inbox of every other live member. A message to one member (``to``): its inbox.
The ids of the room messages, in order."""


@dataclass
class Outgoing:
    """A message to write: to a room (``room_id``) or to one member's inbox (``member``)."""

    kind: str
    data: dict[str, Any]
    room_id: str | None = None
    member: str | None = None
    ops: list[tuple[Any, ...]] | None = None
    """State writes that go with a room message: (Redis command, arguments...)."""
    on_id: Callable[[str], None] | None = None


class Writer:
    def __init__(self, redis: aioredis.Redis, key: bytes, member: str, ttl: float) -> None:
        self.redis = redis
        self.key = key
        self.member = member
        self.ttl = ttl
        self.queue: asyncio.Queue[Outgoing] = asyncio.Queue()
        self.script = redis.register_script(WRITE)
        self.calls = 0
        """Script calls made."""
        self.closing = False

    def put(self, item: Outgoing) -> None:
        self.queue.put_nowait(item)

    async def drain(self) -> None:
        """Until what was queued is written (or dropped, Redis being away)."""
        await self.queue.join()

    async def run(self, available: Callable[[], bool], down: Callable[[BaseException], None]) -> None:
        """Write batches while ``available``; else drop them (the sync after an outage carries the
        state instead); ``down`` is told of a Redis error."""
        while not self.closing:
            batch = [await self.queue.get()]
            await asyncio.sleep(0)  # what the rest of this loop iteration queues goes along
            while not self.queue.empty():
                batch.append(self.queue.get_nowait())
            try:
                if available():
                    await self.write(batch)
            except (RedisError, OSError) as error:
                down(error)
            finally:
                for _ in batch:
                    self.queue.task_done()

    async def write(self, batch: list[Outgoing], sender: str | None = None) -> None:
        """The batch in one script call (``WRITE``); ``sender``: another member's (a former run's)."""
        sender = sender or self.member
        ttl = int(self.ttl) + 1
        args: list[Any] = [time.time(), sender, INBOX_MAXLEN, ttl, ttl * keys.STREAM_TTL_FACTOR]
        rooms: list[Outgoing] = []
        for item in batch:
            if item.room_id is not None:
                room_id = item.room_id
                sealed = seal(self.key, sender, item.kind, {**item.data, "room": room_id})
                ops = item.ops or []
                args += ["room", keys.events(room_id), keys.room_nodes(room_id), sealed, len(ops)]
                for op in ops:
                    args += [op[0], len(op) - 1, *op[1:]]
                args += [2, keys.peers(room_id, sender), keys.producers(room_id, sender)]
                rooms.append(item)
            elif item.member is not None:
                args += ["to", keys.inbox(item.member), seal(self.key, sender, item.kind, item.data)]
        args += [keys.INBOX_PREFIX, keys.INBOX_SUFFIX]
        ids = await self.script(args=args)
        self.calls += 1
        for item, entry_id in zip(rooms, ids, strict=True):
            if item.on_id is not None:
                item.on_id(text(entry_id))

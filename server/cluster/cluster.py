"""This node in the cluster: its registration and heartbeat, the rooms it hosts, the reader of
its inbox; what it writes goes through its writer (writer.py).

Why Redis Streams, not pub/sub: a stream keeps its entries, so a node reads its messages in one
order from the id it had, and a short disconnect loses nothing; pub/sub drops what is published
while a subscriber is away and gives no id to resume from. Each node reads one stream, its inbox:
the script that writes a batch (``writer.WRITE``) appends a room message to the inbox of every node in
the room, with the id the room's order stream gives it, so every node sees a room's messages in
that order, and a node reads one key however many rooms it hosts (one XREAD over a stream per
room cost more to build than the messages it brought). Everything a node writes goes out in order
through its ``Writer``.

Failures: a node that stops heart-beating for ``ttl`` seconds is dead to the others (its keys
expire, and each node drops its peers and producers and closes the pipes to it: that bounds how
soon, ``ttl`` + one heartbeat). While Redis is unreachable nothing is declared dead, calls keep
their media, new cross-node work fails with ``unavailable`` and /health says ``degraded``; when it
answers again the node registers anew and sends every room its whole state (``sync``), which the
others reconcile against theirs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson
import psutil
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from sfuctl.server.cluster import keys, views
from sfuctl.server.cluster.envelope import BadMessage, open_sealed
from sfuctl.server.cluster.link import ClusterRoom, stream_id
from sfuctl.server.cluster.pipes import RemotePipes
from sfuctl.server.cluster.settings import ClusterSettings
from sfuctl.server.cluster.views import text
from sfuctl.server.cluster.writer import Outgoing, Writer
from sfuctl.server.media.errors import NotFoundError
from sfuctl.server.signaling.room import Unavailable

if TYPE_CHECKING:
    from sfuctl.server.media.pool import WorkerPool
    from sfuctl.server.signaling.room import Room

log = logging.getLogger("sfuctl.cluster")

REQUEST_TIMEOUT = 5.0
"""How long a node waits for another's answer to a pipe request."""
READ_BLOCK_MS = 1000
READ_COUNT = 1000
PUBLISH_TIMEOUT = 2.0
CLOSE_TIMEOUT = 2.0
POOL_SIZE = 20
"""Redis connections for the REST views and start-up (the writer and the reader use one each)."""

ATTACH = """
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[6])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[4])
redis.call('EXPIRE', KEYS[3], ARGV[6])
redis.call('SADD', KEYS[4], ARGV[4])
redis.call('EXPIRE', KEYS[4], ARGV[6])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
local out = {}
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[3], '+inf')) do
  if m ~= ARGV[1] then
    table.insert(out, m)
    table.insert(out, redis.call('HGETALL', ARGV[5] .. 'peers:' .. m))
    table.insert(out, redis.call('HGETALL', ARGV[5] .. 'producers:' .. m))
  end
end
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
local id = '0-0'
if #last > 0 then id = last[1][1] end
return {id, out}
"""
"""Join a room's members and read, in one step, the others' state and the stream position it is at."""


class ClusterStartError(Exception):
    """The node cannot join the cluster (Redis unreachable at start)."""

    hint = "start redis-server, or check --redis (SFUCTL_REDIS_URL)"


def pairs(flat: list[Any]) -> dict[str, Any]:
    return {text(flat[i]): orjson.loads(flat[i + 1]) for i in range(0, len(flat) - 1, 2)}


class Cluster:
    def __init__(self, settings: ClusterSettings, pool: WorkerPool) -> None:
        self.settings = settings
        self.pool = pool
        self.member = settings.member
        # a burst of messages (every peer consuming at once) waits, bounded, for one of the pool's
        # connections: a full pool is no reason to call Redis unreachable
        self.redis = aioredis.Redis.from_pool(
            aioredis.BlockingConnectionPool.from_url(
                settings.redis_url, max_connections=POOL_SIZE, timeout=REQUEST_TIMEOUT,
                socket_timeout=2.0, socket_connect_timeout=2.0,
            )
        )  # fmt: skip
        self.reader = aioredis.Redis.from_url(
            settings.redis_url, socket_timeout=READ_BLOCK_MS / 1000 + 3.0, socket_connect_timeout=2.0
        )
        self.links: dict[str, ClusterRoom] = {}
        self.available = False
        self.connected_since = 0.0
        self.dead: dict[str, float] = {}
        """Members found dead (their late messages are ignored), with when."""
        self.on_replace: Callable[[str, str], None] | None = None
        """Drops this node's connection of (room, user): the user joined again through another node."""
        self.on_admin: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]] | None = None
        """Runs another node's admin request (kick, mute...) on this node's peers; its answer."""
        self.on_close: Callable[[str, str], object] | None = None
        """Closes this node's room (room id, reason): an admin closed it through another node."""
        self._inbox_id = "$"
        self.writer = Writer(self.redis, settings.key, self.member, settings.ttl)
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loops: list[asyncio.Task[None]] = []
        self._closing = False
        self._attach = self.redis.register_script(ATTACH)
        self._process = psutil.Process()
        self._round_trips = 0
        self.node_count = 0
        """Live nodes of the cluster at the last heartbeat (this one included)."""

    # -- life ------------------------------------------------------------------------------------

    async def start(self) -> None:
        try:
            await self.redis.ping()
            await self._purge_previous()
            await self._beat()
            self._inbox_id = await self._last_id(keys.inbox(self.member))
        except (RedisError, OSError) as error:
            raise ClusterStartError(f"cannot reach Redis at {self.settings.redis_url}: {error}") from None
        self._up()
        loop = asyncio.get_running_loop()
        self._loops = [
            loop.create_task(self._heartbeat_loop()),
            loop.create_task(self._read_loop()),
            loop.create_task(self.writer.run(lambda: self.available, self._down)),
        ]
        log.info("joined the cluster", extra={"node": self.settings.node_id, "epoch": self.settings.epoch,
                                              "url": self.settings.public_url})  # fmt: skip

    async def close(self) -> None:
        """Flush what is queued (bounded), leave the cluster, stop. Rooms are closed before."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.writer.drain(), PUBLISH_TIMEOUT)
        self._closing = self.writer.closing = True
        tasks = [*self._loops, *self._tasks]
        for task in tasks:
            task.cancel()
        if tasks:  # bounded: the Redis client can turn a cancellation into an error it raises
            await asyncio.wait(tasks, timeout=CLOSE_TIMEOUT)
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            await asyncio.wait_for(self._unregister(), PUBLISH_TIMEOUT)
        await self.redis.aclose()
        await self.reader.aclose()

    @property
    def round_trips(self) -> int:
        """Redis calls made (a pipeline or a script call is one): for the benchmark and /metrics."""
        return self._round_trips + self.writer.calls

    async def _unregister(self) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(keys.member_rooms(self.member), keys.inbox(self.member))
            pipe.zrem(keys.nodes(), self.settings.node_id)
            await pipe.execute()
        # the node key only if it is still ours (not a newer incarnation's)
        epoch = await self.redis.hget(keys.node(self.settings.node_id), "epoch")
        if epoch is not None and text(epoch) == self.settings.epoch:
            await self.redis.delete(keys.node(self.settings.node_id))

    async def _purge_previous(self) -> None:
        """A previous incarnation of this node id (a crash, a quick restart): its rooms drop it now,
        and the other nodes are told (``gone``), so none of its state comes back as ours."""
        old = await self.redis.hget(keys.node(self.settings.node_id), "epoch")
        if old is None or text(old) == self.settings.epoch:
            return
        member = f"{self.settings.node_id}:{text(old)}"
        rooms = [text(r) for r in await self.redis.smembers(keys.member_rooms(member))]
        batch = [
            Outgoing("gone", {}, room_id=room_id, ops=[
                ("zrem", keys.room_nodes(room_id), member),
                ("del", keys.peers(room_id, member), keys.producers(room_id, member)),
            ])
            for room_id in rooms
        ]  # fmt: skip
        await self.writer.write(batch, sender=member)
        await self.redis.delete(keys.member_rooms(member), keys.inbox(member))
        log.info("removed the state of this node's previous run", extra={"node": member, "rooms": len(rooms)})

    async def _last_id(self, stream: str) -> str:
        last = await self.redis.xrevrange(stream, "+", "-", count=1)
        return text(last[0][0]) if last else "0-0"

    def _up(self) -> None:
        if not self.available:
            self.available = True
            self.connected_since = time.monotonic()
            log.info("Redis reachable", extra={"node": self.member})

    def _down(self, error: BaseException) -> None:
        if self.available:
            self.available = False
            log.warning("Redis unreachable: %s; calls go on, new cross-node work waits", error,
                        extra={"node": self.member})  # fmt: skip

    def status(self) -> dict[str, Any]:
        return {
            "node": self.settings.node_id,
            "epoch": self.settings.epoch,
            "url": self.settings.public_url,
            "redis": "up" if self.available else "down",
            "rooms": len(self.links),
            "nodes": self.node_count,
            **self.pipe_counts(),
        }

    def pipe_counts(self) -> dict[str, int]:
        totals = {"pipeTransports": 0, "pipedIn": 0, "pipedOut": 0}
        for link in self.links.values():
            for name, value in link.pipes.counts().items():
                totals[name] += value
        return totals

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- rooms -----------------------------------------------------------------------------------

    async def attach(self, room: Room) -> None:
        """A room opened on this node: join its members, read the others' state, follow its stream."""
        if not self.available:
            raise Unavailable("the cluster's Redis is unreachable; try again shortly")
        with contextlib.suppress(TimeoutError):  # this node's earlier writes (a `gone`) go first
            await asyncio.wait_for(self.writer.drain(), PUBLISH_TIMEOUT)
        pipes = RemotePipes(room, self.settings.node_address, self.request, self.send)
        link = ClusterRoom(room, self, pipes)
        now = time.time()
        try:
            result = await self._attach(
                keys=[keys.room_nodes(room.id), keys.events(room.id), keys.rooms(),
                      keys.member_rooms(self.member)],
                args=[self.member, now + self.settings.ttl, now, room.id, keys.room_prefix(room.id),
                      int(self.settings.ttl) + 1],
            )  # fmt: skip
        except (RedisError, OSError) as error:
            self._down(error)
            raise Unavailable("the cluster's Redis is unreachable; try again shortly") from None
        self._round_trips += 1
        last_id, members = text(result[0]), result[1]
        for i in range(0, len(members), 3):
            member = text(members[i])
            if member in self.dead:
                continue
            link.snapshot(member, pairs(members[i + 1]), pairs(members[i + 2]), last_id)
        link.last_id = last_id
        self.links[room.id] = link
        room.link = link
        link.follow_speakers()
        log.info("room linked", extra={"room": room.id, "nodes": len(members) // 3 + 1})

    def detached(self, link: ClusterRoom) -> None:
        room_id = link.room.id
        if self.links.get(room_id) is link:
            del self.links[room_id]
        ops: list[tuple[Any, ...]] = [
            ("zrem", keys.room_nodes(room_id), self.member),
            ("del", keys.peers(room_id, self.member), keys.producers(room_id, self.member)),
            ("srem", keys.member_rooms(self.member), room_id),
        ]
        self.publish(room_id, "gone", {}, ops)

    def replace(self, room_id: str, user_id: str) -> None:
        if self.on_replace is not None:
            self.on_replace(room_id, user_id)

    def close_room(self, room_id: str, reason: str) -> None:
        if self.on_close is not None:
            self.on_close(room_id, reason)

    # -- writing ---------------------------------------------------------------------------------

    def publish(
        self, room_id: str, kind: str, data: dict[str, Any], ops: list[tuple[Any, ...]],
        on_id: Callable[[str], None] | None = None,
    ) -> None:  # fmt: skip
        """Queue a room message (and the state writes that go with it) for the room's members."""
        self.writer.put(Outgoing(kind, data, room_id=room_id, ops=ops, on_id=on_id))

    def send(self, member: str, kind: str, data: dict[str, Any]) -> None:
        """Queue a message to one member's inbox, no answer expected (lost if Redis is down)."""
        if self.available:
            self.writer.put(Outgoing(kind, data, member=member))

    async def request(self, member: str, kind: str, data: dict[str, Any]) -> dict[str, Any]:
        """Ask another member and wait (bounded) for its answer."""
        if not self.available:
            raise Unavailable("the cluster's Redis is unreachable: no new media from other nodes now")
        if member in self.dead:
            raise Unavailable(f"node {member} is gone")
        rid = secrets.token_hex(8)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[rid] = future
        try:
            self.send(member, kind, {**data, "rid": rid})
            answer = await asyncio.wait_for(future, REQUEST_TIMEOUT)
        except TimeoutError:
            raise Unavailable(f"node {member} did not answer in {REQUEST_TIMEOUT:g} s") from None
        finally:
            self._pending.pop(rid, None)
        if not answer.get("ok"):
            message = str(answer.get("error") or "refused")
            if answer.get("code") == "not_found":
                raise NotFoundError(message)
            raise Unavailable(f"node {member}: {message}")
        result: dict[str, Any] = answer.get("data") or {}
        return result

    # -- reading ---------------------------------------------------------------------------------

    async def _read_loop(self) -> None:
        inbox = keys.inbox(self.member)
        while not self._closing:
            try:
                result: Any = await self.reader.xread({inbox: self._inbox_id}, count=READ_COUNT,
                                                      block=READ_BLOCK_MS)  # fmt: skip
            except (RedisError, OSError) as error:
                if self._closing:  # a cancelled read can come out as a connection error
                    return
                self._down(error)
                await asyncio.sleep(0.5)
                continue
            for _stream, entries in result or []:
                for entry_id, fields in entries:
                    self._inbox_id = entry_id
                    self._on_entry(fields)

    def _on_entry(self, fields: dict[Any, Any]) -> None:
        try:
            message = open_sealed(self.settings.key, fields.get(b"m") or b"")
        except BadMessage as error:
            log.warning("dropped a message that is not this cluster's: %s", error,
                        extra={"node": self.member})  # fmt: skip
            return
        order = fields.get(b"i")
        if order is None:
            self._on_inbox(message.sender, message.kind, message.data)
            return
        entry_id = text(order)
        link = self.links.get(str(message.data.get("room")))
        if link is None or message.sender == self.member or message.sender in self.dead:
            return
        if stream_id(entry_id) <= stream_id(link.last_id):
            return  # sent before this node (re)attached: its state was read then
        link.last_id = entry_id
        try:
            link.apply(message.sender, message.kind, message.data, entry_id)
        except Exception:
            log.exception("room message not applied", extra={"room": link.room.id, "node": message.sender})

    def _on_inbox(self, sender: str, kind: str, data: dict[str, Any]) -> None:
        if kind == "reply":
            future = self._pending.get(str(data.get("rid")))
            if future is not None and not future.done():
                future.set_result(data)
            return
        link = self.links.get(str(data.get("room")))
        if kind in ("pipe-open", "pipe-produce", "admin"):
            self._spawn(self._answer(sender, kind, data, link))
        elif link is None:
            return
        elif kind == "pipe-close":
            link.pipes.close_out(sender, data)
        elif kind in ("pipe-pause", "pipe-resume"):
            link.pipes.paused(str(data["producerId"]), str(data["peerRouter"]), kind == "pipe-pause")

    async def _answer(self, sender: str, kind: str, data: dict[str, Any], link: ClusterRoom | None) -> None:
        reply: dict[str, Any] = {"rid": data.get("rid")}
        try:
            if kind == "admin":
                if self.on_admin is None:
                    raise NotFoundError("this node takes no admin requests")
                result = await self.on_admin(data)
            elif link is None:
                raise NotFoundError(f"room {data.get('room')} is not on this node")
            elif kind == "pipe-open":
                result = await link.pipes.open_out(sender, data)
            else:
                result = await link.pipes.produce_out(sender, data)
            reply.update(ok=True, data=result)
        except NotFoundError as error:
            reply.update(ok=False, code="not_found", error=str(error))
        except Exception as error:
            log.warning("request %s from %s failed: %s", kind, sender, error)
            reply.update(ok=False, code="unavailable", error=str(error))
        self.send(sender, "reply", reply)

    # -- heartbeat and the other nodes' liveness ---------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        while not self._closing:
            await asyncio.sleep(self.settings.heartbeat)
            was = self.available
            try:
                await self._beat()
            except (RedisError, OSError) as error:
                self._down(error)
                continue
            self._up()
            if not was:
                await self._resync()

    def load(self) -> dict[str, Any]:
        rooms = [link.room for link in self.links.values()]
        workers = [
            {"pid": w.pid, "routers": len(w.routers),
             "transports": sum(len(r.transports) for r in w.routers.values())}
            for w in self.pool.workers
        ]  # fmt: skip
        transports = [t for w in self.pool.workers for r in w.routers.values() for t in r.transports.values()]
        consumers = sum(len(t.consumers) for t in transports)
        return {
            "peers": sum(len(room.peers) for room in rooms),
            "rooms": len(rooms),
            "consumers": consumers,
            "cpu": self._process.cpu_percent(None),
            "workers": workers,
        }

    async def _beat(self) -> None:
        ttl = int(self.settings.ttl) + 1
        now = time.time()
        deadline = now + self.settings.ttl
        node_id = self.settings.node_id
        watched = sorted({m for link in self.links.values() for m in link.members()} - {self.member})
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(keys.node(node_id), mapping={
                "epoch": self.settings.epoch, "url": self.settings.public_url,
                "address": self.settings.node_address, "load": orjson.dumps(self.load()),
            })  # fmt: skip
            pipe.expire(keys.node(node_id), ttl)
            pipe.zadd(keys.nodes(), {node_id: deadline})
            pipe.zremrangebyscore(keys.nodes(), "-inf", now)
            pipe.expire(keys.nodes(), ttl)
            pipe.zremrangebyscore(keys.rooms(), "-inf", now)
            pipe.expire(keys.inbox(self.member), ttl)
            if self.links:  # the room-wide sets once for all rooms, not once per room
                pipe.zadd(keys.rooms(), dict.fromkeys(self.links, deadline))
                pipe.expire(keys.rooms(), ttl)
                pipe.sadd(keys.member_rooms(self.member), *self.links)
            for room_id in self.links:
                pipe.zadd(keys.room_nodes(room_id), {self.member: deadline})
                pipe.expire(keys.room_nodes(room_id), ttl)
                pipe.expire(keys.peers(room_id, self.member), ttl)
                pipe.expire(keys.producers(room_id, self.member), ttl)
                pipe.expire(keys.events(room_id), ttl * keys.STREAM_TTL_FACTOR)
            pipe.expire(keys.member_rooms(self.member), ttl)
            pipe.zcount(keys.nodes(), now, "+inf")
            for member in watched:
                pipe.hget(keys.node(member.rsplit(":", 1)[0]), "epoch")
            results = await pipe.execute()
        self._round_trips += 1
        epochs = results[len(results) - len(watched) :] if watched else []
        self.node_count = int(results[len(results) - len(watched) - 1])
        settled = self.available and time.monotonic() - self.connected_since >= self.settings.ttl
        for member, epoch in zip(watched, epochs, strict=True):
            if epoch is not None and member.rsplit(":", 1)[1] == text(epoch):
                continue
            if settled:  # just after an outage every node re-registers first
                self._member_dead(member)
        cutoff = time.monotonic() - 600
        for member in [m for m, when in self.dead.items() if when < cutoff]:
            del self.dead[member]

    def _member_dead(self, member: str) -> None:
        log.warning("node gone: its peers leave their rooms", extra={"node": member})
        self.dead[member] = time.monotonic()
        for link in list(self.links.values()):
            link.member_gone(member)

    async def _resync(self) -> None:
        """After an outage: every room gets this node's whole state again (Redis may have lost it),
        and asks the others for theirs (a node back before them did not have them in the room)."""
        for link in list(self.links.values()):
            self.send_state(link, again=True)
        log.info("state sent again after the outage", extra={"node": self.member, "rooms": len(self.links)})

    def send_state(self, link: ClusterRoom, again: bool) -> None:
        """This node's part of the room as a ``sync`` (and in its hashes); ``again``: the others
        answer with theirs."""
        room_id = link.room.id
        state = link.state()
        peers, producers = keys.peers(room_id, self.member), keys.producers(room_id, self.member)
        ops: list[tuple[Any, ...]] = [("del", peers, producers)]
        for user, name in state["peers"].items():
            ops.append(("hset", peers, user, orjson.dumps({"userId": user, "userName": name})))
        for producer_id, info in state["producers"].items():
            ops.append(("hset", producers, producer_id, orjson.dumps(info)))
        self.publish(room_id, "sync", {**state, "again": again}, ops)

    # -- what the REST API shows (read from Redis: views.py) ------------------------------------

    async def nodes(self) -> list[dict[str, Any]]:
        if not self.available:
            raise Unavailable("the cluster's Redis is unreachable")
        return await views.live_nodes(self.redis)

    async def place(self, room_id: str | None = None) -> str:
        """Where a peer of ``room_id`` should connect (``views.choose``); this node without Redis."""
        try:
            nodes = await self.nodes()
            hosting = await views.room_peers(self.redis, room_id) if room_id else {}
        except (Unavailable, RedisError, OSError):
            return self.settings.public_url
        best = views.choose(nodes, hosting)
        return str(best["url"] or self.settings.public_url) if best is not None else self.settings.public_url

    async def hosts(self, room_id: str) -> set[str]:
        """The live members (``node:epoch``) hosting the room, as Redis has them."""
        return set(await views.room_members(self.redis, room_id))

    async def holder(self, room_id: str, kind: str, target: str) -> str | None:
        """The member whose ``kind`` hash (``peers`` or ``producers``) of the room has ``target``."""
        members = sorted(await self.hosts(room_id) - {self.member} - set(self.dead))
        key = keys.peers if kind == "peers" else keys.producers
        async with self.redis.pipeline(transaction=False) as pipe:
            for member in members:
                pipe.hexists(key(room_id, member), target)
            found = await pipe.execute() if members else []
        return next((m for m, has in zip(members, found, strict=True) if has), None)

    async def rooms(self) -> dict[str, dict[str, Any]]:
        """Every room of the cluster: the nodes it is on and its peers there."""
        if not self.available:
            raise Unavailable("the cluster's Redis is unreachable")
        return await views.cluster_rooms(self.redis)

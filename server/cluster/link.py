"""One room's part in the cluster (the room's ``link``): what its peers on other nodes are and
publish, kept from the room's event stream, and what this node's peers publish, written to it.

The room's stream is the order of the room: every node applies the other nodes' events in stream
order, so every peer sees one history. It is also the arbiter of the replacement rule: when one
user joins through two nodes, the later ``peer-joined`` in the stream wins and the node holding
the earlier one drops its connection (close 4001), as on one node.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from sfuctl.server.cluster import keys
from sfuctl.server.cluster.pipes import RemotePipes, RemoteProducer
from sfuctl.server.signaling.room import Unavailable

if TYPE_CHECKING:
    from sfuctl.server.media.consumer import Consumer
    from sfuctl.server.media.transport import Transport
    from sfuctl.server.signaling.room import Room

log = logging.getLogger("sfuctl.cluster")


class Node(Protocol):
    """What a room link needs of its node (``Cluster``)."""

    member: str
    available: bool

    def publish(
        self, room_id: str, kind: str, data: dict[str, Any], ops: list[tuple[Any, ...]],
        on_id: Callable[[str], None] | None = None,
    ) -> None: ...  # fmt: skip

    def replace(self, room_id: str, user_id: str) -> None: ...

    def close_room(self, room_id: str, reason: str) -> None: ...

    def detached(self, link: ClusterRoom) -> None: ...

    def send_state(self, link: ClusterRoom, again: bool) -> None: ...


@dataclass
class RemotePeer:
    member: str
    name: str
    event_id: str


def stream_id(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


class ClusterRoom:
    def __init__(self, room: Room, node: Node, pipes: RemotePipes) -> None:
        self.room = room
        self.node = node
        self.pipes = pipes
        self.last_id = "0-0"
        """The last entry of the room's stream this node has applied."""
        self.remote_peer_map: dict[str, RemotePeer] = {}
        self.remote_producer_map: dict[str, RemoteProducer] = {}
        self.local_peers: dict[str, str] = {}
        """This node's peers of the room as published (user id → name)."""
        self.local_producers: dict[str, dict[str, Any]] = {}
        self.join_ids: dict[str, str] = {}
        """Stream id of each local peer's ``peer-joined`` once written."""
        self.is_closed = False
        self.speaking: dict[str, Callable[[], None] | None] = {}
        """Remote audio producers piped into the main router for the speaker observer (their
        release; None while being piped)."""
        self._tasks: set[asyncio.Task[None]] = set()
        self.deferred: dict[str, tuple[str, dict[str, Any], str]] = {}
        """A remote ``peer-joined`` of a user whose join here is not written yet: (sender, data, id)."""

    # -- RoomLink (called by the room and the session) -----------------------------------------

    def admit(self, user_id: str) -> None:
        if not self.node.available:
            raise Unavailable("the cluster's Redis is unreachable; try again shortly")
        if user_id in self.remote_peer_map:  # that connection is replaced (its node drops it)
            self._drop_remote_peer(user_id)

    def remote_peers(self) -> list[dict[str, Any]]:
        return [{"userId": u, "userName": p.name} for u, p in self.remote_peer_map.items()]

    def remote_producers(self) -> list[dict[str, Any]]:
        return [dict(p.info) for p in self.remote_producer_map.values()]

    def has_producer(self, producer_id: str) -> bool:
        return producer_id in self.remote_producer_map

    def producer_owner(self, producer_id: str) -> str | None:
        found = self.remote_producer_map.get(producer_id)
        return str(found.info.get("userId")) if found is not None else None

    def speaks(self) -> bool:
        """The room's speaker node: the lowest ``node:epoch`` among those with peers in it."""
        return all(self.node.member < peer.member for peer in self.remote_peer_map.values())

    def follow_speakers(self) -> None:
        """On the speaker node, every audio producer of the other nodes is piped into the main
        router and observed; elsewhere (or once no longer the speaker node) those pipes go."""
        if self.is_closed:
            return
        speaking = self.speaks()
        for producer_id in list(self.speaking):
            if not speaking or producer_id not in self.remote_producer_map:
                release = self.speaking.pop(producer_id)
                if release is not None:
                    release()
        if not speaking:
            return
        for producer_id, remote in self.remote_producer_map.items():
            if remote.info.get("kind") == "audio" and producer_id not in self.speaking:
                self.speaking[producer_id] = None
                task = asyncio.get_running_loop().create_task(self._observe(producer_id, remote))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _observe(self, producer_id: str, remote: RemoteProducer) -> None:
        try:
            release = await self.pipes.acquire(producer_id, self.room.router, remote)
        except Exception as error:  # the room goes on without that voice in the observer
            log.info("remote audio not observed: %s", error, extra={"room": self.room.id})
            self.speaking.pop(producer_id, None)
            return
        observer = self.room.speaker_observer
        if producer_id not in self.speaking or observer is None or observer.closed:
            release()
            return
        self.speaking[producer_id] = release
        try:
            await observer.add_producer(producer_id)
        except Exception as error:
            log.info("remote audio not observed: %s", error, extra={"room": self.room.id})

    async def consume(self, transport: Transport, producer_id: str, rtp_capabilities: Any) -> Consumer:
        remote = self.remote_producer_map.get(producer_id)
        if remote is None:
            raise Unavailable(f"producer {producer_id} is no longer in this room")
        if not self.node.available:
            raise Unavailable("the cluster's Redis is unreachable: no new media from other nodes now")
        return await self.pipes.consume(transport, remote, rtp_capabilities)

    def publish(self, event_type: str, data: dict[str, Any]) -> None:
        room_id = self.room.id
        ops: list[tuple[Any, ...]] = []
        on_id: Callable[[str], None] | None = None
        extra: dict[str, Any] = {}
        if event_type == "peer-joined":
            user = str(data["userId"])
            self.local_peers[user] = str(data.get("userName") or "")
            self.join_ids.pop(user, None)
            ops.append(("hset", keys.peers(room_id, self.node.member), user, orjson.dumps(data)))

            def joined(entry_id: str) -> None:
                if user in self.local_peers:
                    self.join_ids[user] = entry_id
                waiting = self.deferred.pop(user, None)
                if waiting is not None and stream_id(entry_id) < stream_id(waiting[2]):
                    self._event(waiting[0], "peer-joined", waiting[1], None, waiting[2])

            on_id = joined
        elif event_type == "peer-left":
            user = str(data["userId"])
            self.local_peers.pop(user, None)
            self.join_ids.pop(user, None)
            ops.append(("hdel", keys.peers(room_id, self.node.member), user))
        elif event_type == "new-producer":
            producer_id = str(data["producerId"])
            router = self._router_of(producer_id)
            extra["router"] = router
            info = {**data, "router": router}
            self.local_producers[producer_id] = info
            ops.append(("hset", keys.producers(room_id, self.node.member), producer_id, orjson.dumps(info)))
        elif event_type == "producer-closed":
            producer_id = str(data["producerId"])
            self.local_producers.pop(producer_id, None)
            ops.append(("hdel", keys.producers(room_id, self.node.member), producer_id))
        self.node.publish(room_id, "event", {"type": event_type, "data": data, **extra}, ops, on_id)

    def closed(self) -> None:
        """The room closed here: the other nodes drop its peers here (``gone``), pipes close."""
        if self.is_closed:
            return
        self.is_closed = True
        self.speaking.clear()
        for task in self._tasks:
            task.cancel()
        self.pipes.close()
        self.local_peers.clear()
        self.local_producers.clear()
        self.node.detached(self)

    def _router_of(self, producer_id: str) -> str:
        for router in self.room.media.routers:
            producer = router.producers.get(producer_id)
            if producer is not None:
                transport = router.transports.get(producer.transport_id)
                if transport is not None and transport.transport_type != "pipe":
                    return router.id
        return self.room.router.id

    # -- the other nodes' events -----------------------------------------------------------------

    def snapshot(self, member: str, peers: dict[str, Any], producers: dict[str, Any], entry_id: str) -> None:
        """A member's state read when this node attached: as if its events had been applied."""
        for user, info in peers.items():
            self.remote_peer_map[user] = RemotePeer(member, str(info.get("userName") or ""), entry_id)
        for producer_id, info in producers.items():
            router = str(info.pop("router", ""))
            self.remote_producer_map[producer_id] = RemoteProducer(member, router, info)

    def apply(self, sender: str, kind: str, data: dict[str, Any], entry_id: str) -> None:
        if kind == "event":
            self._event(sender, str(data["type"]), dict(data["data"]), data.get("router"), entry_id)
        elif kind == "gone":
            self.member_gone(sender)
        elif kind == "close":  # an admin closed the room through another node
            self.node.close_room(self.room.id, str(data.get("reason") or "admin"))
            return
        elif kind == "sync":
            self._sync(sender, dict(data["peers"]), dict(data["producers"]), entry_id)
            if data.get("again"):  # it came back after an outage: it may have missed ours
                self.node.send_state(self, again=False)
        self.follow_speakers()

    def _event(self, sender: str, event: str, data: dict[str, Any], router: Any, entry_id: str) -> None:
        room = self.room
        if event == "peer-joined":
            user = str(data["userId"])
            if user in room.peers:
                mine = self.join_ids.get(user)
                if mine is None:  # ours is being written: decided when its id is known
                    self.deferred[user] = (sender, data, entry_id)
                    return
                if stream_id(mine) > stream_id(entry_id):
                    return  # ours is later in the stream: theirs is being replaced there
                log.info("replaced through another node", extra={"room": room.id, "user": user,
                                                                  "node": sender})  # fmt: skip
                self.node.replace(room.id, user)
            previous = self.remote_peer_map.get(user)
            if previous is not None and previous.member != sender:
                self._drop_remote_peer(user)
            self.remote_peer_map[user] = RemotePeer(sender, str(data.get("userName") or ""), entry_id)
            room.deliver(event, data)
        elif event == "peer-left":
            user = str(data["userId"])
            found = self.remote_peer_map.get(user)
            if found is not None and found.member == sender:
                del self.remote_peer_map[user]
                room.deliver(event, data)
        elif event == "new-producer":
            producer_id = str(data["producerId"])
            self.remote_producer_map[producer_id] = RemoteProducer(sender, str(router or ""), data)
            room.deliver(event, data)
        elif event == "producer-closed":
            producer_id = str(data["producerId"])
            found_producer = self.remote_producer_map.get(producer_id)
            if found_producer is not None and found_producer.member == sender:
                del self.remote_producer_map[producer_id]
                self.pipes.producer_closed(producer_id)
                room.deliver(event, data)
        elif event == "active-speaker":
            room.active_speaker = str(data.get("userId") or "") or None
            room.deliver(event, data)

    def _drop_remote_peer(self, user: str) -> None:
        member = self.remote_peer_map.pop(user).member
        for producer_id, producer in list(self.remote_producer_map.items()):
            if producer.member == member and producer.info.get("userId") == user:
                del self.remote_producer_map[producer_id]
                self.pipes.producer_closed(producer_id)
                self.room.deliver("producer-closed", {"producerId": producer_id})
        self.room.deliver("peer-left", {"userId": user})

    def member_gone(self, member: str) -> None:
        """A node left the room or died: its producers close and its peers leave, for everyone here."""
        self.pipes.member_gone(member)
        for producer_id, producer in list(self.remote_producer_map.items()):
            if producer.member == member:
                del self.remote_producer_map[producer_id]
                self.room.deliver("producer-closed", {"producerId": producer_id})
        for user, peer in list(self.remote_peer_map.items()):
            if peer.member == member:
                del self.remote_peer_map[user]
                self.room.deliver("peer-left", {"userId": user})
        self.follow_speakers()

    def members(self) -> set[str]:
        return {p.member for p in self.remote_peer_map.values()} | {
            p.member for p in self.remote_producer_map.values()
        }

    def _sync(self, sender: str, peers: dict[str, Any], producers: dict[str, Any], entry_id: str) -> None:
        """A member's whole state after an outage: apply the difference as events."""
        for producer_id, producer in list(self.remote_producer_map.items()):
            if producer.member == sender and producer_id not in producers:
                self._event(sender, "producer-closed", {"producerId": producer_id}, None, entry_id)
        for user, peer in list(self.remote_peer_map.items()):
            if peer.member == sender and user not in peers:
                self._event(sender, "peer-left", {"userId": user}, None, entry_id)
        for user, name in peers.items():
            if user not in self.remote_peer_map and user not in self.room.peers:
                self._event(sender, "peer-joined", {"userId": user, "userName": name}, None, entry_id)
        for producer_id, info in producers.items():
            if producer_id not in self.remote_producer_map:
                info = dict(info)
                router = info.pop("router", "")
                self._event(sender, "new-producer", info, router, entry_id)

    def state(self) -> dict[str, Any]:
        """This node's part of the room, as a ``sync`` carries it."""
        return {"peers": dict(self.local_peers), "producers": dict(self.local_producers)}

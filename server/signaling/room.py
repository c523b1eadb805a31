"""A room: its routers (one, or several over workers when it is large; see ``spread``), the peers
in it, and what they publish."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from sfuctl.server.media.errors import MediaError
from sfuctl.server.signaling.spread import RoomRouters, RouterFactory

if TYPE_CHECKING:
    from sfuctl.server.media.active_speaker_observer import ActiveSpeakerObserver
    from sfuctl.server.media.consumer import Consumer
    from sfuctl.server.media.data_consumer import DataConsumer
    from sfuctl.server.media.producer import Producer
    from sfuctl.server.media.router import Router
    from sfuctl.server.media.transport import Transport
    from sfuctl.server.media.worker import Worker
    from sfuctl.server.signaling.peer import Peer

log = logging.getLogger("sfuctl.signaling")


DEFAULT_CONSUMERS_PER_ROUTER = 500

SHARED_EVENTS = frozenset({"peer-joined", "peer-left", "new-producer", "producer-closed", "active-speaker"})
"""Room events that reach the room's peers on other nodes of a cluster."""


class Unavailable(Exception):
    """What the request needs from the cluster cannot be had now (Redis or a node unreachable)."""


class RoomLink(Protocol):
    """A room's part in a cluster (``server/cluster``): what the room's peers on other nodes
    publish, and how their media reaches this node. None on a single node."""

    def admit(self, user_id: str) -> None:
        """Before a peer of this node joins: raise Unavailable when it may not now (the cluster is
        unreachable); the same user on another node is replaced (left, for the peers here)."""

    def publish(self, event_type: str, data: dict[str, Any]) -> None:
        """A room event of this node's peers, for the other nodes (ordered, never blocks)."""

    def remote_peers(self) -> list[dict[str, Any]]: ...

    def remote_producers(self) -> list[dict[str, Any]]: ...

    def has_producer(self, producer_id: str) -> bool: ...

    def producer_owner(self, producer_id: str) -> str | None:
        """The user id of a producer on another node."""

    def speaks(self) -> bool:
        """Whether this node's observer follows the room's speakers (one node per room does,
        with the other nodes' audio piped in)."""

    async def consume(self, transport: Transport, producer_id: str, rtp_capabilities: Any) -> Consumer: ...

    def closed(self) -> None:
        """The room closed on this node."""


class RoomListener(Protocol):
    """What a subsystem that follows a room (the recorder) is told; called synchronously."""

    def producer_added(self, room: Room, producer: Producer, owner: Peer) -> None: ...

    def room_closed(self, room: Room, reason: str) -> None: ...


class Room:
    def __init__(
        self,
        room_id: str,
        router: Router,
        new_router: RouterFactory | None = None,
        consumers_per_router: int = DEFAULT_CONSUMERS_PER_ROUTER,
        cpu: Callable[[Worker], float] | None = None,
        cpu_percent: float = 100.0,
    ) -> None:
        self.id = room_id
        self.media = RoomRouters(router, new_router, consumers_per_router, cpu, cpu_percent)
        self.peers: dict[str, Peer] = {}
        self.created_at = time.time()
        self.closed = False
        self.active_speaker: str | None = None
        """userId of the dominant speaker, from the room's ActiveSpeakerObserver."""
        self.speaker_observer: ActiveSpeakerObserver | None = None
        self._grace: asyncio.TimerHandle | None = None
        self.link: RoomLink | None = None
        """The room on the other nodes of a cluster; None on a single node."""
        self.listeners: list[RoomListener] = []
        self.recordings: list[str] = []
        """Ids of the recordings running in this room (told to a peer at join-room)."""
        self._observing: set[asyncio.Task[None]] = set()
        """``observe_producer`` calls under way (see ``observe_in_background``)."""

    @property
    def router(self) -> Router:
        """The main router: the room's first, which hosts its active-speaker observer."""
        return self.media.main

    async def observe_speakers(self) -> None:
        """Follow who talks, for the dashboard and the clients' 'active-speaker' event.

        One observer for the whole room, in the main router: audio produced in another router is
        piped into it (see ``observe_producer``)."""
        observer = await self.router.create_active_speaker_observer()
        observer.on("dominantspeaker", self._on_dominant_speaker)
        self.speaker_observer = observer

    async def observe_producer(self, producer: Producer) -> None:
        """Add an audio producer to the speaker observer (piped into the main router if it lives
        elsewhere; that pipe lasts as long as the producer)."""
        observer = self.speaker_observer
        if producer.kind != "audio" or observer is None or observer.closed:
            return
        try:
            await self.media.acquire(producer.id, self.router)  # never released: the observer uses it
        except MediaError as error:  # the producer itself is fine: only the speaker detection misses it
            log.warning("audio not piped to the speaker observer: %s", error, extra={"room": self.id})
            return
        await observer.add_producer(producer.id)

    def observe_in_background(self, producer: Producer) -> None:
        """``observe_producer`` without making the producing client wait for it: a second worker
        round trip (two with a pipe) on every produce. Its requests go to the worker after the
        produce, so the worker sees them in order; if the producer or the observer closes
        meanwhile, the observer simply misses that producer (logged), nothing else changes."""
        if producer.kind != "audio" or self.speaker_observer is None:
            return
        task = asyncio.get_running_loop().create_task(self._observe_logged(producer))
        self._observing.add(task)
        task.add_done_callback(self._observing.discard)

    async def _observe_logged(self, producer: Producer) -> None:
        try:
            await self.observe_producer(producer)
        except MediaError as error:
            if producer.closed or self.closed:
                log.debug("producer closed before it was observed: %s", error, extra={"room": self.id})
            else:
                log.warning("audio not added to the speaker observer: %s", error, extra={"room": self.id})
        except Exception:
            log.exception("audio not added to the speaker observer", extra={"room": self.id})

    async def main_router_changed(self) -> None:
        """The main router's worker died: observe speakers again in the new main router."""
        self.speaker_observer = None
        await self.observe_speakers()
        for peer in list(self.peers.values()):
            for producer in list(peer.producers.values()):
                if not producer.closed:
                    await self.observe_producer(producer)

    # -- where peers' media goes ----------------------------------------------------------------

    async def router_for(self, peer: Peer) -> Router:
        """The router for the peer's transports (placed at its first transport)."""
        others = sum(len(other.producers) for other in self.peers.values() if other is not peer)
        return await self.media.router_for(peer.user_id, others)

    def router_of(self, peer: Peer) -> Router | None:
        return self.media.assigned.get(peer.user_id)

    async def consume(self, transport: Transport, producer_id: str, rtp_capabilities: Any) -> Consumer:
        """A paused consumer of any producer of the room, piped into the transport's router if needed
        (from another node of the cluster if it lives there)."""
        if self.link is not None and self.owner_of_producer(producer_id) is None:
            return await self.link.consume(transport, producer_id, rtp_capabilities)
        return await self.media.consume(transport, producer_id, rtp_capabilities)

    def has_producer(self, producer_id: str) -> bool:
        """Whether a peer of the room, on this node or another, publishes it."""
        if self.owner_of_producer(producer_id) is not None:
            return True
        return self.link is not None and self.link.has_producer(producer_id)

    def peer_count(self) -> int:
        """Peers of the room on every node."""
        return len(self.peers) + (len(self.link.remote_peers()) if self.link is not None else 0)

    def peers_info(self) -> list[dict[str, Any]]:
        """Every peer of the room (this node's, then the other nodes')."""
        local = [{"userId": o.user_id, "userName": o.user_name} for o in self.peers.values()]
        return local + (self.link.remote_peers() if self.link is not None else [])

    async def consume_data(self, transport: Transport, data_producer_id: str) -> DataConsumer:
        return await self.media.consume_data(transport, data_producer_id)

    def transport_count(self) -> int:
        """Peers' transports (pipes between the room's routers not counted)."""
        return sum(router.non_pipe_transport_count for router in self.media.routers)

    def prune(self) -> None:
        """Close the routers that no peer of the room uses any longer (not the main one)."""
        self.media.prune(self.peers.keys())

    def _on_dominant_speaker(self, speaker: dict[str, Any]) -> None:
        producer = speaker["producer"]
        if self.link is not None and not self.link.speaks():
            return  # another node of the cluster follows this room's speakers
        owner = self.owner_of_producer(producer.id)
        user_id = owner.user_id if owner is not None else None
        if user_id is None and self.link is not None:
            user_id = self.link.producer_owner(producer.id)
        if user_id is None or user_id == self.active_speaker:
            return
        self.active_speaker = user_id
        self.broadcast("active-speaker", {"userId": user_id, "producerId": producer.id})

    @property
    def worker_pid(self) -> int:
        return self.router.worker.pid

    def owner_of_producer(self, producer_id: str) -> Peer | None:
        for peer in self.peers.values():
            if producer_id in peer.producers:
                return peer
        return None

    def owns_elsewhere(self, attribute: str, object_id: str, peer: Peer) -> bool:
        """Whether another peer of this room owns ``object_id`` in its map ``attribute``."""
        return any(
            object_id in getattr(other, attribute) for other in self.peers.values() if other is not peer
        )

    def producer_info(self, producer: Producer, owner: Peer) -> dict[str, Any]:
        return {
            "producerId": producer.id,
            "userId": owner.user_id,
            "userName": owner.user_name,
            "kind": producer.kind,
            "appData": producer.app_data,
        }

    def producers_info(self, exclude: Peer | None = None) -> list[dict[str, Any]]:
        local = [
            self.producer_info(producer, peer)
            for peer in self.peers.values()
            if peer is not exclude
            for producer in peer.producers.values()
        ]
        return local + (self.link.remote_producers() if self.link is not None else [])

    def producer_added(self, producer: Producer, owner: Peer) -> None:
        for listener in list(self.listeners):
            listener.producer_added(self, producer, owner)

    def broadcast(self, event_type: str, data: dict[str, Any], exclude: Peer | None = None) -> None:
        """To the room's peers here and, for the shared events, on the other nodes."""
        self.deliver(event_type, data, exclude)
        if self.link is not None and event_type in SHARED_EVENTS:
            self.link.publish(event_type, data)

    def deliver(self, event_type: str, data: dict[str, Any], exclude: Peer | None = None) -> None:
        """To the room's peers on this node only, serialised once for all of them."""
        try:
            frame = orjson.dumps({"type": event_type, "data": data})
        except TypeError as error:  # input is checked at the edge; this is a bug, not a client's doing
            log.error("event not sent, cannot serialise it: %s", error, extra={"room": self.id})
            return
        for peer in list(self.peers.values()):
            if peer is not exclude:
                peer.send_encoded(frame)

    # -- grace period of an empty room ----------------------------------------------------------

    def schedule_close(self, delay: float, on_expire: Any) -> None:
        self.cancel_close()
        self._grace = asyncio.get_running_loop().call_later(delay, on_expire, self)

    def cancel_close(self) -> None:
        if self._grace is not None:
            self._grace.cancel()
            self._grace = None

    def close(self, reason: str) -> None:
        """Tell every peer, drop their media, close the router. Idempotent."""
        if self.closed:
            return
        self.closed = True
        self.cancel_close()
        for task in list(self._observing):
            task.cancel()
        log.info("room closed", extra={"room": self.id, "reason": reason, "peers": len(self.peers)})
        for listener in list(self.listeners):
            listener.room_closed(self, reason)
        for peer in list(self.peers.values()):
            peer.event("room-closed", {"reason": reason})
            peer.room = None  # detached first: no per-producer events in a room that is going away
            peer.close_media()
        self.peers.clear()
        if self.link is not None:
            self.link.closed()
        for router in list(self.media.routers):
            router.close()

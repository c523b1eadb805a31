"""Admin moderation of a live room: kick a peer, mute / unmute or close one of its producers.

Adapters (REST, and through it the CLI and the dashboard) call these; each finds its target in
the registry and acts through the same paths a peer's own requests take, so the others are told
exactly as when the peer does it itself (``peer-left``, ``producer-paused``, ``producer-closed``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sfuctl.server.media.errors import InvalidStateError, NotFoundError

if TYPE_CHECKING:
    from sfuctl.server.media.producer import Producer
    from sfuctl.server.signaling.connection import SignalingService
    from sfuctl.server.signaling.peer import Peer
    from sfuctl.server.signaling.registry import RoomRegistry
    from sfuctl.server.signaling.room import Room

log = logging.getLogger("sfuctl.signaling")


class ModerationNotFound(Exception):
    """No such room, peer or producer (the message says which); safe to show."""


@dataclass
class ProducerTarget:
    peer: Peer
    producer: Producer


class Moderation:
    def __init__(self, service: SignalingService, registry: RoomRegistry) -> None:
        self.service = service
        self.registry = registry

    def _room(self, room_id: str) -> Room:
        room = self.registry.get(room_id)
        if room is None or room.closed:
            raise ModerationNotFound(f"no room {room_id!r}")
        return room

    def _producer(self, room_id: str, producer_id: str) -> ProducerTarget:
        room = self._room(room_id)
        owner = room.owner_of_producer(producer_id)
        producer = owner.producers.get(producer_id) if owner is not None else None
        if owner is None or producer is None or producer.closed:
            raise ModerationNotFound(f"no producer {producer_id!r} in room {room_id!r}")
        return ProducerTarget(owner, producer)

    def kick(self, room_id: str, user_id: str) -> None:
        """Disconnect the peer after ``room-closed {reason: "kicked"}``; it may join again."""
        room = self._room(room_id)
        connection = self.service.connections.get((room_id, user_id))
        if user_id not in room.peers or connection is None or connection.peer is not room.peers[user_id]:
            raise ModerationNotFound(f"no peer {user_id!r} in room {room_id!r}")
        connection.kick()

    async def mute(self, room_id: str, producer_id: str) -> ProducerTarget:
        """Pause the producer for every consumer; the owner gets ``producer-muted`` and may not
        resume it until :meth:`unmute`. Muting a muted producer changes nothing."""
        target = self._producer(room_id, producer_id)
        peer, producer = target.peer, target.producer
        already = producer_id in peer.muted
        peer.muted.add(producer_id)  # first: a resume-producer racing the pause is refused
        try:
            await producer.pause()
        except (InvalidStateError, NotFoundError):
            peer.muted.discard(producer_id)
            raise ModerationNotFound(f"producer {producer_id!r} closed meanwhile") from None
        if not already:
            peer.event("producer-muted", {"producerId": producer_id, "by": "admin"})
            log.info("producer muted", extra={"room": room_id, "user": peer.user_id, "producer": producer_id})
        return target

    async def unmute(self, room_id: str, producer_id: str) -> ProducerTarget:
        """Resume the producer for its consumers; the owner gets ``producer-unmuted``."""
        target = self._producer(room_id, producer_id)
        peer, producer = target.peer, target.producer
        was_muted = producer_id in peer.muted
        peer.muted.discard(producer_id)
        try:
            await producer.resume()
        except (InvalidStateError, NotFoundError):
            raise ModerationNotFound(f"producer {producer_id!r} closed meanwhile") from None
        if was_muted:
            peer.event("producer-unmuted", {"producerId": producer_id, "by": "admin"})
            log.info(
                "producer unmuted", extra={"room": room_id, "user": peer.user_id, "producer": producer_id}
            )
        return target

    def close_producer(self, room_id: str, producer_id: str) -> ProducerTarget:
        """Close the producer: its consumers get ``consumer-closed``, the room ``producer-closed``,
        the owner too (it did not close it itself)."""
        target = self._producer(room_id, producer_id)
        target.producer.close()
        target.peer.event("producer-closed", {"producerId": producer_id})
        log.info("producer closed by admin",
                 extra={"room": room_id, "user": target.peer.user_id, "producer": producer_id})  # fmt: skip
        return target

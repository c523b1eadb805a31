"""A room: one Router on one worker, the peers in it, and what they publish."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from sfuctl.server.media.active_speaker_observer import ActiveSpeakerObserver
    from sfuctl.server.media.producer import Producer
    from sfuctl.server.media.router import Router
    from sfuctl.server.signaling.peer import Peer

log = logging.getLogger("sfuctl.signaling")


class Room:
    def __init__(self, room_id: str, router: Router) -> None:
        self.id = room_id
        self.router = router
        self.peers: dict[str, Peer] = {}
        self.created_at = time.time()
        self.closed = False
        self.active_speaker: str | None = None
        """userId of the dominant speaker, from the room's ActiveSpeakerObserver."""
        self.speaker_observer: ActiveSpeakerObserver | None = None
        self._grace: asyncio.TimerHandle | None = None

    async def observe_speakers(self) -> None:
        """Follow who talks, for the dashboard and the clients' 'active-speaker' event."""
        observer = await self.router.create_active_speaker_observer()
        observer.on("dominantspeaker", self._on_dominant_speaker)
        self.speaker_observer = observer

    def _on_dominant_speaker(self, speaker: dict[str, Any]) -> None:
        producer = speaker["producer"]
        owner = self.owner_of_producer(producer.id)
        if owner is None or owner.user_id == self.active_speaker:
            return
        self.active_speaker = owner.user_id
        self.broadcast("active-speaker", {"userId": owner.user_id, "producerId": producer.id})

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
        return [
            self.producer_info(producer, peer)
            for peer in self.peers.values()
            if peer is not exclude
            for producer in peer.producers.values()
        ]

    def broadcast(self, event_type: str, data: dict[str, Any], exclude: Peer | None = None) -> None:
        """The event to every peer but ``exclude``, serialised once for all of them."""
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
        log.info("room closed", extra={"room": self.id, "reason": reason, "peers": len(self.peers)})
        for peer in list(self.peers.values()):
            peer.event("room-closed", {"reason": reason})
            peer.room = None  # detached first: no per-producer events in a room that is going away
            peer.close_media()
        self.peers.clear()
        self.router.close()

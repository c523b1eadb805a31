"""Where rooms live. In-memory here; the multi-node registry (rooms across nodes) will implement
the same small interface, and worker placement is delegated to a ``WorkerPlacement``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from sfuctl.server.media.pool import WorkerPlacement
from sfuctl.server.signaling.room import Room
from sfuctl.server.webhooks.events import EventSink, NoEvents, participant_object, room_object, track_object

log = logging.getLogger("sfuctl.signaling")

DEFAULT_MEDIA_CODECS: list[dict[str, Any]] = [
    {"kind": "audio", "mimeType": "audio/opus", "clockRate": 48000, "channels": 2},
    {"kind": "video", "mimeType": "video/VP8", "clockRate": 90000},
    {"kind": "video", "mimeType": "video/VP9", "clockRate": 90000, "parameters": {"profile-id": 2}},
    {
        "kind": "video",
        "mimeType": "video/H264",
        "clockRate": 90000,
        "parameters": {"packetization-mode": 1, "profile-level-id": "4d0032", "level-asymmetry-allowed": 1},
    },
    {
        "kind": "video",
        "mimeType": "video/H264",
        "clockRate": 90000,
        "parameters": {"packetization-mode": 1, "profile-level-id": "42e01f", "level-asymmetry-allowed": 1},
    },
]
"""What browsers send: Opus; VP8, VP9 and H264 (main and constrained baseline)."""


class RoomLimitError(Exception):
    """No room may be opened now; the message is safe to show."""


class RoomRegistry(Protocol):
    async def get_or_create(self, room_id: str) -> Room: ...

    def get(self, room_id: str) -> Room | None: ...

    def all(self) -> list[Room]: ...

    def release(self, room: Room) -> None: ...

    def close(self, room_id: str, reason: str) -> bool: ...

    def close_all(self, reason: str) -> None: ...


class LocalRoomRegistry:
    """Rooms of this process, each with a Router on the worker the placement picks."""

    def __init__(
        self,
        placement: WorkerPlacement,
        media_codecs: list[dict[str, Any]] | None = None,
        grace_seconds: float = 5.0,
        max_rooms: int | None = None,
        events: EventSink | None = None,
    ) -> None:
        self.placement = placement
        self.events: EventSink = events or NoEvents()
        self.media_codecs = media_codecs or DEFAULT_MEDIA_CODECS
        self.grace_seconds = grace_seconds
        self.max_rooms = max_rooms
        self.rooms: dict[str, Room] = {}
        self._creating: dict[str, asyncio.Future[Room]] = {}

    async def get_or_create(self, room_id: str) -> Room:
        room = self.rooms.get(room_id)
        if room is not None and not room.closed:
            room.cancel_close()
            return room
        pending = self._creating.get(room_id)
        if pending is not None:  # a concurrent first join is creating it
            return await asyncio.shield(pending)
        if self.max_rooms is not None and len(self.rooms) + len(self._creating) >= self.max_rooms:
            raise RoomLimitError(f"this server has its maximum of {self.max_rooms} rooms open")
        future: asyncio.Future[Room] = asyncio.get_running_loop().create_future()
        self._creating[room_id] = future
        try:
            worker = self.placement.pick()
            router = await worker.create_router(self.media_codecs, {"roomId": room_id})
            room = Room(room_id, router)
            router.on("workerclose", lambda: self._on_worker_died(room))
            await room.observe_speakers()
            self.rooms[room_id] = room
            log.info("room created", extra={"room": room_id, "worker": worker.pid})
            self.events.emit("room-started", room=room_object(room.id, room.created_at))
            future.set_result(room)
            return room
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # retrieved: waiters re-raise it themselves
            raise
        finally:
            del self._creating[room_id]

    def get(self, room_id: str) -> Room | None:
        return self.rooms.get(room_id)

    def all(self) -> list[Room]:
        return list(self.rooms.values())

    def release(self, room: Room) -> None:
        """The last peer left: keep the room a little for a reconnect, then close it."""
        if not room.peers and not room.closed:
            room.schedule_close(self.grace_seconds, self._expire)

    def _expire(self, room: Room) -> None:
        if not room.peers:
            self._close_room(room, "closed")

    def _on_worker_died(self, room: Room) -> None:
        self._close_room(room, "worker-died")

    def _close_room(self, room: Room, reason: str) -> None:
        if self.rooms.get(room.id) is room:
            del self.rooms[room.id]
        if room.closed:
            return
        # Room.close detaches its peers before closing their media: they are reported here.
        room_info = room_object(room.id, room.created_at)
        for peer in list(room.peers.values()):
            participant = participant_object(peer.user_id, peer.user_name)
            for producer in list(peer.producers.values()):
                track = track_object(producer.id, producer.kind, peer.user_id, producer.app_data)
                self.events.emit("track-unpublished", room=room_info, participant=participant, track=track)
            self.events.emit("participant-left", room=room_info, participant=participant)
        room.close(reason)
        self.events.emit("room-finished", room=room_object(room.id, room.created_at, reason))

    def close(self, room_id: str, reason: str) -> bool:
        room = self.rooms.get(room_id)
        if room is None:
            return False
        self._close_room(room, reason)
        return True

    def close_all(self, reason: str) -> None:
        for room in list(self.rooms.values()):
            self._close_room(room, reason)

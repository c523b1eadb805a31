"""Where rooms live. In-memory here; the multi-node registry (rooms across nodes) will implement
the same small interface, and worker placement is delegated to a ``WorkerPlacement``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection
from typing import TYPE_CHECKING, Any, Protocol

from sfuctl.server.media.pool import WorkerPlacement
from sfuctl.server.signaling.room import DEFAULT_CONSUMERS_PER_ROUTER, Room
from sfuctl.server.signaling.spread import WorkerCpu
from sfuctl.server.webhooks.events import EventSink, NoEvents, participant_object, room_object, track_object

if TYPE_CHECKING:
    from sfuctl.server.media.router import Router
    from sfuctl.server.media.worker import Worker
    from sfuctl.server.signaling.peer import Peer

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
        consumers_per_router: int = DEFAULT_CONSUMERS_PER_ROUTER,
        spread_cpu_percent: float = 100.0,
    ) -> None:
        self.placement = placement
        self.consumers_per_router = consumers_per_router
        self.spread_cpu_percent = spread_cpu_percent
        self.worker_cpu = WorkerCpu()
        self.events: EventSink = events or NoEvents()
        self.media_codecs = media_codecs or DEFAULT_MEDIA_CODECS
        self.grace_seconds = grace_seconds
        self.max_rooms = max_rooms
        self.rooms: dict[str, Room] = {}
        self._creating: dict[str, asyncio.Future[Room]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.on_room: Callable[[Room], Awaitable[None]] | None = None
        """Called with each new room before its first peer sees it (the cluster links it)."""

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
            room = Room(
                room_id,
                router,
                consumers_per_router=self.consumers_per_router,
                cpu=self.worker_cpu,
                cpu_percent=self.spread_cpu_percent,
            )
            room.media.new_router = lambda exclude: self._open_router(room, exclude)
            router.on("workerclose", lambda: self._on_router_lost(room, router))
            await room.observe_speakers()
            if self.on_room is not None:
                try:
                    await self.on_room(room)
                except BaseException:
                    room.close("unavailable")
                    raise
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
        """A peer left: close the routers no peer uses any more; the last peer left: keep the
        room a little for a reconnect, then close it."""
        if not room.closed:
            room.prune()
        if not room.peers and not room.closed:
            room.schedule_close(self.grace_seconds, self._expire)

    def _expire(self, room: Room) -> None:
        if not room.peers:
            self._close_room(room, "closed")

    async def _open_router(self, room: Room, exclude: Collection[Worker]) -> Router:
        """Another router for a room that spreads, on the least-loaded worker it is not on yet."""
        worker = self.placement.pick(exclude)
        router = await worker.create_router(self.media_codecs, {"roomId": room.id})
        if room.closed:
            router.close()
            raise RuntimeError("the room closed")
        router.on("workerclose", lambda: self._on_router_lost(room, router))
        return router

    def _on_router_lost(self, room: Room, router: Router) -> None:
        """A worker of the room died. Its peers leave (``room-closed {reason: worker-died}``),
        the others stay, told ``peer-left``; what those peers published was already reported
        closed (``producer-closed``) as their transports closed with the router."""
        if room.closed:
            return
        was_main = room.router is router
        users = room.media.router_lost(router)
        if not room.media.routers:
            self._close_room(room, "worker-died")
            return
        room_info = room_object(room.id, room.created_at)
        for user_id in users:
            peer = room.peers.pop(user_id, None)
            if peer is None:
                continue
            self._drop_peer(room, peer, room_info)
        log.warning("room lost a worker", extra={"room": room.id, "worker": router.worker.pid,
                                                  "peers": len(room.peers), "left": len(users)})  # fmt: skip
        if was_main:
            task = asyncio.get_running_loop().create_task(self._observe_again(room))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _drop_peer(self, room: Room, peer: Peer, room_info: dict[str, Any]) -> None:
        peer.event("room-closed", {"reason": "worker-died"})
        peer.room = None
        peer.close_media()
        room.broadcast("peer-left", {"userId": peer.user_id})
        self.events.emit("participant-left", room=room_info,
                         participant=participant_object(peer.user_id, peer.user_name))  # fmt: skip

    async def _observe_again(self, room: Room) -> None:
        try:
            await room.main_router_changed()
        except Exception as error:  # the room goes on without an active speaker
            log.warning("active speaker not followed after a worker died: %s", error, extra={"room": room.id})

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

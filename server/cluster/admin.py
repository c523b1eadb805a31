"""Admin actions on a room wherever in the cluster their target is: kick a peer, mute / unmute or
close a producer, close the room.

A target on this node is moderated here; one on another node is asked of that node (the room's
link knows where its remote peers and producers are; for a room not on this node, Redis's
per-node hashes say), which runs the same moderation code and answers. So the REST API answers
the same from any node, as LiveKit's RemoveParticipant and MutePublishedTrack do. Closing a room
is a room message (``close``) that every node hosting it applies.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from redis.exceptions import RedisError

from sfuctl.server.media.errors import NotFoundError
from sfuctl.server.signaling.moderation import ModerationNotFound, ProducerTarget
from sfuctl.server.signaling.room import Unavailable

if TYPE_CHECKING:
    from sfuctl.server.cluster.cluster import Cluster
    from sfuctl.server.signaling.moderation import Moderation
    from sfuctl.server.signaling.registry import RoomRegistry

log = logging.getLogger("sfuctl.cluster")

T = TypeVar("T")

ACTIONS = ("kick", "mute", "unmute", "close-producer")


def producer_state(target: ProducerTarget) -> dict[str, Any]:
    """What a mute or unmute answers: the producer's state now."""
    producer_id = target.producer.id
    return {
        "producerId": producer_id,
        "userId": target.peer.user_id,
        "muted": producer_id in target.peer.muted,
        "paused": target.producer.paused,
    }


class ClusterAdmin:
    """The admin API's moderation, across nodes when ``cluster`` is set.

    Raises ``ModerationNotFound`` when no node has the target, ``Unavailable`` when Redis is
    unreachable or the node holding it does not answer."""

    def __init__(self, moderation: Moderation, registry: RoomRegistry, cluster: Cluster | None) -> None:
        self.moderation = moderation
        self.registry = registry
        self.cluster = cluster

    async def kick(self, room_id: str, user_id: str) -> None:
        await self._act("kick", room_id, user_id)

    async def mute(self, room_id: str, producer_id: str) -> dict[str, Any]:
        return await self._act("mute", room_id, producer_id)

    async def unmute(self, room_id: str, producer_id: str) -> dict[str, Any]:
        return await self._act("unmute", room_id, producer_id)

    async def close_producer(self, room_id: str, producer_id: str) -> None:
        await self._act("close-producer", room_id, producer_id)

    async def close_room(self, room_id: str) -> None:
        """Every node hosting the room closes it (``room-closed {reason: "admin"}`` to its peers).
        Without Redis nothing is closed (``Unavailable``): the other nodes could not be told."""
        cluster = self.cluster
        if cluster is None:
            if not self.registry.close(room_id, "admin"):
                raise ModerationNotFound(f"no room {room_id!r}")
            return
        room = self.registry.get(room_id)
        here = room is not None and not room.closed
        others = await self._hosts(room_id) - {cluster.member}
        if not here and not others:
            raise ModerationNotFound(f"no room {room_id!r}")
        if others:
            cluster.publish(room_id, "close", {"reason": "admin"}, [])
        self.registry.close(room_id, "admin")
        log.info("room closed by admin", extra={"room": room_id, "nodes": len(others) + here})

    async def answer(self, data: dict[str, Any]) -> dict[str, Any]:
        """Another node's admin request, run here (never forwarded again)."""
        action, room_id = data.get("action"), data.get("room")
        target = data.get("userId") if action == "kick" else data.get("producerId")
        if action not in ACTIONS or not isinstance(room_id, str) or not isinstance(target, str):
            raise ValueError(f"bad admin request {action!r}")
        try:
            return await self._here(str(action), room_id, target)
        except ModerationNotFound as error:
            raise NotFoundError(str(error)) from None

    async def _here(self, action: str, room_id: str, target: str) -> dict[str, Any]:
        """The action on this node's peers (``ModerationNotFound`` when the target is not here)."""
        if action == "kick":
            self.moderation.kick(room_id, target)
            return {}
        if action == "close-producer":
            self.moderation.close_producer(room_id, target)
            return {}
        act = self.moderation.mute if action == "mute" else self.moderation.unmute
        return producer_state(await act(room_id, target))

    # -- finding the node ------------------------------------------------------------------------

    async def _act(self, action: str, room_id: str, target: str) -> dict[str, Any]:
        """Here if the target is here, else on the node holding it."""
        try:
            return await self._here(action, room_id, target)
        except ModerationNotFound as error:
            kind, field = ("peers", "userId") if action == "kick" else ("producers", "producerId")
            return await self._elsewhere(error, room_id, kind, target, {"action": action, field: target})

    async def _elsewhere(
        self, missing: ModerationNotFound, room_id: str, kind: str, target: str, request: dict[str, Any]
    ) -> dict[str, Any]:
        """Ask the node holding ``target`` (a user or a producer of the room) to act on it;
        ``missing`` (why it is not here) when no node has it."""
        cluster = self.cluster
        if cluster is None:
            raise missing
        member = await self._locate(cluster, room_id, kind, target)
        if member is None:
            raise missing
        try:
            return await cluster.request(member, "admin", {**request, "room": room_id})
        except NotFoundError as error:
            raise ModerationNotFound(str(error)) from None

    async def _locate(self, cluster: Cluster, room_id: str, kind: str, target: str) -> str | None:
        """The member holding ``target``: the room's link knows; without the room here, Redis."""
        link = cluster.links.get(room_id)
        if link is not None:
            found = (link.remote_peer_map if kind == "peers" else link.remote_producer_map).get(target)
            return found.member if found is not None else None
        return await from_redis(cluster, lambda: cluster.holder(room_id, kind, target))

    async def _hosts(self, room_id: str) -> set[str]:
        cluster = self.cluster
        assert cluster is not None
        return await from_redis(cluster, lambda: cluster.hosts(room_id))


async def from_redis(cluster: Cluster, read: Callable[[], Awaitable[T]]) -> T:
    """A read of the cluster's Redis; ``Unavailable`` when it cannot be reached."""
    if not cluster.available:
        raise Unavailable("the cluster's Redis is unreachable; try again shortly")
    try:
        return await read()
    except (RedisError, OSError) as error:
        raise Unavailable(f"the cluster's Redis is unreachable: {error}") from None

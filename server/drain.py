"""Graceful drain on SIGTERM: refuse new joins, tell peers, give them time to leave.

Peers are told first (``room-closed {reason: "shutdown"}``) while their media still flows, so a
client can leave and reconnect elsewhere at its own pace; whoever is still connected at the
deadline is disconnected (1001 going away) and the rooms are closed.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import WSCloseCode

from sfuctl.server.signaling.connection import SignalingService
from sfuctl.server.signaling.registry import RoomRegistry

log = logging.getLogger("sfuctl.server")

POLL_SECONDS = 0.05


async def drain(
    service: SignalingService, registry: RoomRegistry, deadline: float, skip: asyncio.Event | None = None
) -> None:
    """Return when every peer has left, ``deadline`` seconds have passed, or ``skip`` is set."""
    service.draining = True  # upgrades answer 503, /health says "draining", join-room is refused
    rooms = [room for room in registry.all() if not room.closed]
    peers = sum(len(room.peers) for room in rooms)
    log.info("draining: %s peers in %s rooms, waiting up to %ss", peers, len(rooms), deadline)
    for room in rooms:
        room.broadcast("room-closed", {"reason": "shutdown"})
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    # Connections end through many paths (leave, close, heartbeat): polling the map is simplest.
    while service.connections and loop.time() < end and not (skip is not None and skip.is_set()):  # noqa: ASYNC110
        await asyncio.sleep(POLL_SECONDS)
    if service.connections:
        log.info("drain deadline: disconnecting %s peers", len(service.connections))
        await service.drop_all(WSCloseCode.GOING_AWAY, b"shutdown")
    registry.close_all("shutdown")

"""The composition root: the one place where the server's object graph is built from its config.

``Sfu`` owns the worker pool, the room registry, the signaling service, the metrics and the
drain. Adapters only call it: the HTTP layer mounts routes on it, ``serve`` starts and stops it,
the tests start the very same object. New subsystems (TLS, TURN, pipes, the cluster registry,
recording, webhooks) are built here too, each behind a small interface of its own package.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from sfuctl.server.config import ServerConfig
from sfuctl.server.drain import drain
from sfuctl.server.health import health_report
from sfuctl.server.media.pool import WorkerPool
from sfuctl.server.metrics import Metrics
from sfuctl.server.signaling.connection import SignalingService
from sfuctl.server.signaling.moderation import Moderation
from sfuctl.server.signaling.registry import LocalRoomRegistry, RoomRegistry
from sfuctl.server.single_port import SinglePort
from sfuctl.server.webhooks.delivery import WebhookDispatcher
from sfuctl.server.webhooks.events import EventSink, NoEvents

log = logging.getLogger("sfuctl.server")


class Sfu:
    """One sfuctl server's parts, wired together. :meth:`start` before use, :meth:`close` after."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.pool = WorkerPool(config.workers, config.worker)
        self.webhooks = (
            WebhookDispatcher(config.webhook_urls, config.webhook_secret, config.limits)
            if config.webhook_urls
            else None
        )
        self.events: EventSink = self.webhooks or NoEvents()
        self.registry: RoomRegistry = LocalRoomRegistry(
            self.pool,
            grace_seconds=config.limits.room_grace_seconds,
            max_rooms=config.limits.max_rooms,
            events=self.events,
        )
        self.metrics = Metrics(self.pool, self.registry, self.webhooks)
        self.signaling = SignalingService(
            secret=config.secret,
            registry=self.registry,
            limits=config.limits,
            transport_options=config.transport_options(),
            on_request=self.metrics.observe_request,
            events=self.events,
        )
        self.moderation = Moderation(self.signaling, self.registry)
        self.single_port = SinglePort(self.pool, config) if config.webrtc_server_port is not None else None
        self.started_at = time.monotonic()

    @property
    def draining(self) -> bool:
        return self.signaling.draining

    async def start(self) -> None:
        """Start the workers (and their shared ports in single-port mode)."""
        if self.webhooks is not None:
            await self.webhooks.start()
        await self.pool.start()
        if self.single_port is not None:
            await self.single_port.attach_all()
        self.started_at = time.monotonic()

    async def health(self) -> dict[str, Any]:
        rooms = [room for room in self.registry.all() if not room.closed]
        extra = {"rooms": len(rooms), "peers": sum(len(room.peers) for room in rooms)}
        report = await health_report(self.pool, self.started_at, extra)
        if self.draining:
            report["status"] = "draining"
        return report

    async def drain(self, deadline: float | None = None, skip: asyncio.Event | None = None) -> None:
        """Refuse new peers, tell the present ones, and return by ``deadline`` seconds at most."""
        await drain(
            self.signaling, self.registry, self.config.drain_seconds if deadline is None else deadline, skip
        )

    async def close(self) -> None:
        """Close every room and every worker. Idempotent."""
        self.registry.close_all("shutdown")
        await self.pool.close()
        if self.webhooks is not None:
            await self.webhooks.close()  # bounded: the last room-finished events get a moment

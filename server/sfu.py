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

from sfuctl.server.cluster.admin import ClusterAdmin
from sfuctl.server.cluster.cluster import Cluster
from sfuctl.server.cluster.metrics import ClusterCollector
from sfuctl.server.cluster.settings import cluster_settings
from sfuctl.server.config import ServerConfig
from sfuctl.server.drain import drain
from sfuctl.server.health import health_report
from sfuctl.server.media.pool import WorkerPool
from sfuctl.server.metrics import Metrics
from sfuctl.server.recording.manager import RecordingManager
from sfuctl.server.recording.store import recordings_dir
from sfuctl.server.signaling.connection import CLOSE_REPLACED, SignalingService
from sfuctl.server.signaling.moderation import Moderation
from sfuctl.server.signaling.registry import LocalRoomRegistry, RoomRegistry
from sfuctl.server.single_port import SinglePort
from sfuctl.server.tls.context import ReloadingContext
from sfuctl.server.tls.setup import certificate_paths, server_tls
from sfuctl.server.turn.config import WILDCARDS, TurnServerConfig, resolve_addresses
from sfuctl.server.turn.credentials import NO_ICE_SERVERS, IceServers, ice_servers, managed_urls
from sfuctl.server.turn.supervisor import TurnSupervisor
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
        local = LocalRoomRegistry(
            self.pool,
            grace_seconds=config.limits.room_grace_seconds,
            max_rooms=config.limits.max_rooms,
            events=self.events,
            consumers_per_router=config.limits.consumers_per_router,
            spread_cpu_percent=config.limits.spread_cpu_percent,
        )
        self.registry: RoomRegistry = local
        self.cluster = Cluster(cluster_settings(config), self.pool) if config.redis else None
        """This node's part in a cluster (``--redis``); None: a single node."""
        self.turn = TurnSupervisor(turn_server_config(config)) if config.turn.enabled else None
        self.ice_servers = peer_ice_servers(config, self.turn)
        self.recordings = RecordingManager(
            self.registry, config.limits, recordings_dir(config.recordings_dir), events=self.events
        )
        self.metrics = Metrics(self.pool, self.registry, self.turn, self.webhooks, self.recordings)
        if self.cluster is not None:
            local.on_room = self.cluster.attach
            self.cluster.on_replace = self._replaced_elsewhere
            self.metrics.registry.register(ClusterCollector(self.cluster))
        self.signaling = SignalingService(
            secret=config.secret,
            registry=self.registry,
            limits=config.limits,
            transport_options=config.transport_options(),
            on_request=self.metrics.observe_request,
            ice_servers=self.ice_servers,
            events=self.events,
        )
        self.moderation = Moderation(self.signaling, self.registry)
        self.admin = ClusterAdmin(self.moderation, self.registry, self.cluster)
        """The admin API's moderation, on whichever node the target is."""
        if self.cluster is not None:
            self.cluster.on_admin = self.admin.answer
            self.cluster.on_close = self.registry.close
        self.single_port = SinglePort(self.pool, config) if config.webrtc_server_port is not None else None
        self.started_at = time.monotonic()
        self.tls: ReloadingContext | None = None
        """The listener's certificate and context once started, when ``config.tls``."""
        self._tls_watch: asyncio.Task[None] | None = None

    @property
    def draining(self) -> bool:
        return self.signaling.draining

    async def start(self) -> None:
        """The certificate first (a problem with it is found before any worker runs), then the workers
        (and their shared ports in single-port mode), then the TURN server (which serves turns:
        with that certificate)."""
        self.tls = server_tls(self.config)
        if self.tls is not None and self.config.tls_watch_seconds > 0:
            self._tls_watch = asyncio.create_task(self.tls.watch(self.config.tls_watch_seconds))
        if self.webhooks is not None:
            await self.webhooks.start()
        self.recordings.load()
        await self.pool.start()
        if self.single_port is not None:
            await self.single_port.attach_all()
        if self.turn is not None:
            await self.turn.start()
        if self.cluster is not None:
            await self.cluster.start()
        self.started_at = time.monotonic()

    def _replaced_elsewhere(self, room_id: str, user_id: str) -> None:
        """The user joined the room again through another node: this connection goes (4001)."""
        connection = self.signaling.connections.get((room_id, user_id))
        if connection is not None:
            connection.drop(CLOSE_REPLACED, b"replaced")

    async def health(self) -> dict[str, Any]:
        rooms = [room for room in self.registry.all() if not room.closed]
        extra = {"rooms": len(rooms), "peers": sum(len(room.peers) for room in rooms)}
        report = await health_report(self.pool, self.started_at, extra)
        if self.turn is not None:
            report["turn"] = self.turn.status()
            if not self.turn.running and report["status"] == "ok":
                report["status"] = "degraded"
        if self.cluster is not None:
            report["cluster"] = self.cluster.status()
            if not self.cluster.available and report["status"] == "ok":
                report["status"] = "degraded"
        if self.draining:
            report["status"] = "draining"
        return report

    async def drain(self, deadline: float | None = None, skip: asyncio.Event | None = None) -> None:
        """Refuse new peers, tell the present ones, and return by ``deadline`` seconds at most."""
        await drain(
            self.signaling, self.registry, self.config.drain_seconds if deadline is None else deadline, skip
        )

    async def close(self) -> None:
        """Finish the recordings, close every room, every worker and the TURN server. Idempotent."""
        if self._tls_watch is not None:
            self._tls_watch.cancel()
            self._tls_watch = None
        await self.recordings.close()  # bounded; first, so each file is finalised with its media
        self.registry.close_all("shutdown")
        try:
            if self.cluster is not None:
                await self.cluster.close()
            await self.pool.close()
        finally:
            if self.turn is not None:
                await self.turn.close()
            if self.webhooks is not None:
                await self.webhooks.close()  # bounded: the last room-finished events get a moment


def media_addresses(config: ServerConfig) -> list[str]:
    """The SFU's own media addresses: the only peers the TURN relay may reach."""
    names = [a for a in (config.media_address(), config.rtc_listen_ip) if a and a not in WILDCARDS]
    return resolve_addresses(names)


def tls_files(config: ServerConfig) -> tuple[str | None, str | None]:
    """sfuctl's TLS certificate and key (given or generated) when TLS is on: coturn then serves
    turns: with them. A renewed certificate reaches coturn when it restarts."""
    if not config.tls:
        return None, None
    cert, key = certificate_paths(config)
    return str(cert), str(key)


def turn_server_config(config: ServerConfig) -> TurnServerConfig:
    cert, key = tls_files(config)
    peers = media_addresses(config)
    if not peers:
        log.warning(
            "TURN relays to nothing: the announced address %r does not resolve (give an IP address)",
            config.announced_address,
        )
    return TurnServerConfig(
        settings=config.turn,
        peer_addresses=peers,
        user_quota=config.limits.turn_allocations_per_user,
        total_quota=config.limits.turn_allocations,
        tls_cert=cert,
        tls_key=key,
    )


def peer_ice_servers(config: ServerConfig, turn: TurnSupervisor | None) -> IceServers:
    """The managed coturn's URLs at the announced address, then the user's own --ice-server ones."""
    if turn is None and not config.turn.ice_servers:
        return NO_ICE_SERVERS
    managed: list[str] = []
    if turn is not None:
        host = config.media_address() or config.rtc_listen_ip
        managed = managed_urls(host, config.turn.port, config.turn.tls_port if turn.config.tls else None)
    return ice_servers(
        managed, config.turn.ice_servers, config.turn.secret, config.turn.credential_ttl_seconds
    )

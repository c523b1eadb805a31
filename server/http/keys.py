"""Typed keys of what the aiohttp application holds."""

from __future__ import annotations

from aiohttp import web

from sfuctl.server.config import ServerConfig
from sfuctl.server.media.pool import WorkerPool
from sfuctl.server.signaling.connection import SignalingService
from sfuctl.server.signaling.registry import LocalRoomRegistry

POOL: web.AppKey[WorkerPool] = web.AppKey("pool", WorkerPool)
CONFIG: web.AppKey[ServerConfig] = web.AppKey("config", ServerConfig)
REGISTRY: web.AppKey[LocalRoomRegistry] = web.AppKey("registry", LocalRoomRegistry)
SIGNALING: web.AppKey[SignalingService] = web.AppKey("signaling", SignalingService)
STARTED: web.AppKey[float] = web.AppKey("started", float)

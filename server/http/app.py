"""Builds the aiohttp application: REST, docs and the WebSocket endpoint on one port."""

from __future__ import annotations

import time

import orjson
from aiohttp import web

from sfuctl.server.config import ServerConfig
from sfuctl.server.health import health_report
from sfuctl.server.http import keys
from sfuctl.server.media.pool import WorkerPool
from sfuctl.server.metrics import setup_metrics
from sfuctl.server.signaling.connection import SignalingService, websocket_handler
from sfuctl.server.signaling.registry import LocalRoomRegistry
from sfuctl.server.single_port import setup_webrtc_servers


def json_response(data: object, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def error_response(status: int, code: str, message: str) -> web.Response:
    return json_response({"error": {"code": code, "message": message}}, status)


async def get_health(request: web.Request) -> web.Response:
    app = request.app
    registry = app[keys.REGISTRY]
    extra = {
        "rooms": len(registry.rooms),
        "peers": sum(len(room.peers) for room in registry.rooms.values()),
    }
    report = await health_report(app[keys.POOL], app[keys.STARTED], extra)
    if app[keys.SIGNALING].draining:
        report["status"] = "draining"
    return json_response(report)


async def root(request: web.Request) -> web.StreamResponse:
    """WebSocket signaling with an Upgrade header; otherwise the browser client."""
    if request.headers.get("Upgrade", "").lower() == "websocket":
        return await websocket_handler(request, request.app[keys.SIGNALING])
    from sfuctl.server.http.client import serve_client

    return await serve_client(request)


def create_app(pool: WorkerPool, config: ServerConfig) -> web.Application:
    """The pool must be started by the caller; the app closes rooms and the pool on shutdown."""
    app = web.Application(client_max_size=config.limits.max_message_bytes)
    registry = LocalRoomRegistry(pool, grace_seconds=config.limits.room_grace_seconds)
    app[keys.POOL] = pool
    app[keys.CONFIG] = config
    app[keys.REGISTRY] = registry
    app[keys.SIGNALING] = SignalingService(
        secret=config.secret,
        registry=registry,
        limits=config.limits,
        transport_options=config.transport_options(),
    )
    app[keys.STARTED] = time.monotonic()
    app.router.add_get("/", root)
    app.router.add_get("/health", get_health)
    app[keys.SIGNALING].on_request = setup_metrics(app, pool, registry).observe_request
    setup_webrtc_servers(app, pool, config)
    from sfuctl.server.http import client, docs, rest

    client.setup_routes(app)
    rest.setup_routes(app)
    docs.setup_routes(app)

    async def shutdown(_app: web.Application) -> None:
        registry.close_all("shutdown")
        await pool.close()

    app.on_cleanup.append(shutdown)
    return app

"""Builds the aiohttp application and ties the worker pool to its life cycle."""

from __future__ import annotations

import time

import orjson
from aiohttp import web

from server.health import health_report
from server.media.pool import WorkerPool

POOL_KEY: web.AppKey[WorkerPool] = web.AppKey("pool", WorkerPool)
STARTED_KEY: web.AppKey[float] = web.AppKey("started", float)


def json_response(data: object, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


async def get_health(request: web.Request) -> web.Response:
    report = await health_report(request.app[POOL_KEY], request.app[STARTED_KEY], {})
    return json_response(report)


def create_app(pool: WorkerPool) -> web.Application:
    """The pool must be started by the caller; the app closes it on shutdown."""
    app = web.Application()
    app[POOL_KEY] = pool
    app[STARTED_KEY] = time.monotonic()
    app.router.add_get("/health", get_health)

    async def close_pool(_app: web.Application) -> None:
        await pool.close()

    app.on_cleanup.append(close_pool)
    return app

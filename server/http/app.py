"""The HTTP adapter: mounts REST, docs, metrics, the page and the WebSocket on one port.

It builds nothing: every handler reaches the server's parts through the ``Sfu`` it is given.
"""

from __future__ import annotations

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from sfuctl.server.sfu import Sfu
from sfuctl.server.signaling.connection import websocket_handler


def json_response(data: object, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def error_response(status: int, code: str, message: str) -> web.Response:
    return json_response({"error": {"code": code, "message": message}}, status)


def create_app(sfu: Sfu) -> web.Application:
    """The routes of one server. Starting and closing ``sfu`` is its owner's job (see serve)."""
    from sfuctl.server.http import client, docs, headers, rest

    app = web.Application(client_max_size=sfu.config.limits.max_message_bytes)

    async def root(request: web.Request) -> web.StreamResponse:
        """WebSocket signaling with an Upgrade header; otherwise the browser client."""
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await websocket_handler(request, sfu.signaling)
        return await client.serve_client(request)

    async def health(_request: web.Request) -> web.Response:
        return json_response(await sfu.health())

    async def metrics(_request: web.Request) -> web.Response:
        response = web.Response(body=await sfu.metrics.render())
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    app.router.add_get("/", root)
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
    client.setup_routes(app)
    rest.setup_routes(app, sfu)
    docs.setup_routes(app)
    headers.setup(app)
    return app

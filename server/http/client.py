"""The browser client: GET / serves the conference page, GET /static/<file> its assets.

The page's source is in ``web/`` (mediasoup-client bundled by esbuild); the set-up builds it into
``server/static/`` (``index.html``, ``app.js``, ``app.css``), which is generated, not committed.
Without a built page, GET / answers a small landing page that points at the APIs.
"""

from __future__ import annotations

import re
from pathlib import Path

from aiohttp import web

STATIC = Path(__file__).resolve().parent.parent / "static"

ASSET_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$")
"""A flat file name: no directories, no leading dot (so no '..', no hidden files)."""

CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".map": "application/json",
    ".html": "text/html; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}

NO_CACHE = {"Cache-Control": "no-cache"}
"""Revalidate every time (cheap with the ETag/Last-Modified of FileResponse): a rebuilt bundle
is picked up at once, and an old one never pairs with a newer page."""

LANDING = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>sfuctl</title>
<style>body{font:16px system-ui,sans-serif;max-width:40em;margin:4em auto;color:#222}</style></head>
<body><h1>sfuctl</h1><p>This server speaks the sfuctl signaling protocol over WebSocket at
<code>/?token=JWT</code>.</p><p>The conference page is not built: run <code>make setup</code>
(or <code>cd web &amp;&amp; npm ci &amp;&amp; node build.mjs</code>).</p>
<ul><li><a href="/docs">REST API (Swagger UI)</a></li>
<li><a href="/asyncapi">WebSocket protocol (AsyncAPI)</a></li><li><a href="/health">Health</a></li></ul>
</body></html>"""


async def serve_client(request: web.Request) -> web.StreamResponse:
    index = STATIC / "index.html"
    if index.is_file():
        return web.FileResponse(index, headers=NO_CACHE)
    return web.Response(text=LANDING, content_type="text/html")


async def serve_asset(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    path = STATIC / name
    if not ASSET_NAME.fullmatch(name) or not path.is_file():
        raise web.HTTPNotFound()
    headers = dict(NO_CACHE)
    content_type = CONTENT_TYPES.get(path.suffix)
    if content_type is not None:
        headers["Content-Type"] = content_type
    return web.FileResponse(path, headers=headers)


def setup_routes(app: web.Application) -> None:
    """Register GET /static/{name} (the page's bundle). GET / itself is routed by the app."""
    app.router.add_get("/static/{name}", serve_asset)

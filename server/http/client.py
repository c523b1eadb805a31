"""GET / for browsers: the conference page (its bundle is built by the browser-client step)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

STATIC = Path(__file__).resolve().parent.parent / "static"

LANDING = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>sfuctl</title>
<style>body{font:16px system-ui,sans-serif;max-width:40em;margin:4em auto;color:#222}</style></head>
<body><h1>sfuctl</h1><p>This server speaks the sfuctl signaling protocol over WebSocket at
<code>/?token=JWT</code>.</p><ul><li><a href="/docs">REST API (Swagger UI)</a></li>
<li><a href="/asyncapi">WebSocket protocol (AsyncAPI)</a></li><li><a href="/health">Health</a></li></ul>
</body></html>"""


async def serve_client(request: web.Request) -> web.StreamResponse:
    index = STATIC / "index.html"
    if index.exists():
        return web.FileResponse(index)
    return web.Response(text=LANDING, content_type="text/html")

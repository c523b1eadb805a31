"""Browser security headers on every HTTP answer, set just before the headers are sent.

The conference page asks for the camera and the microphone and can carry a token in its URL, so:
its Content-Security-Policy lets it load only our own scripts, styles and images and connect only
to its own origin (in CSP Level 3, ``'self'`` also matches ``ws:``/``wss:`` to the same host and
port, which is the signaling WebSocket); nobody may frame it (clickjacking a camera prompt); no
content-type guessing; and no Referer (a ``?token=`` never leaves in one). Pages with a policy of
their own (``/docs``, the AsyncAPI view) keep it, with ``frame-ancestors 'none'`` added.
"""

from __future__ import annotations

from aiohttp import web

PAGE_CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",  # the favicon is a data: URL
        "media-src 'self' blob:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
"""The policy of the page, its assets and every answer that brings none of its own."""

COMMON = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
}


async def add_security_headers(_request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare`` hook: FileResponses, errors and the WebSocket upgrade included."""
    if response.status == 101:  # a WebSocket upgrade carries no document
        return
    headers = response.headers
    for name, value in COMMON.items():
        headers.setdefault(name, value)
    policy = headers.get("Content-Security-Policy")
    if policy is None:
        headers["Content-Security-Policy"] = PAGE_CSP
    elif "frame-ancestors" not in policy:
        headers["Content-Security-Policy"] = f"{policy}; frame-ancestors 'none'"


def setup(app: web.Application) -> None:
    app.on_response_prepare.append(add_security_headers)
